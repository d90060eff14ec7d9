#include "ui/main/shortcut_list.h"

#include <QAction>
#include <QMenu>
#include <QMenuBar>

namespace ql::ui {
namespace {

void collect(const QMenu* menu, QList<ShortcutEntry>& out) {
  for (const QAction* a : menu->actions()) {
    if (a->menu()) {
      collect(a->menu(), out);
      continue;
    }
    QString text = a->text();
    QString keys;
    if (const qsizetype tab = text.indexOf('\t'); tab >= 0) {
      keys = text.mid(tab + 1);
      text = text.left(tab);
    }
    const QList<QKeySequence> seqs = a->shortcuts();
    if (!seqs.isEmpty()) {
      QStringList parts;
      for (const QKeySequence& k : seqs) parts << k.toString(QKeySequence::NativeText);
      keys = parts.join(QStringLiteral(", "));
    }
    if (keys.isEmpty()) continue;
    text.remove('&');
    if (text.endsWith(QStringLiteral("..."))) text.chop(3);
    out.append({keys, text});
  }
}

}  // namespace

QList<ShortcutEntry> collect_shortcuts(const QMenuBar* menus) {
  QList<ShortcutEntry> out;
  for (const QAction* a : menus->actions())
    if (a->menu()) collect(a->menu(), out);
  return out;
}

}  // namespace ql::ui
