// libFuzzer target: arbitrary bytes as a whole safetensors file. The parser
// must never crash, read outside the buffer or hand out a tensor that does;
// errors must stay one line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = ql::model::parse_safetensors(data, size, "fuzz.safetensors");
  if (!r.ok()) {
    if (r.message().find('\n') != std::string::npos) std::abort();
    return 0;
  }
  for (const auto& t : r->tensors) {
    if (t.offset < r->data_start || t.offset > size || t.nbytes > size - t.offset) std::abort();
    if (static_cast<uint64_t>(t.numel()) * ql::model::dtype_size(t.dtype) != t.nbytes) std::abort();
    if (t.nbytes) {
      // Touch both ends so AddressSanitizer checks the bounds of every view.
      volatile uint8_t first = data[t.offset];
      volatile uint8_t last = data[t.offset + t.nbytes - 1];
      (void)first;
      (void)last;
    }
  }
  return 0;
}
