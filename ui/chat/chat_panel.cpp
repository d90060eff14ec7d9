#include "ui/chat/chat_panel.h"

#include <QAction>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QImageReader>
#include <QLabel>
#include <QMimeData>
#include <QPushButton>
#include <QToolButton>
#include <QVBoxLayout>

#include "core/engine/generation_result.h"
#include "ui/chat/answer_stats.h"
#include "ui/chat/answer_widget.h"
#include "ui/chat/attachment_strip.h"
#include "ui/chat/chat_history.h"
#include "ui/chat/chat_request.h"
#include "ui/chat/compose_edit.h"
#include "ui/chat/conversation_store.h"
#include "ui/chat/image_attachment.h"
#include "ui/chat/image_mime.h"
#include "ui/chat/inline_notice.h"
#include "ui/chat/user_message_widget.h"
#include "ui/engine/engine_controller.h"

namespace ql::ui {
namespace {

// Request ids of different panels never meet: each panel starts its own
// range (a stale token of another panel's request must not land here).
quint64 first_request_id() {
  static quint64 next_base = 0;
  next_base += quint64(1) << 32;
  return next_base;
}

QString image_file_filter() {
  QStringList patterns;
  for (const QByteArray& format : QImageReader::supportedImageFormats()) {
    patterns << QStringLiteral("*.%1").arg(QString::fromLatin1(format));
  }
  return QObject::tr("Images (%1);;All files (*)").arg(patterns.join(' '));
}

}  // namespace

ChatPanel::ChatPanel(EngineController* engine, QWidget* parent)
    : QWidget(parent),
      engine_(engine),
      store_(std::make_unique<ConversationStore>(ConversationStore::default_root())),
      next_request_id_(first_request_id()) {
  setObjectName("chatPanel");
  setAcceptDrops(true);
  buildUi();
  connectEngine();
  updateControls();
  prefill_timer_.setInterval(200);
  connect(&prefill_timer_, &QTimer::timeout, this, &ChatPanel::showPrefillProgress);
}

void ChatPanel::showPrefillProgress() {
  if (!pending_ || !pending_->answer || !engine_) {
    prefill_timer_.stop();
    return;
  }
  if (!pending_->streamed.isEmpty()) {  // the answer is coming: back to the widget's own words
    pending_->answer->statsLabel()->setText(tr("Thinking\u2026"));
    prefill_timer_.stop();
    return;
  }
  const engine::Metrics m = engine_->metrics();
  if (m.generated_tokens > 0) return;
  pending_->answer->statsLabel()->setText(
      tr("Reading the prompt (%1 tokens): %2%").arg(m.prompt_tokens).arg(static_cast<int>(100 * m.prefill_fraction)));
}

ChatPanel::~ChatPanel() {
  // An answer still running would report to a panel that is gone.
  if (pending_ && engine_) engine_->stop();  // engine_ is null when the controller went first
}

void ChatPanel::setStoreRoot(const QString& root) { store_ = std::make_unique<ConversationStore>(root); }

void ChatPanel::buildUi() {
  auto* layout = new QVBoxLayout(this);
  history_ = new ChatHistory(this);
  layout->addWidget(history_, 1);

  notice_ = new InlineNotice(this);
  layout->addWidget(notice_);

  strip_ = new AttachmentStrip(this);
  layout->addWidget(strip_);

  auto* row = new QHBoxLayout;
  attach_ = new QToolButton(this);
  attach_->setObjectName("attachButton");
  attach_->setText(tr("Attach\u2026"));
  attach_->setToolTip(tr("Attach images (or drop them here, or paste them with Ctrl+V)"));
  row->addWidget(attach_, 0, Qt::AlignBottom);

  compose_ = new ComposeEdit(this);
  // A few lines high: enough to see a paragraph, the history keeps the room.
  compose_->setFixedHeight(compose_->fontMetrics().lineSpacing() * 4 + 16);
  row->addWidget(compose_, 1);

  send_ = new QPushButton(tr("Send"), this);
  send_->setObjectName("sendButton");
  row->addWidget(send_, 0, Qt::AlignBottom);
  layout->addLayout(row);

  new_chat_ = new QAction(tr("New chat"), this);
  new_chat_->setObjectName("newChatAction");
  new_chat_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_N));
  new_chat_->setShortcutContext(Qt::WindowShortcut);
  addAction(new_chat_);

  stop_ = new QAction(tr("Stop answer"), this);
  stop_->setObjectName("stopAction");
  stop_->setShortcut(QKeySequence(Qt::Key_Escape));
  // Esc means other things elsewhere in the window (closing popups, the
  // compare view's stop): only while the chat has the focus.
  stop_->setShortcutContext(Qt::WidgetWithChildrenShortcut);
  addAction(stop_);

  regenerate_ = new QAction(tr("Regenerate answer"), this);
  regenerate_->setObjectName("regenerateAction");
  addAction(regenerate_);

  connect(new_chat_, &QAction::triggered, this, &ChatPanel::newChat);
  connect(stop_, &QAction::triggered, this, &ChatPanel::stopGeneration);
  connect(regenerate_, &QAction::triggered, this, &ChatPanel::regenerate);
  connect(send_, &QPushButton::clicked, this, [this] { generating() ? stopGeneration() : send(); });
  connect(compose_, &ComposeEdit::sendRequested, this, &ChatPanel::send);
  connect(compose_, &ComposeEdit::filesOffered, this, &ChatPanel::addImageFiles);
  connect(compose_, &ComposeEdit::imageOffered, this, &ChatPanel::addImage);
  connect(attach_, &QToolButton::clicked, this, [this] {
    const QStringList paths = QFileDialog::getOpenFileNames(this, tr("Attach images"), {}, image_file_filter());
    if (!paths.isEmpty()) addImageFiles(paths);
  });
}

