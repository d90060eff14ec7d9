#pragma once
// Checks an image the moment it is added to the compose box, so that a bad
// file is reported at once, next to the compose box, naming the file and the
// reason, instead of failing later at send time: can Qt read it, does it
// decode, has it a size the model's preprocessor accepts (smart_resize).
// Errors start with the file's name (or the pasted image's label).
#include <QImage>
#include <QString>

#include "core/common/result.h"
#include "core/vision/preprocess_config.h"
#include "ui/chat/chat_types.h"

namespace ql::ui {

// The longest side of a stored thumbnail; widgets scale it down further.
inline constexpr int kThumbnailSide = 192;

// A file: decoded once here (to a thumbnail) to prove that it decodes; the
// engine decodes it again on its own thread at send time.
Result<ChatImage> image_from_file(const QString& path, const vision::PreprocessConfig& preprocess);

// Pasted or dropped image data, kept as pixels.
Result<ChatImage> image_from_data(const QImage& image, const QString& label,
                                  const vision::PreprocessConfig& preprocess);

// A thumbnail of a stored image (a reopened conversation); null when the file
// cannot be read.
QImage thumbnail_of_file(const QString& path);

}  // namespace ql::ui
