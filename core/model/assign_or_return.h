#pragma once
// QL_ASSIGN_OR_RETURN(lhs, expr): evaluates a Result-returning expression,
// returns its Error from the calling function, else assigns the value to lhs.
// (A candidate for core/common/result.h; kept here until the lead moves it.)
#include "core/common/result.h"

#ifndef QL_ASSIGN_OR_RETURN
#define QL_ASSIGN_CONCAT_INNER_(a, b) a##b
#define QL_ASSIGN_CONCAT_(a, b) QL_ASSIGN_CONCAT_INNER_(a, b)
#define QL_ASSIGN_OR_RETURN(lhs, expr) \
  QL_ASSIGN_OR_RETURN_IMPL_(QL_ASSIGN_CONCAT_(ql_assign_r_, __LINE__), lhs, expr)
#define QL_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.error();              \
  lhs = std::move(tmp).value()
#endif