void ChatPanel::connectEngine() {
  connect(engine_, &EngineController::tokenArrived, this,
          [this](quint64 id, int, const QString& text) { onToken(id, text); });
  connect(engine_, &EngineController::generationFinished, this, &ChatPanel::onFinished);
  connect(engine_, &EngineController::busyChanged, this, &ChatPanel::updateControls);
}

AnswerWidget* ChatPanel::lastAnswer() const {
  for (int i = history_->count() - 1; i >= 0; --i) {
    if (auto* answer = qobject_cast<AnswerWidget*>(history_->at(i))) return answer;
  }
  return nullptr;
}

// ---- Images ----------------------------------------------------------------

const vision::PreprocessConfig& ChatPanel::preprocessConfig() {
  if (auto info = engine_->modelInfo()) preprocess_ = info->preprocess;
  return preprocess_;
}

void ChatPanel::addCheckedImages(const QStringList& paths, const QList<QPair<QImage, QString>>& data) {
  QStringList problems;
  for (const QString& path : paths) {
    auto image = image_from_file(path, preprocessConfig());
    if (!image) {
      problems << QString::fromStdString(image.message());
      continue;
    }
    strip_->add(*image);
  }
  for (const auto& [pixels, label] : data) {
    auto image = image_from_data(pixels, label, preprocessConfig());
    if (!image) {
      problems << QString::fromStdString(image.message());
      continue;
    }
    strip_->add(*image);
  }
  if (!problems.isEmpty()) {
    notice_->showError((problems.size() == 1 ? tr("This image was not added: %1") : tr("These images were not added:\n%1"))
                           .arg(problems.join('\n')));
  } else if (notice_->isError()) {
    notice_->dismiss();  // the earlier complaint was about another image
  }
}

void ChatPanel::addImageFiles(const QStringList& paths) { addCheckedImages(paths, {}); }

void ChatPanel::addImage(const QImage& image, const QString& label) {
  // Several pasted images would otherwise share one name in the history.
  ++pasted_count_;
  const QString base = label.isEmpty() ? tr("pasted image") : label;
  addCheckedImages({}, {{image, pasted_count_ == 1 ? base : QStringLiteral("%1 %2").arg(base).arg(pasted_count_)}});
}

