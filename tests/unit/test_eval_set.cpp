// Evaluation sets (core/engine/eval_set.h) and their scoring
// (core/engine/eval_score.h): items parse with their expected answer or box
// and bad ones are named; scores of a hand-written comparison report count
// right answers per type, box hits at IoU >= 0.5 and retention against the
// reference.
#include <gtest/gtest.h>

#include "core/engine/eval_score.h"
#include "core/engine/eval_set.h"

#include <filesystem>
#include <map>
#include <variant>

namespace {

using namespace ql::engine;

const char* kSet = R"([
  {"text": "What colour is the square?", "images": ["a.png"], "type": "colour", "answer": "red"},
  {"text": "How many shapes are there?", "images": ["a.png"], "type": "count", "answer": "3"},
  {"text": "Where is the red square?", "images": ["a.png"], "type": "grounding", "box": [100, 100, 300, 300]},
  {"text": "Say hi.", "answer": "hi"}
])";

TEST(EvalSet, ParsesQuestionsAndExpectedAnswers) {
  auto s = parse_eval_set(kSet, "set.json", "/pics");
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(s->items.size(), 4u);
  ASSERT_EQ(s->prompts.size(), 4u);
  EXPECT_EQ(s->items[0].type, "colour");
  EXPECT_EQ(*s->items[0].answer, "red");
  EXPECT_FALSE(s->items[0].box);
  EXPECT_EQ(s->items[2].box, (std::array<double, 4>{100, 100, 300, 300}));
  EXPECT_EQ(s->items[3].type, "other");
  EXPECT_NE(s->prompts[0].label.find("What colour"), std::string::npos);
}

TEST(EvalSet, BadItemsAreNamed) {
  struct Case {
    const char* json;
    const char* says;
  } cases[] = {
      {"[{\"text\": \"q\"}]", "item 1: give exactly one of \"answer\""},
      {"[{\"text\": \"q\", \"answer\": \"a\", \"box\": [1, 2, 3, 4]}]", "item 1: give exactly one"},
      {"[{\"text\": \"q\", \"answer\": \"a\"}, {\"text\": \"q\", \"box\": [1, 2, 3]}]", "item 2: \"box\" must be"},
      {"[{\"text\": \"q\", \"box\": [1, 2, 3, 4000]}]", "outside 0-1000"},
      {"[{\"text\": \"q\", \"box\": [300, 2, 3, 4]}]", "wrong way round"},
      {"[{\"text\": \"q\", \"answer\": 3}]", "\"answer\" must be a string"},
      {"[{\"text\": \"q\", \"answer\": \"a\", \"type\": \"\"}]", "\"type\" must be"},
      {"[{\"text\": \"q\", \"answer\": \"a\", \"colour\": \"x\"}]", "unknown key \"colour\""},
      {"[]", "non-empty JSON array"},
      {"{", "not valid JSON"},
  };
  for (const auto& c : cases) {
    auto s = parse_eval_set(c.json, "set.json", "");
    ASSERT_FALSE(s.ok()) << c.json;
    EXPECT_NE(s.message().find("set.json"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(c.says), std::string::npos) << s.message();
  }
}

PrecisionRow row(const std::string& name, bool reference, std::vector<std::string> answers) {
  PrecisionRow r;
  r.name = name;
  r.reference = reference;
  r.weight_bytes = reference ? 2000 : 1000;
  for (auto& a : answers) {
    PromptOutcome o;
    o.answer = std::move(a);
    r.prompts.push_back(std::move(o));
  }
  return r;
}

TEST(EvalScore, CountsRightAnswersPerTypeAndRetention) {
  auto s = parse_eval_set(kSet, "set.json", "/pics");
  ASSERT_TRUE(s.ok());
  CompareReport report;
  report.precisions.push_back(row("bf16", true,
                                  {"Red.", "Three", "```json\n[{\"bbox_2d\": [110, 100, 300, 310], \"label\": \"red "
                                                    "square\"}]\n```",
                                   "Hi!"}));
  report.precisions.push_back(row("nf4", false, {"red", "4", "[{\"bbox_2d\": [250, 250, 500, 500]}]", "hello"}));
  auto e = score_eval(*s, report);
  ASSERT_TRUE(e.ok()) << e.message();
  ASSERT_EQ(e->rows.size(), 2u);
  const EvalRow& ref = e->rows[0];
  EXPECT_EQ(ref.overall.right, 4);
  EXPECT_EQ(ref.overall.total, 4);
  EXPECT_DOUBLE_EQ(ref.retention, 1.0);
  EXPECT_EQ(ref.boxes, 1);
  // [110,100,300,310] against [100,100,300,300]: intersection 190 x 200, union 40000 + 39900 - 38000.
  EXPECT_NEAR(ref.mean_iou, 38000.0 / 41900.0, 1e-12);
  const EvalRow& q = e->rows[1];
  EXPECT_EQ(q.overall.right, 1);
  EXPECT_EQ(q.by_type.at("colour").right, 1);
  EXPECT_EQ(q.by_type.at("count").right, 0);
  EXPECT_EQ(q.by_type.at("grounding").right, 0);  // IoU 2500 / (62500 + 40000 - 2500): a miss
  EXPECT_NEAR(q.mean_iou, 0.025, 1e-12);
  EXPECT_DOUBLE_EQ(q.retention, 0.25);
  EXPECT_EQ(q.right, (std::vector<bool>{true, false, false, false}));
  EXPECT_EQ(q.weight_bytes, 1000u);
}

TEST(EvalScore, ARowWithTheWrongNumberOfAnswersIsAnError) {
  auto s = parse_eval_set(kSet, "set.json", "/pics");
  ASSERT_TRUE(s.ok());
  CompareReport report;
  report.precisions.push_back(row("bf16", true, {"red"}));
  auto e = score_eval(*s, report);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.message().find("bf16 has 1 answers for 4 questions"), std::string::npos) << e.message();
}

}  // namespace

namespace {

// The demo model's held-out set (tools/make_demo_eval_set.py): it loads, every
// question type is there, and every picture it names exists.
TEST(EvalSet, TheDemoShapesSetLoads) {
  const std::string dir = QL_TEST_DATA "/eval/demo-shapes";
  auto s = load_eval_set(dir + "/set.json");
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_GE(s->items.size(), 300u);
  std::map<std::string, int> types;
  int boxes = 0;
  for (const auto& item : s->items) {
    ++types[item.type];
    boxes += item.box ? 1 : 0;
  }
  for (const char* t : {"shapes", "count", "colour", "position", "describe", "text", "grounding"})
    EXPECT_GT(types[t], 0) << t;
  EXPECT_EQ(boxes, types["grounding"]);
  for (const auto& p : s->prompts) {
    const auto& c = std::get<Conversation>(p.prompt);
    for (const auto& part : c.messages.back().parts)
      if (const auto* im = std::get_if<ImageInput>(&part)) {
        EXPECT_TRUE(std::filesystem::exists(im->path)) << im->path;
      }
  }
}

}  // namespace
