#pragma once
// Hugging Face checkpoint tensors -> GGUF tensors, as llama.cpp's converter
// maps them for Qwen3-VL-MoE (docs/formats.md §4.2 text, §5.2 mmproj), in the
// converter's order: shard files sorted by name, tensor names sorted within
// each shard, a split tensor's parts in order (gate before up, frame 0
// before frame 1).
#include <map>
#include <string>
#include <vector>

#include "core/common/result.h"
#include "core/io/gguf/tensor_source.h"
#include "core/model/checkpoint.h"
#include "core/model/model_config.h"

namespace ql::io::gguf {

// Every checkpoint tensor in the converter's iteration order.
std::vector<model::TensorView> checkpoint_order(const model::Checkpoint& checkpoint);

// The text model's tensors (vision tensors skipped). `orientation` names the
// layout of each fused expert tensor (from validate_checkpoint). Errors name
// a tensor the converter could not map.
Result<std::vector<MappedTensor>> map_text_tensors(const model::Checkpoint& checkpoint,
                                                   const std::map<std::string, model::ExpertOrientation>& orientation);

// The vision tower's tensors (model.visual.*). deepstack_merger_list.K
// becomes v.deepstack.{deepstack_visual_indexes[K]}.
Result<std::vector<MappedTensor>> map_vision_tensors(const model::Checkpoint& checkpoint,
                                                     const model::VisionConfig& vision);

}  // namespace ql::io::gguf