void ChatPanel::dragEnterEvent(QDragEnterEvent* event) {
  // Folders are left alone so that they reach the window (model folders).
  if (!images_offered_by(event->mimeData()).empty()) {
    event->acceptProposedAction();
  } else {
    event->ignore();
  }
}

void ChatPanel::dropEvent(QDropEvent* event) {
  const OfferedImages offered = images_offered_by(event->mimeData());
  if (offered.empty()) {
    event->ignore();
    return;
  }
  event->acceptProposedAction();
  if (!offered.files.isEmpty()) addImageFiles(offered.files);
  for (const QImage& image : offered.images) addImage(image, tr("dropped image"));
}

// ---- Sending ---------------------------------------------------------------

QString ChatPanel::cannotSendReason() const {
  if (!engine_->modelInfo()) return tr("No model is loaded. Load a model first; your question stays here.");
  if (engine_->busy()) {
    const QString job = engine_->currentJob();
    if (job == QLatin1String("load")) return tr("The model is still loading. Send again when it is ready.");
    if (job == QLatin1String("generate")) return tr("The engine is answering another request. Send again when it is done.");
    return tr("The engine is busy (%1). Send again when it is done, or stop it.").arg(job);
  }
  return {};
}

void ChatPanel::send() {
  if (generating()) {
    notice_->showInfo(tr("An answer is still being written: wait for it, or press Esc to stop it."));
    return;
  }
  const QString text = compose_->toPlainText().trimmed();
  if (text.isEmpty() && strip_->count() == 0) return;
  if (const QString why = cannotSendReason(); !why.isEmpty()) {
    notice_->showError(why);
    return;
  }
  PendingTurn turn;
  turn.question.role = ChatRole::kUser;
  turn.question.text = text;
  turn.question.images = strip_->images();
  if (!startTurn(std::move(turn))) return;
  // Sent: the compose box is free for the next question.
  compose_->clear();
  strip_->takeAll();
}

void ChatPanel::regenerate() {
  if (generating()) return;
  // The last question, with what came after it (its answer) dropped.
  int last_question = -1;
  for (int i = static_cast<int>(conversation_.messages.size()) - 1; i >= 0; --i) {
    if (conversation_.messages[i].role == ChatRole::kUser) {
      last_question = i;
      break;
    }
  }
  if (last_question < 0) return;
  if (const QString why = cannotSendReason(); !why.isEmpty()) {
    notice_->showError(why);
    return;
  }
  PendingTurn turn;
  turn.regenerate = true;
  turn.question = conversation_.messages[last_question];
  if (last_question + 1 < conversation_.messages.size()) turn.replaced = conversation_.messages[last_question + 1];
  // Nothing else changes: the engine keeps the cached prompt and drops the
  // old answer's tokens by itself (the new prompt is a prefix of what it holds).
  startTurn(std::move(turn));
}

bool ChatPanel::startTurn(PendingTurn turn) {
  QList<ChatMessage> messages = conversation_.messages;
  if (turn.regenerate) {
    while (!messages.isEmpty() && messages.back().role == ChatRole::kAssistant) messages.pop_back();
  } else {
    messages.append(turn.question);
  }
  turn.request_id = next_request_id_++;
  QString refusal;
  const auto refused = connect(engine_, &EngineController::jobRefused, this, [&refusal](const QString& why) { refusal = why; });
  const bool accepted = engine_->generate(turn.request_id, chat_request(messages, system_prompt_, sampling_, max_new_tokens_));
  disconnect(refused);
  if (!accepted) {
    notice_->showError(refusal.isEmpty() ? tr("The engine refused the question.") : refusal);
    return false;
  }
  notice_->dismiss();

  if (turn.regenerate) {
    if (turn.replaced) {
      history_->removeLast();
      conversation_.messages.pop_back();
    }
  } else {
    if (conversation_.messages.isEmpty()) conversation_.title = conversation_title(turn.question);
    conversation_.messages.append(turn.question);
    history_->append(new UserMessageWidget(turn.question));
  }
  turn.answer = appendAnswer();
  pending_ = std::move(turn);
  prefill_timer_.start();
  updateControls();
  emit generatingChanged(true);
  return true;
}

