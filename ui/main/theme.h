#pragma once
// Light and dark: by default the app follows the system (the platform
// theme's palette, untouched); View > Theme can force Light or Dark, drawn
// with the Fusion style and a palette of our own. Qt 6.4 has no color-scheme
// API, so "is it dark" is read from the palette: a window colour darker than
// mid-grey.
#include <QPalette>

#include "ui/settings/app_settings.h"

namespace ql::ui {

bool palette_is_dark(const QPalette& palette);

// Applies `mode` to the whole application. The system's style and palette
// are remembered at the first call, so System restores them.
void apply_theme(ThemeMode mode);

// Whether the application is drawn dark now.
bool theme_is_dark();

}  // namespace ql::ui
