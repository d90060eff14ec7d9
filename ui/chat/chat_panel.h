#pragma once
// The chat: history above, compose box below (text, image thumbnails, attach,
// Send/Stop). A question goes to the engine as the whole conversation (the
// engine reuses its KV cache for the part it has seen); the answer streams in
// token by token as Markdown. Every finished answer saves the conversation
// (ConversationStore). Problems with what the user is sending — a bad image,
// no model, a busy engine, an answer that failed — are shown inline next to
// the compose box, and nothing typed or attached is lost.
//
// Keys: Ctrl+Enter sends, Esc stops (focus inside the panel), Ctrl+N starts a
// new chat (window-wide: the window's menu should reuse newChatAction()
// rather than define its own Ctrl+N, which Qt would treat as ambiguous).
#include <QPointer>
#include <QTimer>
#include <QWidget>
#include <memory>
#include <optional>

#include "core/engine/request.h"
#include "core/vision/preprocess_config.h"
#include "ui/chat/chat_types.h"
// Also for its Q_DECLARE_METATYPE of SamplingOptions, which the slot below needs.
#include "ui/engine/engine_controller.h"

class QAction;
class QPushButton;
class QToolButton;

namespace ql::engine {
struct GenerationResult;
}

namespace ql::ui {

class AnswerWidget;
class AttachmentStrip;
class ChatHistory;
class ComposeEdit;
class ConversationStore;
class InlineNotice;

class ChatPanel : public QWidget {
  Q_OBJECT
 public:
  explicit ChatPanel(EngineController* engine, QWidget* parent = nullptr);
  ~ChatPanel() override;

  // Where conversations are saved (default ConversationStore::default_root()).
  ConversationStore& store() { return *store_; }
  void setStoreRoot(const QString& root);

  // The conversation on screen (its id is empty until its first answer is saved).
  const ChatConversation& conversation() const { return conversation_; }
  // An answer to the conversation on screen is being written.
  bool generating() const { return pending_ && !pending_->detached && !pending_->discarded; }
  int maxNewTokens() const { return max_new_tokens_; }

  ComposeEdit* composeEdit() const { return compose_; }
  QPushButton* sendButton() const { return send_; }
  QToolButton* attachButton() const { return attach_; }
  ChatHistory* historyView() const { return history_; }
  AttachmentStrip* thumbnailStrip() const { return strip_; }
  InlineNotice* notice() const { return notice_; }
  // The answer being written, or the last one; null when there is none.
  AnswerWidget* lastAnswer() const;

  QAction* newChatAction() const { return new_chat_; }
  QAction* stopAction() const { return stop_; }
  QAction* regenerateAction() const { return regenerate_; }

 public slots:
  void send();
  void newChat();
  void stopGeneration();
  void regenerate();
  void setSystemPrompt(const QString& prompt);
  void setSampling(const ql::engine::SamplingOptions& sampling);
  void setMaxNewTokens(int tokens);
  void addImageFiles(const QStringList& paths);
  void addImage(const QImage& image, const QString& label);
  // Shows a saved conversation; the next question continues it.
  void openConversation(const QString& id);
  // Deletes a saved conversation (its folder); when it is the one shown, a
  // new chat starts. Failures go to errorRaised.
  void deleteConversation(const QString& id);

 signals:
  // Something the inline notice cannot show (e.g. saving failed).
  void errorRaised(const QString& summary, const QString& details);
  void conversationSaved(const QString& id);
  void conversationDeleted(const QString& id);
  // Another conversation is shown ("" for a new chat).
  void conversationOpened(const QString& id);
  void generatingChanged(bool generating);

 protected:
  // Drops on the history or anywhere else in the panel, as on the compose box.
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;

 private:
  // A question (or a regeneration) the engine is answering.
  struct PendingTurn {
    quint64 request_id = 0;
    bool regenerate = false;
    ChatMessage question;                     // what was sent (given back on failure)
    std::optional<ChatMessage> replaced;      // regenerate: the answer it replaces
    QPointer<AnswerWidget> answer;            // null once the chat was left
    QString streamed;
    // Set when the user left this conversation while it was being answered:
    // the answer still lands in it, and it is saved.
    std::optional<ChatConversation> detached;
    bool discarded = false;  // its conversation was deleted: the answer goes nowhere
  };

  void buildUi();
  void connectEngine();
  // Why a question cannot go now (no model, engine busy), or empty.
  QString cannotSendReason() const;
  bool startTurn(PendingTurn turn);
  AnswerWidget* appendAnswer();
  static QImage lastPicture(const QList<ChatMessage>& messages, qsizetype end);
  void onToken(quint64 request_id, const QString& text);
  void onFinished(quint64 request_id, bool ok, const engine::GenerationResult& result, const QString& error);
  void finishDetached(PendingTurn turn, bool ok, const engine::GenerationResult& result, const QString& error);
  void giveBack(const ChatMessage& question);
  void leaveConversation();
  void rebuildHistory();
  void save(ChatConversation& conversation);
  void updateControls();
  const vision::PreprocessConfig& preprocessConfig();
  void addCheckedImages(const QStringList& paths, const QList<QPair<QImage, QString>>& data);

  QPointer<EngineController> engine_;
  std::unique_ptr<ConversationStore> store_;
  ChatConversation conversation_;
  std::optional<PendingTurn> pending_;
  quint64 next_request_id_;
  // Until the first token: "Reading the prompt: 42%" under the empty answer,
  // from the engine's metrics (a big picture can take a minute on the CPU).
  QTimer prefill_timer_;
  void showPrefillProgress();

  QString system_prompt_;
  engine::SamplingOptions sampling_;
  int max_new_tokens_ = 1024;
  int pasted_count_ = 0;  // numbers pasted images: "pasted image 2"
  vision::PreprocessConfig preprocess_;  // the model's, or the published defaults

  ChatHistory* history_ = nullptr;
  InlineNotice* notice_ = nullptr;
  AttachmentStrip* strip_ = nullptr;
  ComposeEdit* compose_ = nullptr;
  QToolButton* attach_ = nullptr;
  QPushButton* send_ = nullptr;
  QAction* new_chat_ = nullptr;
  QAction* stop_ = nullptr;
  QAction* regenerate_ = nullptr;
};

}  // namespace ql::ui
