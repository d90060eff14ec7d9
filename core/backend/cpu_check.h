#pragma once
// Contract checks of the CPU backend. The ops return nothing (a GPU op cannot
// report back mid-graph), so a shape or dtype that breaks the contract is a bug
// in the caller: it is reported with the op and the shapes, then the process
// aborts. Nothing is thrown.
#include <cstdint>
#include <string>

#include <fmt/format.h>

#include "core/backend/backend.h"

namespace ql::backend::cpu {

[[noreturn]] void contract_violation(const std::string& message);

// "[rows, cols]" for messages.
std::string shape_of(const Tensor& t);
std::string shape_of(const Weight& w);

}  // namespace ql::backend::cpu

// QL_CPU_REQUIRE(cond, "fmt", args...): aborts with the formatted message when
// cond is false. Checks are cheap (shapes only) and stay on in Release.
#define QL_CPU_REQUIRE(cond, ...)                                                 \
  do {                                                                            \
    if (!(cond)) ::ql::backend::cpu::contract_violation(fmt::format(__VA_ARGS__)); \
  } while (0)
