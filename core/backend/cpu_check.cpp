#include "core/backend/cpu_check.h"

#include <cstdio>
#include <cstdlib>

#include <spdlog/spdlog.h>

namespace ql::backend::cpu {

void contract_violation(const std::string& message) {
  spdlog::critical("cpu backend: {}", message);
  // Also straight to stderr: a logger may be configured to drop or buffer.
  std::fprintf(stderr, "cpu backend: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

std::string shape_of(const Tensor& t) { return fmt::format("[{}, {}]", t.rows(), t.cols()); }
std::string shape_of(const Weight& w) { return fmt::format("[{}, {}]", w.rows(), w.cols()); }

}  // namespace ql::backend::cpu
