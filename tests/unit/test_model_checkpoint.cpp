// Opening model folders (docs/model.md §2, docs/formats.md §1.2): a single
// model.safetensors, sharded checkpoints with an index, and each way the index
// and the shards can disagree.
#include <gtest/gtest.h>

#include "core/model/checkpoint.h"
#include "tests/unit/model_test_files.h"

namespace ql::model {
namespace {

using nlohmann::json;
using testing::FakeTensor;
using testing::TempDir;
using testing::write_file;
using testing::write_safetensors;
using testing::write_sharded;

const std::vector<FakeTensor> kShard1 = {{"a.weight", {2, 3}}, {"b.weight", {4}, "BF16"}};
const std::vector<FakeTensor> kShard2 = {{"c.weight", {5}}, {"lm_head.weight", {3, 2}}};

void expect_error(const std::string& dir, std::initializer_list<std::string> fragments) {
  auto r = Checkpoint::open(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message().find('\n'), std::string::npos) << r.message();
  for (const auto& f : fragments) EXPECT_NE(r.message().find(f), std::string::npos) << r.message() << "\nmissing: " << f;
}

TEST(Checkpoint, SingleFile) {
  TempDir tmp;
  write_safetensors(tmp.file("model.safetensors"), kShard1);
  auto c = Checkpoint::open(tmp.path());
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->tensor_count(), 2u);
  EXPECT_EQ(c->shards().size(), 1u);
  auto a = c->find("a.weight");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->nbytes, 24u);
  EXPECT_FALSE(c->find("c.weight").has_value());
  auto all = c->tensors();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "a.weight");
  EXPECT_EQ(all[1].name, "b.weight");
}

TEST(Checkpoint, ShardedWithIndex) {
  TempDir tmp;
  write_sharded(tmp.path(), {kShard1, kShard2});
  auto c = Checkpoint::open(tmp.path());
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->shards().size(), 2u);
  EXPECT_EQ(c->tensor_count(), 4u);
  EXPECT_EQ(c->index_total_size(), 0u);
  auto lm = c->find("lm_head.weight");
  ASSERT_TRUE(lm.has_value());
  EXPECT_EQ(lm->nbytes, 24u);
  EXPECT_EQ(std::vector<int64_t>(lm->shape.begin(), lm->shape.end()), (std::vector<int64_t>{3, 2}));
  EXPECT_TRUE(c->find("b.weight").has_value());
}

TEST(Checkpoint, IndexWinsOverASingleFile) {
  TempDir tmp;
  write_sharded(tmp.path(), {kShard1, kShard2});
  write_safetensors(tmp.file("model.safetensors"), {{"other", {1}}});
  auto c = Checkpoint::open(tmp.path());
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->tensor_count(), 4u);
  EXPECT_FALSE(c->find("other").has_value());
}

TEST(Checkpoint, NoWeightsAtAll) {
  TempDir tmp;
  write_file(tmp.file("config.json"), "{}");
  EXPECT_FALSE(Checkpoint::has_weights(tmp.path()));
  expect_error(tmp.path(), {tmp.path() + ": no weights found", "model.safetensors.index.json", "model.safetensors"});

  write_safetensors(tmp.file("model.safetensors"), {});
  EXPECT_TRUE(Checkpoint::has_weights(tmp.path()));
  expect_error(tmp.path(), {tmp.file("model.safetensors") + ": holds no tensors"});

  expect_error(tmp.file("nowhere"), {tmp.file("nowhere") + ": not a folder"});
}

TEST(Checkpoint, MissingShardNamesShardAndATensor) {
  TempDir tmp;
  write_sharded(tmp.path(), {kShard1, kShard2});
  std::filesystem::remove(tmp.file("model-00002-of-00002.safetensors"));
  expect_error(tmp.path(), {tmp.file("model.safetensors.index.json"), "shard \"model-00002-of-00002.safetensors\" not found",
                            "\"c.weight\""});
}

TEST(Checkpoint, TensorListedButAbsentFromItsShard) {
  TempDir tmp;
  write_sharded(tmp.path(), {kShard1, kShard2});
  json index = json::parse(testing::read_file(tmp.file("model.safetensors.index.json")));
  index["weight_map"]["ghost.weight"] = "model-00001-of-00002.safetensors";
  write_file(tmp.file("model.safetensors.index.json"), index.dump());
  expect_error(tmp.path(), {"tensor \"ghost.weight\" is mapped to \"model-00001-of-00002.safetensors\" but absent from it"});
}

TEST(Checkpoint, TensorPresentInADifferentShard) {
  TempDir tmp;
  write_sharded(tmp.path(), {kShard1, kShard2});
  json index = json::parse(testing::read_file(tmp.file("model.safetensors.index.json")));
  index["weight_map"]["c.weight"] = "model-00001-of-00002.safetensors";
  write_file(tmp.file("model.safetensors.index.json"), index.dump());
  expect_error(tmp.path(), {"tensor \"c.weight\" is mapped to \"model-00001-of-00002.safetensors\" but stored in "
                            "model-00002-of-00002.safetensors"});
}

TEST(Checkpoint, TensorInAShardButNotInTheIndex) {
  TempDir tmp;
  write_sharded(tmp.path(), {kShard1, kShard2});
  json index = json::parse(testing::read_file(tmp.file("model.safetensors.index.json")));
  index["weight_map"].erase("b.weight");
  write_file(tmp.file("model.safetensors.index.json"), index.dump());
  expect_error(tmp.path(), {"tensor \"b.weight\" is stored in model-00001-of-00002.safetensors but not listed in the index"});
}

TEST(Checkpoint, SameTensorInTwoShards) {
  TempDir tmp;
  write_sharded(tmp.path(), {kShard1, {{"a.weight", {2, 3}}, {"c.weight", {5}}}});
  expect_error(tmp.path(), {"tensor \"a.weight\" is also stored in"});
}

TEST(Checkpoint, IndexNotJsonOrMalformed) {
  TempDir tmp;
  write_sharded(tmp.path(), {kShard1});
  const std::string index = tmp.file("model.safetensors.index.json");

  write_file(index, "{\"weight_map\": ");
  expect_error(tmp.path(), {index + ": not valid JSON"});

  write_file(index, R"({"metadata": {}})");
  expect_error(tmp.path(), {index + ": weight_map: missing"});

  write_file(index, R"({"weight_map": []})");
  expect_error(tmp.path(), {index + ": weight_map: expected an object, got array"});

  write_file(index, R"({"weight_map": {}})");
  expect_error(tmp.path(), {index + ": weight_map is empty"});

  write_file(index, R"({"weight_map": {"a.weight": 1}})");
  expect_error(tmp.path(), {index + ": weight_map[\"a.weight\"]: expected a shard file name, got integer 1"});

  write_file(index, R"({"weight_map": {"a.weight": "../model-00001-of-00001.safetensors"}})");
  expect_error(tmp.path(), {index + ": weight_map[\"a.weight\"]: shard \"../model-00001-of-00001.safetensors\" must be "
                                    "a file name inside the model folder"});

  write_file(index, R"({"metadata": {"total_size": "big"}, "weight_map": {"a.weight": "x"}})");
  expect_error(tmp.path(), {index + ": metadata.total_size: expected an integer, got string"});
}

TEST(Checkpoint, InvalidShardHeaderNamesTheShard) {
  TempDir tmp;
  write_sharded(tmp.path(), {kShard1, kShard2});
  write_file(tmp.file("model-00002-of-00002.safetensors"), "short");
  expect_error(tmp.path(), {tmp.file("model-00002-of-00002.safetensors") + ": truncated"});
}

}  // namespace
}  // namespace ql::model
