// Weights that reach the CPU backend already quantized (HostWeight::quantized):
// every op that takes a Weight reads NF4 and 16-bit conversions as exactly the
// values the format decodes to (the same op on an F32 weight holding those
// values gives identical results); INT8 products are LLM.int8's, with the
// backend's outlier threshold; the quantized storage is what the weight owns.
#include <algorithm>
#include <cmath>

#include "core/quant/int8_matmul.h"
#include "core/quant/quantized_weight.h"
#include "core/backend/cpu_weight.h"
#include "core/backend/cpu_weight_decode.h"
#include "tests/unit/test_cpu_helpers.h"

namespace ql::backend::test {
namespace {

using quant::QuantFormat;

std::shared_ptr<const quant::QuantizedWeight> quantized(const std::vector<float>& v, int64_t rows, int64_t cols,
                                                        QuantFormat format, const std::string& name = "q.weight") {
  auto q = quant::quantize(quant::SourceTensor::f32(name, v.data(), rows, cols), format, 1);
  EXPECT_TRUE(q.ok()) << q.message();
  return q.ok() ? std::shared_ptr<const quant::QuantizedWeight>(std::move(q).value()) : nullptr;
}

WeightFormat backend_format(QuantFormat f) {
  switch (f) {
    case QuantFormat::kBF16: return WeightFormat::kBF16;
    case QuantFormat::kF16: return WeightFormat::kF16;
    case QuantFormat::kInt8Rowwise: return WeightFormat::kInt8Rowwise;
    case QuantFormat::kNf4: return WeightFormat::kNF4;
  }
  return WeightFormat::kF32;
}

WeightPtr upload_quantized(Backend& be, const std::shared_ptr<const quant::QuantizedWeight>& q) {
  HostWeight hw;
  hw.target = backend_format(q->format());
  hw.rows = q->rows();
  hw.cols = q->cols();
  hw.quantized = {q};
  hw.name = "q.weight";
  auto r = be.upload_weight(hw, nullptr);
  EXPECT_TRUE(r.ok()) << r.message();
  return r.ok() ? r.value() : nullptr;
}

std::vector<float> decoded(const quant::QuantizedWeight& q) {
  std::vector<float> v(static_cast<size_t>(q.rows() * q.cols()));
  q.decode_rows(0, q.rows(), v.data());
  return v;
}

std::vector<float> linear_out(Backend& be, const Tensor& x, const Weight& w) {
  auto out = poisoned(be, x.rows(), w.rows());
  be.linear(x, w, nullptr, *out, false);
  return read_all(be, *out);
}

// 24 columns: NF4 blocks of 64 run across rows, so row ranges start mid-block.
constexpr int64_t kRows = 40, kCols = 24;

TEST(CpuQuantizedWeights, Nf4AndConvertedWeightsReadAsTheirDecodedValuesInEveryOp) {
  auto be = make_cpu_backend(2);
  HostWeights hw(*be);
  const auto values = random_values(kRows * kCols, 7);
  for (QuantFormat f : {QuantFormat::kNf4, QuantFormat::kF16, QuantFormat::kBF16}) {
    SCOPED_TRACE(quant::quant_format_name(f));
    auto q = quantized(values, kRows, kCols, f);
    auto w = upload_quantized(*be, q);
    auto dense = hw.upload(decoded(*q), kRows, kCols, WeightFormat::kF32);
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->format(), backend_format(f));

    for (int64_t n : {1, 5}) {  // decode (matrix-vector) and prefill (matrix-matrix)
      auto x = tensor_from(*be, n, kCols, random_values(n * kCols, 11));
      EXPECT_EQ(linear_out(*be, *x, *w), linear_out(*be, *x, *dense)) << n << " rows";
    }
    // A row range starting inside a block (vision q/k/v of a fused qkv).
    auto x = tensor_from(*be, 3, kCols, random_values(3 * kCols, 12));
    EXPECT_EQ(linear_out(*be, *x, *be->weight_rows(w, 3, 7)), linear_out(*be, *x, *be->weight_rows(dense, 3, 7)));

    // embed decodes the rows it reads (an int8 or nf4 embedding table).
    auto ids = ids_from(*be, {39, 0, 17, 17});
    auto e1 = poisoned(*be, 4, kCols), e2 = poisoned(*be, 4, kCols);
    be->embed(*ids, *w, *e1);
    be->embed(*ids, *dense, *e2);
    EXPECT_EQ(read_all(*be, *e1), read_all(*be, *e2));

    // add_weighted_rows (the vision position table, interpolated).
    auto idx = ids_from(*be, {1, 2, 38, 39, 5, 6, 7, 8}, 4);
    auto wts = tensor_from(*be, 2, 4, {0.1f, 0.2f, 0.3f, 0.4f, 0.25f, 0.25f, 0.25f, 0.25f});
    auto a1 = tensor_from(*be, 2, kCols, std::vector<float>(2 * kCols, 1.0f));
    auto a2 = tensor_from(*be, 2, kCols, std::vector<float>(2 * kCols, 1.0f));
    be->add_weighted_rows(*w, *idx, *wts, *a1);
    be->add_weighted_rows(*dense, *idx, *wts, *a2);
    EXPECT_EQ(read_all(*be, *a1), read_all(*be, *a2));

    // A norm weight: one row of the matrix.
    auto x1 = tensor_from(*be, 2, kCols, random_values(2 * kCols, 13));
    auto n1 = poisoned(*be, 2, kCols), n2 = poisoned(*be, 2, kCols);
    be->rms_norm(*x1, *be->weight_rows(w, 9, 1), 1e-6f, kCols, *n1);
    be->rms_norm(*x1, *be->weight_rows(dense, 9, 1), 1e-6f, kCols, *n2);
    EXPECT_EQ(read_all(*be, *n1), read_all(*be, *n2));
  }
}

// Three experts of [2I, H] / [H, I] and a router, each either NF4 or F32
// holding the NF4 weights' decoded values: the MoE block gives identical outputs.
TEST(CpuQuantizedWeights, MoeReadsNf4ExpertsAndRouter) {
  auto be = make_cpu_backend(2);
  HostWeights hw(*be);
  const int64_t hidden = 16, inter = 12, experts = 3;
  MoeWeights quant_w, dense_w;
  quant_w.top_k = dense_w.top_k = 2;
  auto add = [&](int64_t rows, int64_t cols, uint32_t seed, WeightPtr& qw, WeightPtr& dw) {
    auto q = quantized(random_values(rows * cols, seed), rows, cols, QuantFormat::kNf4);
    qw = upload_quantized(*be, q);
    dw = hw.upload(decoded(*q), rows, cols, WeightFormat::kF32);
  };
  add(experts, hidden, 20, quant_w.router, dense_w.router);
  // The experts as stacks: NF4 matrices quantized one by one, and their decoded values.
  auto add_stack = [&](int64_t rows, int64_t cols, uint32_t seed, WeightPtr& qw, WeightPtr& dw) {
    HostWeight h;
    h.rows = rows;
    h.cols = cols;
    h.stack = experts;
    h.target = WeightFormat::kNF4;
    h.name = "experts";
    std::vector<std::vector<float>> values;
    for (int64_t e = 0; e < experts; ++e) {
      auto q = quantized(random_values(rows * cols, seed + static_cast<uint32_t>(e)), rows, cols, QuantFormat::kNf4);
      h.quantized.push_back(q);
      values.push_back(decoded(*q));
    }
    auto r = be->upload_weight(h, nullptr);
    ASSERT_TRUE(r.ok()) << r.message();
    qw = *r;
    dw = hw.upload_stack(values, rows, cols, WeightFormat::kF32);
  };
  add_stack(2 * inter, hidden, 21, quant_w.gate_up, dense_w.gate_up);
  add_stack(hidden, inter, 31, quant_w.down, dense_w.down);
  auto x = tensor_from(*be, 6, hidden, random_values(6 * hidden, 40));
  auto o1 = poisoned(*be, 6, hidden), o2 = poisoned(*be, 6, hidden);
  be->moe(*x, quant_w, *o1, false);
  be->moe(*x, dense_w, *o2, false);
  EXPECT_EQ(read_all(*be, *o1), read_all(*be, *o2));
}

// linear with an INT8 weight is the format's own LLM.int8 product (outlier
// columns in fp32, the rest int8), for any split of the work over threads.
// Up to 16 input rows (a decode batch, one row per sequence) each row is its
// own LLM.int8 product, outlier columns chosen from that row alone, so a
// sequence's result does not depend on its batch; more rows (a prompt) are one
// product with the outlier columns of all of them, as bitsandbytes does.
TEST(CpuQuantizedWeights, Int8LinearIsTheLlmInt8Product) {
  const auto values = random_values(kRows * kCols, 8);
  auto q = quantized(values, kRows, kCols, QuantFormat::kInt8Rowwise);
  const auto& stored = *quant::stored_as<quant::Int8RowwiseWeight>(*q);
  for (const int64_t n : {int64_t{5}, int64_t{40}}) {
    auto x_values = random_values(n * kCols, 14, -2.0f, 2.0f);
    x_values[3] = 9.0f;  // column 3 of row 0 holds an outlier (>= 6)
    std::vector<float> want(n * kRows);
    if (n <= 16) {
      for (int64_t i = 0; i < n; ++i)
        ASSERT_TRUE(quant::int8_matmul(x_values.data() + i * kCols, 1, stored, want.data() + i * kRows, {6.0f, 1}).ok());
    } else {
      ASSERT_TRUE(quant::int8_matmul(x_values.data(), n, stored, want.data(), {6.0f, 1}).ok());
    }
    for (int threads : {1, 2, 3}) {
      auto be = make_cpu_backend(threads);
      auto w = upload_quantized(*be, q);
      auto x = tensor_from(*be, n, kCols, x_values);
      EXPECT_EQ(linear_out(*be, *x, *w), want) << n << " rows, " << threads << " threads";
      // A row view multiplies the same rows.
      auto rows = linear_out(*be, *x, *be->weight_rows(w, 10, 4));
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < 4; ++c) EXPECT_EQ(rows[i * 4 + c], want[i * kRows + 10 + c]);
    }
  }
}

