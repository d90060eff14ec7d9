#pragma once
// Where the app finds what it ships: the demo model and the demo pictures
// (the tokenizer: core/text/tokenizer_location.h). Each is looked up, first match wins, in
//   1. $QUANTLENS_RESOURCES (a resources folder: demo-model/, images/),
//   2. <executable>/../share/quantlens (the .deb's layout: demo-model/,
//      resources/images/, tokenizer.json),
//   3. the source tree this file was compiled from (a build tree).
#include <QString>

namespace ql::ui {

// The demo model folder; empty when none of the places has one.
QString demo_model_dir();
// The demo pictures (shapes.png, bar_chart.png, stop_sign.png, ...); empty when not found.
QString demo_images_dir();
// True when `dir` is the demo model folder (the window then says its answers are noise).
bool is_demo_model(const QString& dir);

}  // namespace ql::ui
