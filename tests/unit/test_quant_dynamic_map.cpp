// bitsandbytes' signed 8-bit dynamic map against the values printed in
// docs/formats.md §7.3, and nearest-entry quantization onto it.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/quant/dynamic_map.h"

namespace ql::quant {
namespace {

// docs/formats.md §7.3, indices 0..127 (fp32, ascending; %.9g identifies each fp32 exactly).
const std::vector<float> kSpecNegativeHalf = {
    -0.992968738f, -0.978906274f, -0.96484375f, -0.950781226f, -0.936718762f, -0.922656238f, -0.908593774f,
    -0.89453125f, -0.880468726f, -0.866406262f, -0.852343738f, -0.838281274f, -0.82421875f, -0.810156226f,
    -0.796093762f, -0.782031238f, -0.767968774f, -0.75390625f, -0.739843786f, -0.725781262f, -0.711718738f,
    -0.697656274f, -0.68359375f, -0.669531286f, -0.655468762f, -0.641406238f, -0.627343774f, -0.61328125f,
    -0.599218786f, -0.585156262f, -0.571093738f, -0.557031274f, -0.54296875f, -0.528906226f, -0.514843762f,
    -0.500781238f, -0.486718714f, -0.47265625f, -0.458593726f, -0.444531232f, -0.430468738f, -0.416406214f,
    -0.40234375f, -0.388281226f, -0.374218762f, -0.360156238f, -0.346093714f, -0.33203125f, -0.317968726f,
    -0.303906262f, -0.289843738f, -0.275781244f, -0.26171875f, -0.247656241f, -0.233593747f, -0.219531253f,
    -0.205468744f, -0.19140625f, -0.177343741f, -0.163281247f, -0.149218753f, -0.135156244f, -0.12109375f,
    -0.107031256f, -0.0985937491f, -0.0957812518f, -0.092968747f, -0.0901562423f, -0.0873437524f, -0.0845312476f,
    -0.0817187577f, -0.078906253f, -0.0760937482f, -0.0732812509f, -0.0704687461f, -0.0676562563f, -0.0648437515f,
    -0.0620312504f, -0.0592187531f, -0.0564062484f, -0.0535937548f, -0.05078125f, -0.047968749f, -0.0451562479f,
    -0.0423437469f, -0.0395312496f, -0.0367187485f, -0.0339062475f, -0.0310937501f, -0.0282812472f, -0.0254687481f,
    -0.0226562507f, -0.0198437497f, -0.0170312487f, -0.0142187504f, -0.0114062503f, -0.00971874967f,
    -0.00915624946f, -0.00859375019f, -0.00803124998f, -0.00746874977f, -0.00690625003f, -0.00634375028f,
    -0.00578125007f, -0.00521875033f, -0.00465624966f, -0.00409374991f, -0.00353124971f, -0.00296874996f,
    -0.00240624999f, -0.00184375001f, -0.00128124992f, -0.000943750027f, -0.000831249927f, -0.000718750001f,
    -0.000606250076f, -0.000493749976f, -0.000381249964f, -0.000268750009f, -0.000156249997f, -8.87499991e-05f,
    -6.62500024e-05f, -4.37499984e-05f, -2.12499999e-05f, -7.7499999e-06f, -3.25000019e-06f, -5.50000038e-07f,
    0.0f,
};

TEST(QuantDynamicMap, MatchesTheSpecPrintout) {
  const DynamicMap& map = signed_dynamic_map();
  ASSERT_EQ(kSpecNegativeHalf.size(), 128u);
  for (size_t i = 0; i < 128; ++i) EXPECT_EQ(map[i], kSpecNegativeHalf[i]) << "index " << i;
  // Indices 128..254 are the negations of 126..0; 255 is 1.0.
  for (size_t i = 128; i < 255; ++i) EXPECT_EQ(map[i], -kSpecNegativeHalf[254 - i]) << "index " << i;
  EXPECT_EQ(map[255], 1.0f);
}

TEST(QuantDynamicMap, NearestEntry) {
  const DynamicMap& map = signed_dynamic_map();
  EXPECT_EQ(nearest_dynamic_code(map, 0.0f), 127);
  EXPECT_EQ(nearest_dynamic_code(map, 1.0f), 255);
  EXPECT_EQ(nearest_dynamic_code(map, -1.0f), 0);   // -1 is not in the map: -0.992968738 is nearest
  EXPECT_EQ(nearest_dynamic_code(map, 0.999f), 255);  // 1.0 is nearer than 0.992968738
  EXPECT_EQ(nearest_dynamic_code(map, 0.99f), 254);
  EXPECT_EQ(nearest_dynamic_code(map, -0.5f), 35);    // -0.500781238 (index 35) vs -0.486718714
  EXPECT_EQ(nearest_dynamic_code(map, 0.5f), 219);    // its negation: 254 - 35
  EXPECT_EQ(nearest_dynamic_code(map, -0.49f), 36);   // nearer -0.486718714
  EXPECT_EQ(nearest_dynamic_code(map, 1e-7f), 127);   // nearer 0 than 5.5e-7
  EXPECT_EQ(nearest_dynamic_code(map, 4e-7f), 128);   // nearer 5.5e-7
  for (int i = 0; i < 256; ++i) EXPECT_EQ(nearest_dynamic_code(map, map[i]), i) << "entry " << i;
}

TEST(QuantDynamicMap, ExactTieGoesToTheLowerIndex) {
  const DynamicMap& map = signed_dynamic_map();
  // 0 (index 127) and 5.50000038e-07 (128): their midpoint is half the fp32
  // entry, itself an fp32 number, so both distances are equal exactly.
  const float half = map[128] / 2.0f;
  ASSERT_EQ(half * 2.0f, map[128]);
  EXPECT_EQ(nearest_dynamic_code(map, half), 127);
  EXPECT_EQ(nearest_dynamic_code(map, std::nextafter(half, 1.0f)), 128);
  EXPECT_EQ(nearest_dynamic_code(map, -half), 126);  // -5.5e-7 (126) and 0 (127): lower index wins
  EXPECT_EQ(nearest_dynamic_code(map, std::nextafter(-half, 0.0f)), 127);
}

}  // namespace
}  // namespace ql::quant
