#pragma once
// Saved conversations on disk, no widgets: one folder per conversation under
// the root (QStandardPaths::AppDataLocation + "/conversations" in the app, a
// temporary folder in tests), holding conversation.json and a copy of every
// image beside it (pasted images as PNG). Every file is written atomically
// (QSaveFile): a crash or a full disk leaves the previous version readable.
#include <QDateTime>
#include <QList>
#include <QString>

#include "core/common/result.h"
#include "ui/chat/chat_types.h"

namespace ql::ui {

// One row of the conversation list.
struct ConversationSummary {
  QString id;
  QString title;
  QDateTime created;
  QDateTime updated;
};

class ConversationStore {
 public:
  explicit ConversationStore(QString root);

  // AppDataLocation + "/conversations".
  static QString default_root();
  // A fresh id: the UTC time (sorts by age) plus random digits (unique).
  static QString new_id();

  const QString& root() const { return root_; }
  QString folder(const QString& id) const;

  // Newest first. A folder whose JSON cannot be read is left out (and logged):
  // one damaged file must not hide the others.
  QList<ConversationSummary> list() const;

  Result<ChatConversation> load(const QString& id) const;

  // Gives the conversation an id when it has none, stamps its dates, copies the
  // images that are not in its folder yet (setting their stored_name and
  // pointing source_path at the copy), writes conversation.json atomically and
  // then deletes files of the folder that no message refers to any more.
  Status save(ChatConversation& conversation);

  Status remove(const QString& id);

 private:
  QString json_path(const QString& id) const;

  QString root_;
};

}  // namespace ql::ui
