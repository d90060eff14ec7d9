// The chat template against transformers' apply_chat_template renders
// (tests/data/chat_template/cases.json, made by tools/make_reference.py).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/text/chat_template.h"

namespace {

using ql::text::ChatMessage;
using ql::text::ContentPart;

std::vector<ChatMessage> messages_from_json(const nlohmann::json& j) {
  std::vector<ChatMessage> out;
  for (const auto& m : j) {
    ChatMessage msg;
    msg.role = m.at("role").get<std::string>();
    const auto& c = m.at("content");
    if (c.is_string()) {
      msg.parts.push_back(ContentPart::make_text(c.get<std::string>()));
    } else {
      for (const auto& part : c) {
        if (part.at("type") == "image") {
          msg.parts.push_back(ContentPart::image());
        } else {
          msg.parts.push_back(ContentPart::make_text(part.at("text").get<std::string>()));
        }
      }
    }
    out.push_back(std::move(msg));
  }
  return out;
}

}  // namespace

TEST(ChatTemplateParity, MatchesTransformersOnEveryCase) {
  std::ifstream in(std::string(QL_TEST_DATA) + "/chat_template/cases.json");
  ASSERT_TRUE(in) << "missing tests/data/chat_template/cases.json";
  const auto doc = nlohmann::json::parse(in);
  const auto& cases = doc.at("cases");
  ASSERT_GE(cases.size(), 15u);
  for (const auto& c : cases) {
    const auto messages = messages_from_json(c.at("messages"));
    ql::text::ChatTemplateOptions opt;
    opt.add_generation_prompt = c.at("add_generation_prompt").get<bool>();
    opt.add_vision_id = c.at("add_vision_id").get<bool>();
    auto rendered = ql::text::render_chat(messages, opt);
    ASSERT_TRUE(rendered.ok()) << c.at("name") << ": " << rendered.message();
    EXPECT_EQ(*rendered, c.at("rendered").get<std::string>()) << "case " << c.at("name");
  }
}

TEST(ChatTemplate, RefusesUnknownRoleNamingIt) {
  std::vector<ChatMessage> m{{"user", {ContentPart::make_text("hi")}},
                             {"narrator", {ContentPart::make_text("x")}}};
  auto r = ql::text::render_chat(m);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("narrator"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("message 1"), std::string::npos) << r.message();
}

TEST(ChatTemplate, WithoutGenerationPromptEndsAfterLastTurn) {
  std::vector<ChatMessage> m{{"user", {ContentPart::make_text("hi")}}};
  ql::text::ChatTemplateOptions opt;
  opt.add_generation_prompt = false;
  auto r = ql::text::render_chat(m, opt);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "<|im_start|>user\nhi<|im_end|>\n");
}