// The threshold is the backend's: with one input column far larger than the
// rest, keeping it in fp32 (threshold 6) is much closer to the fp32 product of
// the same weights than quantizing it with the rest (threshold 0), and a
// threshold below every |x| makes the whole product fp32.
TEST(CpuQuantizedWeights, Int8OutlierThresholdIsABackendOption) {
  const auto values = random_values(kRows * kCols, 9);
  auto q = quantized(values, kRows, kCols, QuantFormat::kInt8Rowwise);
  const auto w_dec = decoded(*q);
  auto x_values = random_values(4 * kCols, 15, 0.1f, 1.0f);
  for (int64_t i = 0; i < 4; ++i) x_values[i * kCols + 5] = 50.0f;
  // The fp32 product with the dequantized weights, in double.
  std::vector<double> exact(4 * kRows), scale(4 * kRows);
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t r = 0; r < kRows; ++r)
      for (int64_t c = 0; c < kCols; ++c) {
        exact[i * kRows + r] += double(x_values[i * kCols + c]) * w_dec[r * kCols + c];
        scale[i * kRows + r] += std::abs(double(x_values[i * kCols + c]) * w_dec[r * kCols + c]);
      }
  auto max_error = [&](float threshold) {
    auto be = make_cpu_backend(CpuBackendOptions{2, threshold});
    auto got = linear_out(*be, *tensor_from(*be, 4, kCols, x_values), *upload_quantized(*be, q));
    double m = 0;
    for (size_t i = 0; i < got.size(); ++i) m = std::max(m, std::abs(got[i] - exact[i]));
    return m;
  };
  const double decomposed = max_error(6.0f), all_int8 = max_error(0.0f), all_fp32 = max_error(0.01f);
  std::printf("max |error| vs fp32: threshold 6: %.3g, 0: %.3g, 0.01: %.3g\n", decomposed, all_int8, all_fp32);
  EXPECT_LT(decomposed * 5, all_int8);
  const double largest_scale = *std::max_element(scale.begin(), scale.end());
  EXPECT_LE(all_fp32, 1e-6 * largest_scale);
  EXPECT_GT(decomposed, all_fp32);  // the non-outlier columns were int8
}

