#pragma once
// The saved conversations, newest first (title = the first question, and the
// date), for the side dock. A click reopens one in the chat; Delete (the
// button, the key or the context menu) removes one after a confirmation. The
// list refreshes whenever the chat saves.
#include <QWidget>

class QListWidget;
class QListWidgetItem;
class QPushButton;

namespace ql::ui {

class ChatPanel;

class ConversationList : public QWidget {
  Q_OBJECT
 public:
  explicit ConversationList(ChatPanel* chat, QWidget* parent = nullptr);

  QListWidget* listWidget() const { return list_; }
  QPushButton* deleteButton() const { return delete_; }
  // The id an item stands for.
  static QString idOf(const QListWidgetItem* item);

 public slots:
  void refresh();
  // Asks, then deletes the selected conversation.
  void deleteSelected();

 private:
  void selectId(const QString& id);

  ChatPanel* chat_;
  QListWidget* list_ = nullptr;
  QPushButton* delete_ = nullptr;
};

}  // namespace ql::ui
