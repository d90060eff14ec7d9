// The NF4 quant-state JSON (docs/formats.md §6.3) and the Python float formatting
// it needs. Expected strings are what Python 3 prints: repr(x) / json.dumps.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/common/float16.h"
#include "core/quant/nf4_quant_state_json.h"
#include "core/quant/python_float_repr.h"

namespace ql::quant {
namespace {

TEST(QuantPythonFloat, ShortestReprInPythonsLayout) {
  EXPECT_EQ(python_json_float(0.1), "0.1");
  EXPECT_EQ(python_json_float(1.0), "1.0");
  EXPECT_EQ(python_json_float(2.5), "2.5");
  EXPECT_EQ(python_json_float(-0.0), "-0.0");
  EXPECT_EQ(python_json_float(0.0), "0.0");
  EXPECT_EQ(python_json_float(123456789.0), "123456789.0");
  EXPECT_EQ(python_json_float(0.0001), "0.0001");             // decimal point 3 places in: fixed
  EXPECT_EQ(python_json_float(0.00001), "1e-05");             // one more: exponent, 2 digits
  EXPECT_EQ(python_json_float(0.000123), "0.000123");
  EXPECT_EQ(python_json_float(1.5e-7), "1.5e-07");
  EXPECT_EQ(python_json_float(1e15), "1000000000000000.0");   // 16 digits: still fixed
  EXPECT_EQ(python_json_float(1e16), "1e+16");
  EXPECT_EQ(python_json_float(1.25e17), "1.25e+17");
  EXPECT_EQ(python_json_float(1e100), "1e+100");
  EXPECT_EQ(python_json_float(5e-324), "5e-324");
  EXPECT_EQ(python_json_float(1.7976931348623157e308), "1.7976931348623157e+308");
  EXPECT_EQ(python_json_float(-0.007031261920928955), "-0.007031261920928955");
  EXPECT_EQ(python_json_float(std::numeric_limits<double>::infinity()), "Infinity");
  EXPECT_EQ(python_json_float(-std::numeric_limits<double>::infinity()), "-Infinity");
  EXPECT_EQ(python_json_float(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

TEST(QuantPythonFloat, Fp32ValuesShowTheirDoubleExpansion) {
  // float(numpy.float32(x)) in Python: the fp32 value's shortest double repr.
  EXPECT_EQ(python_json_float(static_cast<double>(0.1f)), "0.10000000149011612");
  EXPECT_EQ(python_json_float(static_cast<double>(0.6f)), "0.6000000238418579");
  EXPECT_EQ(python_json_float(static_cast<double>(0.02f)), "0.019999999552965164");
  EXPECT_EQ(python_json_float(static_cast<double>(3.0f)), "3.0");
  EXPECT_EQ(python_json_float(static_cast<double>(1e-5f)), "9.999999747378752e-06");
}

Nf4Weight quantize_ok(const SourceTensor& src) {
  auto r = quantize_nf4(src, 1);
  EXPECT_TRUE(r.ok()) << r.message();
  return r.ok() ? std::move(r).value() : Nf4Weight{};
}

TEST(QuantNf4Json, OneBlockBf16Tensor) {
  // 15 values in one block, absmax 2.5: the offset (mean of one absmax) is 2.5.
  std::vector<uint16_t> v(15, 0x3f80);  // 1.0
  v[9] = 0xc020;                        // -2.5
  const auto w = quantize_ok(SourceTensor::bf16("w", v.data(), 3, 5));
  EXPECT_EQ(nf4_quant_state_json(w),
            "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"bfloat16\", \"shape\": [3, 5], "
            "\"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": 2.5}");
}

TEST(QuantNf4Json, TwoBlocksFp16TensorHasAnFp32Offset) {
  // Block absmax 1.0 and fp16(0.2) = 0.199951171875: mean 0.5999755859375 is
  // exact in fp32, and Python prints that double as is.
  std::vector<uint16_t> v(128, 0x0000);
  v[3] = 0x3c00;     // 1.0 in block 0
  v[100] = 0xb266;   // -0.199951171875 in block 1
  const auto w = quantize_ok(SourceTensor::f16("w", v.data(), 2, 64));
  EXPECT_EQ(nf4_quant_state_json(w),
            "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float16\", \"shape\": [2, 64], "
            "\"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": 0.5999755859375}");
}

TEST(QuantNf4Json, Fp32TensorWithAnInexactMean) {
  // Block absmax 1.0 and fp32(0.2): the mean rounds to fp32(0.6), which Python
  // prints as 0.6000000238418579.
  std::vector<float> v(128, 0.0f);
  v[0] = 1.0f;
  v[127] = 0.2f;
  const auto w = quantize_ok(SourceTensor::f32("w", v.data(), 1, 128));
  EXPECT_EQ(nf4_quant_state_json(w),
            "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float32\", \"shape\": [1, 128], "
            "\"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": 0.6000000238418579}");
}

}  // namespace
}  // namespace ql::quant
