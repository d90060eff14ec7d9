// The API key check of the local server (server/bearer_auth.h).
#include <gtest/gtest.h>

#include "server/bearer_auth.h"

namespace {

using ql::server::bearer_matches;

TEST(ServerAuth, OnlyTheExactKeyAfterBearerPasses) {
  EXPECT_TRUE(bearer_matches("Bearer k3y-123", "k3y-123"));
  EXPECT_TRUE(bearer_matches("bearer k3y-123", "k3y-123")) << "the scheme is case-insensitive";
  EXPECT_FALSE(bearer_matches("Bearer k3y-12", "k3y-123")) << "a prefix of the key";
  EXPECT_FALSE(bearer_matches("Bearer k3y-1234", "k3y-123")) << "the key and more";
  EXPECT_FALSE(bearer_matches("Bearer K3Y-123", "k3y-123")) << "the key itself is case-sensitive";
  EXPECT_FALSE(bearer_matches("k3y-123", "k3y-123")) << "no scheme";
  EXPECT_FALSE(bearer_matches("Basic k3y-123", "k3y-123"));
  EXPECT_FALSE(bearer_matches("", "k3y-123"));
  EXPECT_FALSE(bearer_matches("Bearer ", "k3y-123"));
}

TEST(ServerAuth, NoKeyConfiguredLetsEveryRequestIn) {
  EXPECT_TRUE(bearer_matches("", ""));
  EXPECT_TRUE(bearer_matches("Bearer anything", ""));
}

}  // namespace