QImage ChatPanel::lastPicture(const QList<ChatMessage>& messages, qsizetype end) {
  // The last picture of the latest question before `end` that has one: what
  // a "where is" answer's coordinates refer to.
  for (qsizetype i = end; i-- > 0;) {
    const ChatMessage& m = messages[i];
    if (m.role != ChatRole::kUser || m.images.isEmpty()) continue;
    const ChatImage& image = m.images.back();
    if (!image.pixels.isNull()) return image.pixels;
    QImageReader reader(image.source_path);
    reader.setAutoTransform(true);
    return reader.read();  // null when the file is gone: no drawing
  }
  return {};
}

AnswerWidget* ChatPanel::appendAnswer() {
  auto* answer = new AnswerWidget;
  connect(answer, &AnswerWidget::regenerateRequested, this, &ChatPanel::regenerate);
  history_->append(answer);
  return answer;
}

void ChatPanel::onToken(quint64 request_id, const QString& text) {
  if (!pending_ || pending_->request_id != request_id) return;
  pending_->streamed += text;
  if (pending_->answer) pending_->answer->setStreamingText(pending_->streamed);
}

void ChatPanel::onFinished(quint64 request_id, bool ok, const engine::GenerationResult& result, const QString& error) {
  if (!pending_ || pending_->request_id != request_id) return;
  PendingTurn turn = std::move(*pending_);
  pending_.reset();
  if (turn.discarded) {
    // Nothing to show it in, nothing to save it to.
  } else if (turn.detached) {
    finishDetached(std::move(turn), ok, result, error);
  } else if (!ok) {
    // The question did not get an answer: the turn leaves the history and
    // returns to the compose box, with its images, to be fixed and sent again.
    history_->removeLast();  // the empty answer
    if (turn.regenerate) {
      if (turn.replaced) {
        conversation_.messages.append(*turn.replaced);
        appendAnswer()->setFinished(turn.replaced->text, turn.replaced->stats);
      }
      notice_->showError(tr("The answer could not be regenerated: %1").arg(error));
    } else {
      history_->removeLast();  // the question
      conversation_.messages.pop_back();
      if (conversation_.messages.isEmpty()) conversation_.title.clear();
      giveBack(turn.question);
      notice_->showError(tr("The question could not be answered: %1\nIt is back in the compose box.").arg(error));
    }
  } else {
    ChatMessage answer{ChatRole::kAssistant, QString::fromStdString(result.text), {}, answer_stats(result)};
    if (turn.answer) {
      turn.answer->setFinished(answer.text, answer.stats);
      const auto& messages = conversation_.messages;  // the question is the last one
      turn.answer->showGrounding([&messages] { return lastPicture(messages, messages.size()); });
    }
    conversation_.messages.append(answer);
    save(conversation_);
  }
  updateControls();
  if (!turn.detached && !turn.discarded) emit generatingChanged(false);
}

void ChatPanel::finishDetached(PendingTurn turn, bool ok, const engine::GenerationResult& result, const QString& error) {
  ChatConversation& left = *turn.detached;
  if (ok) {
    left.messages.append({ChatRole::kAssistant, QString::fromStdString(result.text), {}, answer_stats(result)});
    save(left);
    return;
  }
  if (!turn.regenerate) {
    // The unanswered question of a conversation no longer shown: keep the
    // rest of it, and give the question back.
    left.messages.pop_back();
    if (!left.messages.isEmpty()) save(left);
    giveBack(turn.question);
    notice_->showError(tr("The question could not be answered: %1\nIt is back in the compose box.").arg(error));
  }
}

