#pragma once
// Image placeholders in token ids (docs/model.md §5.2): each image is
// <|vision_start|>, then <|image_pad|> once per image token, then
// <|vision_end|>. The ids come from the model's config.json (tiny test
// checkpoints use other ids than the published model).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/common/result.h"
#include "core/model/model_config.h"

namespace ql::engine {

struct ImageTokenIds {
  int32_t image_pad = 0;
  int32_t vision_start = 0;
  int32_t vision_end = 0;
  static ImageTokenIds from(const model::ModelConfig& c) {
    return {static_cast<int32_t>(c.image_token_id), static_cast<int32_t>(c.vision_start_token_id),
            static_cast<int32_t>(c.vision_end_token_id)};
  }
};

// One maximal run of image_pad ids: [pads_begin, pads_end).
struct ImageSpan {
  int64_t pads_begin = 0;
  int64_t pads_end = 0;
  int64_t pad_count() const { return pads_end - pads_begin; }
};

std::vector<ImageSpan> find_image_spans(std::span<const int32_t> ids, const ImageTokenIds& t);

// Widens the k-th placeholder of a tokenized chat prompt (vision_start,
// one image_pad, vision_end) to counts[k] pads. Errors: a different number of
// placeholders than images, or a pad that is not a lone bracketed placeholder.
Result<std::vector<int32_t>> expand_image_pads(std::span<const int32_t> ids, std::span<const int64_t> counts,
                                               const ImageTokenIds& t);

// Checks ids that are already expanded (--input-ids): one pad run per image,
// in order, bracketed by vision_start / vision_end, of exactly counts[k]
// pads. Errors name the image by labels[k] (its file).
Status check_image_pads(std::span<const int32_t> ids, std::span<const int64_t> counts,
                        std::span<const std::string> labels, const ImageTokenIds& t);

}  // namespace ql::engine
