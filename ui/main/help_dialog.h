#pragma once
// Help (F1): how to start (the demo model, getting the real checkpoint,
// precision and memory, chatting with pictures, compare, export, the CLI
// twin) and the keyboard shortcuts, on two tabs. Not modal: it can stay open
// beside the window.
#include <QDialog>
#include <QList>

#include "ui/main/shortcut_list.h"

class QTabWidget;
class QTableWidget;

namespace ql::ui {

class HelpDialog : public QDialog {
  Q_OBJECT
 public:
  enum class Page { kGettingStarted, kShortcuts };
  HelpDialog(const QList<ShortcutEntry>& shortcuts, QWidget* parent = nullptr);

  void showPage(Page page);
  QTableWidget* shortcutTable() const { return table_; }

 private:
  QTabWidget* tabs_ = nullptr;
  QTableWidget* table_ = nullptr;
};

// The getting-started text (HTML), also what the README's GUI section says.
QString getting_started_html();

}  // namespace ql::ui