TEST(CpuQuantizedWeights, OwnedBytesAreTheQuantizedStorageCountedOnce) {
  auto be = make_cpu_backend(2);
  const size_t before = be->bytes_in_use();
  const auto values = random_values(kRows * kCols, 10);
  // By hand (docs/formats.md §6.2, §6.3): nf4 = 960 / 2 packed + 15 block codes + 1 nested
  // absmax (4) + 16 + 256 map floats; int8 = 960 codes + 40 row scales;
  // fp16 = 2 per value.
  const struct {
    QuantFormat format;
    size_t bytes;
  } cases[] = {{QuantFormat::kNf4, 480 + 15 + 4 + 64 + 1024},
               {QuantFormat::kInt8Rowwise, 960 + 160},
               {QuantFormat::kF16, 1920}};
  for (const auto& c : cases) {
    SCOPED_TRACE(quant::quant_format_name(c.format));
    auto w = upload_quantized(*be, quantized(values, kRows, kCols, c.format));
    EXPECT_EQ(w->owned_bytes(), c.bytes);
    EXPECT_EQ(w->stored_bytes(), c.bytes);
    EXPECT_EQ(be->bytes_in_use(), before + c.bytes);
    auto view = be->weight_rows(w, 2, 5);
    EXPECT_EQ(view->owned_bytes(), 0u);
    EXPECT_EQ(view->stored_bytes(), 0u);
    w.reset();  // the view keeps the storage alive, still counted
    EXPECT_EQ(be->bytes_in_use(), before + c.bytes);
    view.reset();
    EXPECT_EQ(be->bytes_in_use(), before);
  }
}

