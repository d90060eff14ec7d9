// Stored bytes per format, by hand from the format definitions, checked also
// against what quantize() really stores; and the matrices the loader makes of
// each schema tensor (experts per expert in [out, in], the vision qkv split).
#include <gtest/gtest.h>

#include <vector>

#include "core/model/tensor_schema.h"
#include "core/quant/quantized_weight.h"
#include "core/quant/weight_storage.h"
#include "tests/unit/test_quant_reference.h"

namespace ql::quant {
namespace {

using model::Component;
using model::TensorKind;
using model::TensorSpec;

TEST(QuantPlanStorage, OneExpertDownMatrixByHand) {
  // [2048, 768]: n = 1,572,864 elements.
  // NF4: n/2 = 786,432 packed bytes; n/64 = 24,576 absmax codes; ceil(24,576/256) = 96
  // nested fp32 absmax = 384 bytes; quant map 16 * 4 = 64; nested map 256 * 4 = 1,024.
  EXPECT_EQ(matrix_storage_bytes(QuantFormat::kNf4, 2048, 768), 786'432u + 24'576u + 384u + 64u + 1'024u);
  // INT8: one byte per element + one fp32 scale per row (2048 rows).
  EXPECT_EQ(matrix_storage_bytes(QuantFormat::kInt8Rowwise, 2048, 768), 1'572'864u + 2048u * 4u);
  EXPECT_EQ(matrix_storage_bytes(QuantFormat::kBF16, 2048, 768), 3'145'728u);
  EXPECT_EQ(matrix_storage_bytes(QuantFormat::kF16, 2048, 768), 3'145'728u);
}

TEST(QuantPlanStorage, Nf4RoundsPartialBlocksUp) {
  // 15 elements: 8 packed bytes (one padding nibble), 1 block, 1 nested absmax.
  EXPECT_EQ(matrix_storage_bytes(QuantFormat::kNf4, 3, 5), 8u + 1u + 4u + 1'088u);
  // 300 x 70 = 21,000 elements: 10,500 packed, ceil(21,000/64) = 329 blocks, ceil(329/256) = 2 nested.
  EXPECT_EQ(matrix_storage_bytes(QuantFormat::kNf4, 300, 70), 10'500u + 329u + 8u + 1'088u);
  // INT8 scales count rows, not blocks.
  EXPECT_EQ(matrix_storage_bytes(QuantFormat::kInt8Rowwise, 300, 70), 21'000u + 1'200u);
}

TEST(QuantPlanStorage, AgreesWithWhatQuantizeStores) {
  const struct {
    int64_t rows, cols;
  } shapes[] = {{3, 5}, {64, 129}, {300, 70}, {1, 16'385}};
  for (const auto& s : shapes) {
    const auto v = testing::normal_values(static_cast<size_t>(s.rows * s.cols), 0.05f, 7);
    const auto src = SourceTensor::f32("w", v.data(), s.rows, s.cols);
    for (QuantFormat f : {QuantFormat::kBF16, QuantFormat::kF16, QuantFormat::kInt8Rowwise, QuantFormat::kNf4}) {
      auto w = quantize(src, f, 1);
      ASSERT_TRUE(w.ok()) << w.message();
      EXPECT_EQ(matrix_storage_bytes(f, s.rows, s.cols), (*w)->stored_bytes())
          << quant_format_name(f) << " [" << s.rows << ", " << s.cols << "]";
    }
  }
}

TEST(QuantPlanStorage, FusedExpertsBecomeOneOutByInMatrixPerExpert) {
  const TensorSpec gate_up{"model.language_model.layers.0.mlp.experts.gate_up_proj", {128, 2048, 1536},
                           Component::kExperts, TensorKind::kExpertGateUp};
  const TensorSpec down{"model.language_model.layers.0.mlp.experts.down_proj", {128, 768, 2048},
                        Component::kExperts, TensorKind::kExpertDown};
  EXPECT_EQ(storage_shape(gate_up), (StorageShape{128, 1536, 2048}));
  EXPECT_EQ(storage_shape(down), (StorageShape{128, 2048, 768}));
  // INT8 row scales follow the [out, in] rows: 1536 per gate_up, 2048 per down.
  EXPECT_EQ(tensor_storage_bytes(QuantFormat::kInt8Rowwise, gate_up), 128u * (1536u * 2048u + 1536u * 4u));
  EXPECT_EQ(tensor_storage_bytes(QuantFormat::kInt8Rowwise, down), 128u * (2048u * 768u + 2048u * 4u));
}

TEST(QuantPlanStorage, VisionQkvIsThreeMatrices) {
  const TensorSpec w{"model.visual.blocks.0.attn.qkv.weight", {3456, 1152}, Component::kVision};
  const TensorSpec b{"model.visual.blocks.0.attn.qkv.bias", {3456}, Component::kVision};
  EXPECT_EQ(storage_shape(w), (StorageShape{3, 1152, 1152}));
  EXPECT_EQ(storage_shape(b), (StorageShape{3, 1, 1152}));
  // Three NF4 matrices of 1,327,104 elements: 663,552 packed, 20,736 codes, 81 nested each.
  EXPECT_EQ(tensor_storage_bytes(QuantFormat::kNf4, w), 3u * (663'552u + 20'736u + 81u * 4u + 1'088u));
  EXPECT_EQ(tensor_storage_bytes(QuantFormat::kBF16, b), 3456u * 2u);
}

TEST(QuantPlanStorage, VectorsAndConvolutionsFlattenToRows) {
  const TensorSpec conv{"model.visual.patch_embed.proj.weight", {1152, 3, 2, 16, 16}, Component::kVision};
  const TensorSpec norm{"model.language_model.norm.weight", {2048}, Component::kTextNorms};
  EXPECT_EQ(storage_shape(conv), (StorageShape{1, 1152, 1536}));
  EXPECT_EQ(storage_shape(norm), (StorageShape{1, 1, 2048}));
  EXPECT_EQ(tensor_storage_bytes(QuantFormat::kBF16, conv), 1152u * 1536u * 2u);
}

}  // namespace
}  // namespace ql::quant
