#include "ui/chat/conversation_list.h"

#include <QAction>
#include <QHBoxLayout>
#include <QListWidget>
#include <QLocale>
#include <QMessageBox>
#include <QPushButton>
#include <QVBoxLayout>

#include "ui/chat/chat_panel.h"
#include "ui/chat/conversation_store.h"

namespace ql::ui {
namespace {

constexpr int kIdRole = Qt::UserRole;

QString when_text(const QDateTime& updated) {
  return QLocale().toString(updated.toLocalTime(), QLocale::ShortFormat);
}

}  // namespace

ConversationList::ConversationList(ChatPanel* chat, QWidget* parent) : QWidget(parent), chat_(chat) {
  setObjectName("conversationList");
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);

  list_ = new QListWidget(this);
  list_->setObjectName("conversationListView");
  list_->setSelectionMode(QAbstractItemView::SingleSelection);
  list_->setWordWrap(true);
  list_->setContextMenuPolicy(Qt::ActionsContextMenu);
  layout->addWidget(list_, 1);

  auto* buttons = new QHBoxLayout;
  auto* new_chat = new QPushButton(tr("New chat"), this);
  new_chat->setObjectName("newChatButton");
  buttons->addWidget(new_chat);
  buttons->addStretch();
  delete_ = new QPushButton(tr("Delete"), this);
  delete_->setObjectName("deleteConversation");
  delete_->setEnabled(false);
  buttons->addWidget(delete_);
  layout->addLayout(buttons);

  auto* delete_action = new QAction(tr("Delete\u2026"), list_);
  delete_action->setShortcut(QKeySequence::Delete);
  delete_action->setShortcutContext(Qt::WidgetShortcut);
  list_->addAction(delete_action);

  connect(new_chat, &QPushButton::clicked, chat_, &ChatPanel::newChat);
  connect(delete_, &QPushButton::clicked, this, &ConversationList::deleteSelected);
  connect(delete_action, &QAction::triggered, this, &ConversationList::deleteSelected);
  connect(list_, &QListWidget::itemSelectionChanged, this,
          [this] { delete_->setEnabled(!list_->selectedItems().isEmpty()); });
  connect(list_, &QListWidget::itemClicked, this, [this](QListWidgetItem* item) {
    const QString id = idOf(item);
    if (chat_->conversation().id != id) chat_->openConversation(id);
  });
  // A save may be of a conversation no longer shown (an answer that finished
  // after the user moved on): the selection follows the chat, not the save.
  connect(chat_, &ChatPanel::conversationSaved, this, &ConversationList::refresh);
  connect(chat_, &ChatPanel::conversationDeleted, this, &ConversationList::refresh);
  connect(chat_, &ChatPanel::conversationOpened, this, &ConversationList::selectId);
  refresh();
}

QString ConversationList::idOf(const QListWidgetItem* item) { return item ? item->data(kIdRole).toString() : QString(); }

void ConversationList::refresh() {
  list_->clear();
  for (const ConversationSummary& c : chat_->store().list()) {
    auto* item = new QListWidgetItem(QStringLiteral("%1\n%2").arg(c.title, when_text(c.updated)), list_);
    item->setData(kIdRole, c.id);
    item->setToolTip(c.title);
  }
  selectId(chat_->conversation().id);
}

void ConversationList::selectId(const QString& id) {
  list_->clearSelection();
  for (int i = 0; i < list_->count(); ++i) {
    if (idOf(list_->item(i)) == id && !id.isEmpty()) {
      list_->setCurrentRow(i);
      return;
    }
  }
}

void ConversationList::deleteSelected() {
  const QList<QListWidgetItem*> selected = list_->selectedItems();
  if (selected.isEmpty()) return;
  const QString id = idOf(selected.front());
  const QString title = selected.front()->toolTip();

  QMessageBox ask(QMessageBox::Question, tr("Delete conversation"),
                  tr("Delete \u201c%1\u201d and its images? This cannot be undone.").arg(title),
                  QMessageBox::Yes | QMessageBox::Cancel, this);
  ask.setObjectName("confirmDeleteConversation");
  ask.setDefaultButton(QMessageBox::Cancel);
  if (ask.exec() != QMessageBox::Yes) return;

  chat_->deleteConversation(id);
}

}  // namespace ql::ui
