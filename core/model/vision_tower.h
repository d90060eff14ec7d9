#pragma once
// The vision tower (docs/model.md §6): patch embedding, interpolated learned
// positions, 2-D rotary attention within each image frame, the blocks, the
// final merger and the DeepStack mergers tapped after their blocks.
#include <atomic>
#include <span>
#include <vector>

#include "core/backend/backend.h"
#include "core/common/result.h"
#include "core/model/model_config.h"
#include "core/model/model_weights.h"
#include "core/model/step_progress.h"
#include "core/vision/preprocessed_image.h"

namespace ql::model {

struct VisionOutput {
  backend::TensorPtr merged;                  // [tokens, out_hidden], images in order
  std::vector<backend::TensorPtr> deepstack;  // one per deepstack index, same shape
};

Result<VisionOutput> run_vision_tower(backend::Backend& be, const ModelWeights& w, const VisionConfig& vc,
                                      std::span<const vision::PreprocessedImage> images,
                                      const std::atomic<bool>* cancel, StepProgress* progress = nullptr);

}  // namespace ql::model
