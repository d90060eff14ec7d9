#pragma once
// A double written as Python's json.dumps writes a float: repr() for finite
// values (the shortest digits that round-trip, fixed notation unless the
// exponent is below -4 or above 15, e.g. "0.1", "1.0", "1e-05", "1e+16"),
// "NaN", "Infinity" and "-Infinity" otherwise.
#include <string>

namespace ql::quant {

std::string python_json_float(double value);

}  // namespace ql::quant