TEST(CpuQuantizedWeights, UploadErrorsNameTheWeight) {
  auto be = make_cpu_backend(2);
  const auto values = random_values(kRows * kCols, 16);
  auto q = quantized(values, kRows, kCols, QuantFormat::kNf4);
  auto attempt = [&](auto edit) {
    HostWeight hw;
    hw.target = WeightFormat::kNF4;
    hw.rows = kRows;
    hw.cols = kCols;
    hw.quantized = {q};
    hw.name = "layers.3.mlp.experts.down_proj[5]";
    edit(hw);
    auto r = be->upload_weight(hw, nullptr);
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string() : r.message();
  };
  std::string m = attempt([](HostWeight& hw) { hw.target = WeightFormat::kInt8Rowwise; });
  EXPECT_NE(m.find("layers.3.mlp.experts.down_proj[5]"), std::string::npos) << m;
  EXPECT_NE(m.find("INT8"), std::string::npos) << m;
  EXPECT_NE(m.find("NF4"), std::string::npos) << m;
  m = attempt([](HostWeight& hw) {
    hw.rows = kCols;
    hw.cols = kRows;
  });
  EXPECT_NE(m.find("[24, 40]"), std::string::npos) << m;
  EXPECT_NE(m.find("[40, 24]"), std::string::npos) << m;
  m = attempt([&](HostWeight& hw) { hw.data = values.data(); });
  EXPECT_NE(m.find("not both"), std::string::npos) << m;
  m = attempt([](HostWeight& hw) { hw.transposed = true; });
  EXPECT_NE(m.find("transposed"), std::string::npos) << m;
  // Raw bytes cannot claim a quantized source format.
  m = attempt([&](HostWeight& hw) {
    hw.quantized.clear();
    hw.data = values.data();
    hw.source = WeightFormat::kNF4;
  });
  EXPECT_NE(m.find("layers.3.mlp.experts.down_proj[5]: source format NF4 is not a dense float format"),
            std::string::npos)
      << m;
  // A stack needs one quantized matrix per entry.
  m = attempt([](HostWeight& hw) { hw.stack = 2; });
  EXPECT_NE(m.find("1 quantized matrices for a stack of 2"), std::string::npos) << m;
}

// Raw 16-bit source bytes with a quantized target are converted by the
// backend itself (the CPU backend on the host with core/quant): the same bytes
// as quantizing on the host first, for every matrix of a stack.
TEST(CpuQuantizedWeights, SourceBytesAreQuantizedByTheBackend) {
  auto be = make_cpu_backend(2);
  const int64_t stack = 3;
  const auto values = random_values(stack * kRows * kCols, 17);
  std::vector<uint16_t> bf16(values.size());
  for (size_t i = 0; i < values.size(); ++i) bf16[i] = f32_to_bf16(values[i]);
  for (const auto& [target, format] : {std::pair{WeightFormat::kNF4, QuantFormat::kNf4},
                                       std::pair{WeightFormat::kInt8Rowwise, QuantFormat::kInt8Rowwise},
                                       std::pair{WeightFormat::kF16, QuantFormat::kF16}}) {
    HostWeight hw;
    hw.rows = kRows;
    hw.cols = kCols;
    hw.stack = stack;
    hw.source = WeightFormat::kBF16;
    hw.target = target;
    hw.data = bf16.data();
    hw.name = "experts";
    auto w = be->upload_weight(hw, nullptr);
    ASSERT_TRUE(w.ok()) << w.message();
    EXPECT_EQ((*w)->stack(), stack);
    EXPECT_EQ((*w)->format(), target);
    for (int64_t m = 0; m < stack; ++m) {
      auto host = quant::quantize(quant::SourceTensor::bf16("m", bf16.data() + m * kRows * kCols, kRows, kCols),
                                  format, 1);
      ASSERT_TRUE(host.ok()) << host.message();
      const auto& mine = cpu::weight_arg(**w, "test", "w").matrix(m);
      std::vector<float> got(static_cast<size_t>(kRows * kCols));
      cpu::decode_rows(mine, 0, kRows, got.data());
      EXPECT_EQ(got, decoded(**host)) << weight_format_name(target) << " matrix " << m;
      EXPECT_EQ(mine.stored_bytes(), (*host)->stored_bytes());
    }
  }
}

}  // namespace
}  // namespace ql::backend::test
