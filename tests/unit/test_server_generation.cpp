// A parsed chat completion request becomes the engine's GenerationRequest
// (core/server/generation_from_request.h) and runs on the demo model: text
// and images in order, an undecodable image refused naming its part, the
// server's default length when the request sets none, and greedy requests
// answering the same as the same conversation built by hand.
#include <gtest/gtest.h>

#include <QBuffer>
#include <QImage>
#include <string>

#include <nlohmann/json.hpp>

#include "core/engine/engine.h"
#include "core/server/generation_from_request.h"
#include "tests/unit/engine_test_support.h"
#include "ui/imageio/image_decode.h"

namespace {

using namespace ql::server;
using namespace ql::engine;
using nlohmann::json;

std::string png_base64(int side) {
  QImage im(side, side, QImage::Format_RGB888);
  im.fill(QColor(200, 30, 30));
  QByteArray bytes;
  QBuffer buf(&bytes);
  buf.open(QIODevice::WriteOnly);
  im.save(&buf, "PNG");
  return bytes.toBase64().toStdString();
}

ChatCompletionRequest parsed(const json& body) {
  auto r = parse_chat_completion(body.dump(), {});
  EXPECT_TRUE(std::holds_alternative<ChatCompletionRequest>(r)) << std::get<ApiError>(r).message;
  return std::get<ChatCompletionRequest>(r);
}

TEST(ServerGeneration, ARequestWithAnImageRunsAsTheSameConversationBuiltByHand) {
  const std::string data = "data:image/png;base64," + png_base64(64);
  const json body = {{"model", "demo"},
                     {"temperature", 0},
                     {"max_tokens", 6},
                     {"messages",
                      {{{"role", "system"}, {"content", "Be brief."}},
                       {{"role", "user"},
                        {"content",
                         {{{"type", "image_url"}, {"image_url", {{"url", data}}}},
                          {{"type", "text"}, {"text", "What colour is it?"}}}}}}}};
  auto g = generation_from_request(parsed(body), ql::imageio::decode_image_bytes);
  ASSERT_TRUE(std::holds_alternative<GenerationRequest>(g)) << std::get<ApiError>(g).message;
  GenerationRequest from_server = std::get<GenerationRequest>(std::move(g));
  EXPECT_EQ(from_server.max_new_tokens, 6);
  const auto& conv = std::get<Conversation>(from_server.prompt);
  ASSERT_EQ(conv.messages.size(), 2u);
  ASSERT_EQ(conv.messages[1].parts.size(), 2u);
  const auto& image = std::get<ImageInput>(conv.messages[1].parts[0]);
  ASSERT_TRUE(image.pixels.has_value());
  EXPECT_EQ(image.pixels->width, 64);

  Engine engine(&ql::imageio::decode_image_file);
  ASSERT_TRUE(engine.load(ql::engine::testing::demo_model_dir()).ok());
  from_server.ignore_eos = true;
  auto a = engine.generate(from_server);
  ASSERT_TRUE(a.ok()) << a.message();
  engine.reset_cache();
  GenerationRequest by_hand;
  QImage red(64, 64, QImage::Format_RGB888);
  red.fill(QColor(200, 30, 30));
  by_hand.prompt = Conversation{{Message::system("Be brief."),
                                 Message::user("What colour is it?", {ImageInput::decoded(ql::imageio::to_rgb8(red), "red")})}};
  by_hand.sampling.temperature = 0;
  by_hand.max_new_tokens = 6;
  by_hand.ignore_eos = true;
  auto b = engine.generate(by_hand);
  ASSERT_TRUE(b.ok()) << b.message();
  EXPECT_EQ(a->generated_ids, b->generated_ids);
  EXPECT_EQ(a->generated_ids.size(), 6u);
}

TEST(ServerGeneration, AnImageThatDoesNotDecodeIsRefusedNamingItsPart) {
  const json body = {{"model", "demo"},
                     {"messages",
                      {{{"role", "user"},
                        {"content",
                         {{{"type", "text"}, {"text", "Look:"}},
                          {{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64,AQID"}}}}}}}}}};
  auto g = generation_from_request(parsed(body), ql::imageio::decode_image_bytes);
  ASSERT_TRUE(std::holds_alternative<ApiError>(g));
  const ApiError& e = std::get<ApiError>(g);
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.param, "messages[0].content[1].image_url.url");
  EXPECT_NE(e.message.find("messages[0].content[1].image_url.url: cannot decode image"), std::string::npos)
      << e.message;
}

TEST(ServerGeneration, WithoutALengthTheServersDefaultApplies) {
  auto g = generation_from_request(parsed({{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}),
                                   ql::imageio::decode_image_bytes, 321);
  ASSERT_TRUE(std::holds_alternative<GenerationRequest>(g));
  EXPECT_EQ(std::get<GenerationRequest>(g).max_new_tokens, 321);
}

}  // namespace
