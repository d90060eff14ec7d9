#pragma once
// Core's promise (docs/architecture.md §7): no exception leaves it. Public entry
// points run their work through this, so an allocation failure or a library
// exception becomes an error that says what was being done.
#include <exception>
#include <new>

#include "core/common/result.h"

namespace ql {

template <typename F>
auto no_exceptions(const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return internal_err("{}: out of memory", what);
  } catch (const std::exception& e) {
    return internal_err("{}: {}", what, e.what());
  } catch (...) {
    return internal_err("{}: unknown failure", what);
  }
}

}  // namespace ql
