#include "ui/main/theme.h"

#include <QApplication>
#include <QStyle>
#include <QStyleFactory>
#include <optional>

namespace ql::ui {
namespace {

struct SystemLook {
  QString style;
  QPalette palette;
};

std::optional<SystemLook>& system_look() {
  static std::optional<SystemLook> look;
  return look;
}

QPalette light_palette() {
  QPalette p;
  p.setColor(QPalette::Window, QColor(0xf3, 0xf3, 0xf3));
  p.setColor(QPalette::WindowText, QColor(0x1f, 0x1f, 0x1f));
  p.setColor(QPalette::Base, Qt::white);
  p.setColor(QPalette::AlternateBase, QColor(0xf7, 0xf7, 0xf7));
  p.setColor(QPalette::Text, QColor(0x1f, 0x1f, 0x1f));
  p.setColor(QPalette::Button, QColor(0xfa, 0xfa, 0xfa));
  p.setColor(QPalette::ButtonText, QColor(0x1f, 0x1f, 0x1f));
  p.setColor(QPalette::ToolTipBase, QColor(0xff, 0xff, 0xe8));
  p.setColor(QPalette::ToolTipText, Qt::black);
  p.setColor(QPalette::PlaceholderText, QColor(0x80, 0x80, 0x80));
  p.setColor(QPalette::Highlight, QColor(0x2a, 0x6f, 0xdb));
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::Link, QColor(0x1a, 0x5f, 0xc8));
  p.setColor(QPalette::Mid, QColor(0xc8, 0xc8, 0xc8));
  for (auto role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText})
    p.setColor(QPalette::Disabled, role, QColor(0x9a, 0x9a, 0x9a));
  return p;
}

QPalette dark_palette() {
  QPalette p;
  p.setColor(QPalette::Window, QColor(0x2b, 0x2b, 0x2e));
  p.setColor(QPalette::WindowText, QColor(0xe6, 0xe6, 0xe6));
  p.setColor(QPalette::Base, QColor(0x1e, 0x1e, 0x20));
  p.setColor(QPalette::AlternateBase, QColor(0x2f, 0x2f, 0x33));
  p.setColor(QPalette::Text, QColor(0xe6, 0xe6, 0xe6));
  p.setColor(QPalette::Button, QColor(0x37, 0x37, 0x3b));
  p.setColor(QPalette::ButtonText, QColor(0xe6, 0xe6, 0xe6));
  p.setColor(QPalette::ToolTipBase, QColor(0x3a, 0x3a, 0x3e));
  p.setColor(QPalette::ToolTipText, QColor(0xe6, 0xe6, 0xe6));
  p.setColor(QPalette::PlaceholderText, QColor(0x8a, 0x8a, 0x8a));
  p.setColor(QPalette::Highlight, QColor(0x3d, 0x7e, 0xe0));
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::Link, QColor(0x6c, 0xa8, 0xff));
  p.setColor(QPalette::Light, QColor(0x45, 0x45, 0x4a));
  p.setColor(QPalette::Midlight, QColor(0x3c, 0x3c, 0x40));
  p.setColor(QPalette::Mid, QColor(0x25, 0x25, 0x28));
  p.setColor(QPalette::Dark, QColor(0x1a, 0x1a, 0x1c));
  p.setColor(QPalette::Shadow, Qt::black);
  for (auto role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText})
    p.setColor(QPalette::Disabled, role, QColor(0x77, 0x77, 0x77));
  return p;
}

}  // namespace

bool palette_is_dark(const QPalette& palette) { return palette.color(QPalette::Window).lightness() < 128; }

void apply_theme(ThemeMode mode) {
  auto& look = system_look();
  if (!look) look = SystemLook{QApplication::style()->name(), QApplication::palette()};
  switch (mode) {
    case ThemeMode::kSystem:
      // Untouched at start; after an override, what the system had.
      if (QApplication::style()->name() != look->style) QApplication::setStyle(look->style);
      if (QApplication::palette() != look->palette) QApplication::setPalette(look->palette);
      return;
    case ThemeMode::kLight:
      QApplication::setStyle(QStyleFactory::create("Fusion"));
      QApplication::setPalette(light_palette());
      return;
    case ThemeMode::kDark:
      QApplication::setStyle(QStyleFactory::create("Fusion"));
      QApplication::setPalette(dark_palette());
      return;
  }
}

bool theme_is_dark() { return palette_is_dark(QApplication::palette()); }

}  // namespace ql::ui
