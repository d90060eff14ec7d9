#pragma once
// The prompts a comparison runs: the built-in set (text-only and image
// questions on the demo pictures), or a JSON file of the user's.
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/common/result.h"
#include "core/engine/compare_request.h"

namespace ql::engine {

// The demo pictures the built-in set asks about (resources/images/).
std::span<const std::string_view> builtin_compare_images();

// Five prompts: two text-only, three about one demo picture each, taken from
// `images_dir` (which must hold builtin_compare_images(); not checked here:
// a missing picture fails the run naming it).
std::vector<ComparePrompt> builtin_compare_prompts(const std::string& images_dir);

// A prompts file: a JSON array of objects, each either
//   {"text": "...", "images": ["a.png", ...], "system": "..."}  (images and system optional)
// or, for models without a tokenizer,
//   {"input_ids": [...], "images": [...]}  (ids with each image's pads expanded).
// Relative image paths are taken from `base_dir` (the file's folder).
// Errors start with `label` and name the item (1-based) and key at fault.
Result<std::vector<ComparePrompt>> parse_compare_prompts(std::string_view json_text, std::string_view label,
                                                         const std::string& base_dir);

// One item of such a file, already parsed as JSON (an evaluation set's items
// are prompts with more keys: eval_set.h). Errors start with `where`.
Result<ComparePrompt> parse_compare_prompt(const nlohmann::json& item, const std::string& where,
                                           const std::string& base_dir);

// Reads and parses a prompts file; its folder is the base of relative image paths.
Result<std::vector<ComparePrompt>> load_compare_prompts(const std::string& path);

}  // namespace ql::engine
