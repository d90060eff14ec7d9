// Where the tokenizer comes from: model folder, then $QUANTLENS_TOKENIZER,
// then the compiled-in default; errors say where we looked.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/text/tokenizer_location.h"

namespace {

namespace fs = std::filesystem;
using ql::text::locate_tokenizer;
using ql::text::TokenizerSearch;

std::string make_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/pid" + std::to_string(::getpid()) + "_tokloc_" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string touch(const std::string& path) {
  std::ofstream(path) << "{}";
  return path;
}

TEST(TokenizerLocation, ModelFolderWins) {
  const std::string dir = make_dir("model");
  const std::string own = touch(dir + "/tokenizer.json");
  const std::string other = touch(make_dir("env") + "/t.json");
  auto found = locate_tokenizer(TokenizerSearch{dir, other, other});
  ASSERT_TRUE(found.ok()) << found.message();
  EXPECT_EQ(*found, own);
}

TEST(TokenizerLocation, EnvironmentWhenTheFolderHasNone) {
  const std::string dir = make_dir("empty_model");
  const std::string env = touch(make_dir("env2") + "/t.json");
  auto found = locate_tokenizer(TokenizerSearch{dir, env, "/nonexistent/default.json"});
  ASSERT_TRUE(found.ok()) << found.message();
  EXPECT_EQ(*found, env);
}

TEST(TokenizerLocation, DefaultLast) {
  const std::string def = touch(make_dir("default") + "/tokenizer.json");
  auto found = locate_tokenizer(TokenizerSearch{std::nullopt, std::nullopt, def});
  ASSERT_TRUE(found.ok()) << found.message();
  EXPECT_EQ(*found, def);
  // An empty variable counts as unset.
  auto found2 = locate_tokenizer(TokenizerSearch{std::nullopt, std::string(), def});
  ASSERT_TRUE(found2.ok()) << found2.message();
  EXPECT_EQ(*found2, def);
}

// An installed package has no build tree: the copy beside the executable is used.
TEST(TokenizerLocation, InstalledCopyWhenTheDefaultIsMissing) {
  const std::string installed = touch(make_dir("installed") + "/tokenizer.json");
  TokenizerSearch search{std::nullopt, std::nullopt, "/nonexistent/default.json"};
  search.installed_path = installed;
  auto found = locate_tokenizer(search);
  ASSERT_TRUE(found.ok()) << found.message();
  EXPECT_EQ(*found, installed);
  // The build tree's default still wins where it exists.
  search.default_path = touch(make_dir("default3") + "/tokenizer.json");
  found = locate_tokenizer(search);
  ASSERT_TRUE(found.ok()) << found.message();
  EXPECT_EQ(*found, search.default_path);
  // Neither: the message names both places.
  search.default_path = "/nonexistent/default.json";
  search.installed_path = "/nonexistent/share/quantlens/tokenizer.json";
  found = locate_tokenizer(search);
  ASSERT_FALSE(found.ok());
  EXPECT_NE(found.message().find("/nonexistent/share/quantlens/tokenizer.json"), std::string::npos)
      << found.message();
}

TEST(TokenizerLocation, NothingFoundSaysWhereItLooked) {
  const std::string dir = make_dir("bare");
  auto found = locate_tokenizer(TokenizerSearch{dir, std::nullopt, "/nonexistent/default.json"});
  ASSERT_FALSE(found.ok());
  const std::string& m = found.message();
  EXPECT_NE(m.find(dir + "/tokenizer.json"), std::string::npos) << m;
  EXPECT_NE(m.find("QUANTLENS_TOKENIZER"), std::string::npos) << m;
  EXPECT_NE(m.find("/nonexistent/default.json"), std::string::npos) << m;
  EXPECT_NE(m.find("scripts/install-deps.sh"), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
}

TEST(TokenizerLocation, MissingModelFolderIsAnError) {
  auto found = locate_tokenizer(TokenizerSearch{"/nonexistent/model", std::nullopt, "/x"});
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.message().rfind("/nonexistent/model: ", 0), 0u) << found.message();
}

TEST(TokenizerLocation, EnvironmentNamingAMissingFileIsAnError) {
  const std::string def = touch(make_dir("default2") + "/tokenizer.json");
  auto found = locate_tokenizer(TokenizerSearch{std::nullopt, "/nonexistent/t.json", def});
  ASSERT_FALSE(found.ok());
  EXPECT_NE(found.message().find("QUANTLENS_TOKENIZER=/nonexistent/t.json"), std::string::npos)
      << found.message();
}

TEST(TokenizerLocation, RealEnvironmentIsRead) {
  const std::string env = touch(make_dir("env3") + "/from_env.json");
  ::setenv("QUANTLENS_TOKENIZER", env.c_str(), 1);
  auto found = locate_tokenizer(std::optional<std::string>());
  ::unsetenv("QUANTLENS_TOKENIZER");
  ASSERT_TRUE(found.ok()) << found.message();
  EXPECT_EQ(*found, env);
  auto fallback = locate_tokenizer(std::optional<std::string>());
  ASSERT_TRUE(fallback.ok()) << fallback.message();
  EXPECT_EQ(*fallback, QL_DEFAULT_TOKENIZER);
}

}  // namespace
