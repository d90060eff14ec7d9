#pragma once
// The keyboard shortcuts Help lists, collected from the menus themselves so
// that the list cannot drift from what the keys do: every action with a
// shortcut, and actions whose keys are handled by a widget (Ctrl+Enter in the
// compose box, Esc) and are only shown in the menu text after a tab.
#include <QList>
#include <QString>

class QMenuBar;

namespace ql::ui {

struct ShortcutEntry {
  QString keys;    // as the platform writes them: "Ctrl+O"
  QString action;  // the menu text without '&' and the tab part
};

QList<ShortcutEntry> collect_shortcuts(const QMenuBar* menus);

}  // namespace ql::ui