void ChatPanel::giveBack(const ChatMessage& question) {
  // Whatever was typed meanwhile stays, after the question given back.
  const QString typed = compose_->toPlainText();
  compose_->setPlainText(typed.trimmed().isEmpty() ? question.text : question.text + "\n\n" + typed);
  QList<ChatImage> waiting = strip_->takeAll();
  for (const ChatImage& image : question.images) strip_->add(image);
  for (const ChatImage& image : waiting) strip_->add(image);
  compose_->moveCursor(QTextCursor::End);
}

void ChatPanel::stopGeneration() {
  if (generating()) engine_->stop();
}

// ---- Conversations ---------------------------------------------------------

void ChatPanel::leaveConversation() {
  if (pending_ && !pending_->detached) {
    // Its answer still arrives; it is saved with the conversation it belongs to.
    engine_->stop();
    pending_->detached = conversation_;
    pending_->answer = nullptr;
    emit generatingChanged(false);
  }
  history_->clear();
  notice_->dismiss();
  // The next conversation shares nothing with this one; queued behind a
  // running answer, so it never cuts one short.
  engine_->resetCache();
}

void ChatPanel::newChat() {
  leaveConversation();
  conversation_ = ChatConversation{};
  updateControls();
  emit conversationOpened(QString());
}

void ChatPanel::openConversation(const QString& id) {
  auto loaded = store_->load(id);
  if (!loaded) {
    emit errorRaised(tr("Could not open the conversation"), QString::fromStdString(loaded.message()));
    return;
  }
  leaveConversation();
  conversation_ = std::move(loaded).value();
  rebuildHistory();
  updateControls();
  emit conversationOpened(conversation_.id);
}

void ChatPanel::deleteConversation(const QString& id) {
  const Status removed = store_->remove(id);
  if (!removed) {
    emit errorRaised(tr("Could not delete the conversation"), QString::fromStdString(removed.message()));
    return;
  }
  if (conversation_.id == id) {
    // Answering into a deleted conversation would bring it back.
    if (pending_ && !pending_->detached) engine_->stop();
    newChat();
    if (pending_ && pending_->detached && pending_->detached->id == id) pending_->discarded = true;
  }
  emit conversationDeleted(id);
}

void ChatPanel::rebuildHistory() {
  history_->clear();
  for (qsizetype i = 0; i < conversation_.messages.size(); ++i) {
    const ChatMessage& m = conversation_.messages[i];
    if (m.role == ChatRole::kUser) {
      history_->append(new UserMessageWidget(m));
      continue;
    }
    AnswerWidget* answer = appendAnswer();
    answer->setFinished(m.text, m.stats);
    answer->showGrounding([this, i] { return lastPicture(conversation_.messages, i); });
  }
}

void ChatPanel::save(ChatConversation& c) {
  c.system_prompt = system_prompt_;
  const Status saved = store_->save(c);
  if (!saved) {
    emit errorRaised(tr("Could not save the conversation"), QString::fromStdString(saved.message()));
    return;
  }
  emit conversationSaved(c.id);
}

// ---- Settings and state ------------------------------------------------------

void ChatPanel::setSystemPrompt(const QString& prompt) { system_prompt_ = prompt; }

void ChatPanel::setSampling(const engine::SamplingOptions& sampling) { sampling_ = sampling; }

void ChatPanel::setMaxNewTokens(int tokens) { max_new_tokens_ = std::max(1, tokens); }

void ChatPanel::updateControls() {
  const bool running = generating();
  send_->setText(running ? tr("Stop") : tr("Send"));
  send_->setToolTip(running ? tr("Stop the answer (Esc)") : tr("Send the question (Ctrl+Enter)"));
  stop_->setEnabled(running);
  const bool has_answer = !conversation_.messages.isEmpty() && conversation_.messages.back().role == ChatRole::kAssistant;
  regenerate_->setEnabled(!running && has_answer);
  AnswerWidget* last = lastAnswer();
  for (QWidget* w : history_->messages()) {
    if (auto* answer = qobject_cast<AnswerWidget*>(w)) answer->setRegenerateVisible(answer == last && !running && has_answer);
  }
}

}  // namespace ql::ui
