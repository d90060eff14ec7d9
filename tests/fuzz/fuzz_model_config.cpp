// libFuzzer target: arbitrary bytes as config.json. Parsing must never crash
// or overflow; an accepted config must yield a schema whose counts fit int64.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/model/model_config.h"
#include "core/model/model_info.h"
#include "core/model/tensor_schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = ql::model::parse_model_config(text, "fuzz/config.json");
  if (!r.ok()) {
    if (r.message().find('\n') != std::string::npos) std::abort();
    return 0;
  }
  const auto schema = ql::model::build_tensor_schema(*r);
  const auto counts = ql::model::count_parameters(schema);
  if (counts.total() <= 0) std::abort();
  (void)ql::model::text_parameters_per_token(r->text, counts);
  return 0;
}
