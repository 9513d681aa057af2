// One behavioural suite for both cache implementations (Redis, in-process), plus what only
// Redis can do: go away and come back.
#include "common/cache/cache.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/eventually.h"
#include "tests/testing/redis_process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace covtrack::cache {
namespace {

using ::covtrack::testing::Eventually;
using ::covtrack::testing::IsOk;
using ::covtrack::testing::RedisProcess;

constexpr char kEntryKey[] = "cache_test's entry key, 32 bytes or more";

std::unique_ptr<Cache> NewRedis(const std::string& address, const std::string& password = "",
                                const std::string& entry_key = kEntryKey) {
  RedisCacheOptions options;
  options.address = address;
  options.password = password;
  options.entry_key = entry_key;
  options.min_backoff = absl::Milliseconds(10);
  options.max_backoff = absl::Milliseconds(100);
  absl::StatusOr<std::unique_ptr<Cache>> cache = NewRedisCache(options);
  EXPECT_THAT(cache, IsOk());
  return cache.ok() ? std::move(*cache) : nullptr;
}

class CacheBehaviourTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    prefix_ = absl::StrCat("cache-test-", getpid(), "-",
                           ::testing::UnitTest::GetInstance()->current_test_info()->name(), ":");
    if (GetParam() == "redis") {
      std::optional<std::string> address = covtrack::testing::RedisAddress();
      COVTRACK_REQUIRE_SERVER(address, "Redis (COVTRACK_TEST_REDIS)");
      cache_ = NewRedis(*address);
      ASSERT_NE(cache_, nullptr);
      ASSERT_TRUE(Eventually([&] { return cache_->stats().available; }))
          << "the cache never connected to " << *address;
    } else {
      // Room for every key of every test (ConcurrentUse writes 400): eviction is tested apart.
      cache_ = NewInProcessCache(10000);
    }
  }
  std::string Key(const std::string& k) const { return prefix_ + k; }

  std::string prefix_;
  std::unique_ptr<Cache> cache_;
};

TEST_P(CacheBehaviourTest, MissThenHitInOrder) {
  std::vector<std::optional<std::string>> values = cache_->MultiGet({Key("a"), Key("b")});
  ASSERT_EQ(values.size(), 2u);
  EXPECT_FALSE(values[0].has_value());
  EXPECT_FALSE(values[1].has_value());
  cache_->MultiSet({{Key("b"), "two"}, {Key("a"), std::string("one\0bytes", 9)}}, absl::Minutes(1));
  values = cache_->MultiGet({Key("a"), Key("missing"), Key("b")});
  ASSERT_EQ(values.size(), 3u);
  EXPECT_EQ(values[0], std::string("one\0bytes", 9));  // binary-safe
  EXPECT_FALSE(values[1].has_value());
  EXPECT_EQ(values[2], "two");
  const CacheStats stats = cache_->stats();
  EXPECT_EQ(stats.hits, 2);
  EXPECT_EQ(stats.misses, 3);
  EXPECT_EQ(stats.writes, 2);
  EXPECT_EQ(stats.errors, 0);
}

TEST_P(CacheBehaviourTest, LaterWriteReplacesEarlier) {
  cache_->MultiSet({{Key("k"), "old"}}, absl::Minutes(1));
  cache_->MultiSet({{Key("k"), "new"}}, absl::Minutes(1));
  EXPECT_EQ(cache_->MultiGet({Key("k")})[0], "new");
}

TEST_P(CacheBehaviourTest, EntriesExpire) {
  cache_->MultiSet({{Key("short"), "v"}}, absl::Milliseconds(20));
  cache_->MultiSet({{Key("long"), "v"}}, absl::Minutes(1));
  EXPECT_TRUE(Eventually([&] { return !cache_->MultiGet({Key("short")})[0].has_value(); }));
  EXPECT_EQ(cache_->MultiGet({Key("long")})[0], "v");
}

TEST_P(CacheBehaviourTest, LargeValuesRoundTrip) {
  const std::string big(2 << 20, 'x');
  cache_->MultiSet({{Key("big"), big}}, absl::Minutes(1));
  EXPECT_EQ(cache_->MultiGet({Key("big")})[0], big);
}

TEST_P(CacheBehaviourTest, ConcurrentUse) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const std::string key = Key(absl::StrCat(t, "-", i));
        cache_->MultiSet({{key, absl::StrCat(i)}}, absl::Minutes(1));
        EXPECT_EQ(cache_->MultiGet({key})[0], absl::StrCat(i));
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(cache_->stats().errors, 0);
}

INSTANTIATE_TEST_SUITE_P(Implementations, CacheBehaviourTest,
                         ::testing::Values("in_process", "redis"),
                         [](const auto& info) { return info.param; });

TEST(InProcessCacheTest, EvictsBeyondItsBound) {
  std::unique_ptr<Cache> cache = NewInProcessCache(2);
  cache->MultiSet({{"a", "1"}, {"b", "2"}, {"c", "3"}}, absl::Minutes(1));
  std::vector<std::optional<std::string>> values = cache->MultiGet({"a", "b", "c"});
  EXPECT_FALSE(values[0].has_value());
  EXPECT_EQ(values[2], "3");
}

TEST(RedisCacheTest, MalformedAddressIsAConfigurationError) {
  RedisCacheOptions options;
  options.entry_key = kEntryKey;
  options.address = "localhost";
  EXPECT_TRUE(absl::IsInvalidArgument(NewRedisCache(options).status()));
  options.address = "localhost:http";
  EXPECT_TRUE(absl::IsInvalidArgument(NewRedisCache(options).status()));
}

TEST(RedisCacheTest, RedisDownMeansMissesNotErrorsAndComesBack) {
  std::optional<std::string> binary = RedisProcess::ServerBinary();
  COVTRACK_REQUIRE_SERVER(binary, "redis-server (COVTRACK_TEST_REDIS_SERVER)");
  std::unique_ptr<RedisProcess> redis = RedisProcess::Start(*binary);
  ASSERT_NE(redis, nullptr);
  std::unique_ptr<Cache> cache = NewRedis(redis->address());
  ASSERT_TRUE(Eventually([&] { return cache->stats().available; }));
  cache->MultiSet({{"k", "v"}}, absl::Minutes(1));
  EXPECT_EQ(cache->MultiGet({"k"})[0], "v");

  redis->Kill();
  // The first command after the kill fails and marks Redis down; it is a miss, not a crash.
  EXPECT_FALSE(cache->MultiGet({"k"})[0].has_value());
  EXPECT_TRUE(Eventually([&] {
    cache->MultiGet({"k"});
    return !cache->stats().available;
  }));
  const CacheStats down = cache->stats();
  EXPECT_GE(down.outages, 1);
  EXPECT_GE(down.errors, 1);
  // While down, requests skip Redis instead of waiting for it.
  cache->MultiSet({{"k2", "v"}}, absl::Minutes(1));
  EXPECT_FALSE(cache->MultiGet({"k2"})[0].has_value());
  EXPECT_GT(cache->stats().skipped_unavailable, down.skipped_unavailable);

  ASSERT_TRUE(redis->Restart());
  ASSERT_TRUE(Eventually([&] { return cache->stats().available; }))
      << "the cache did not reconnect";
  cache->MultiSet({{"k3", "back"}}, absl::Minutes(1));
  EXPECT_EQ(cache->MultiGet({"k3"})[0], "back");
}

// Issue 13 (part 5): without a shared secret no entry could be told from a forged one, so a
// Redis cache without an entry key (or with a short one) is a configuration error.
TEST(RedisCacheTest, NoEntryKeyIsAConfigurationError) {
  RedisCacheOptions options;
  options.address = "127.0.0.1:6379";
  EXPECT_TRUE(absl::IsInvalidArgument(NewRedisCache(options).status()));
  options.entry_key = std::string(kMinEntryKeyBytes - 1, 'k');
  EXPECT_TRUE(absl::IsInvalidArgument(NewRedisCache(options).status()));
  options.entry_key = std::string(kMinEntryKeyBytes, 'k');
  EXPECT_TRUE(NewRedisCache(options).ok());
}

// Issue 13's probe: an entry a third party wrote into Redis was served. Values are signed with
// the replicas' key and bound to their key: a forged value, a genuine value copied under another
// key, and a value signed with another key are all misses, counted as rejected.
TEST(RedisCacheTest, EntriesThatFailTheirIntegrityCheckAreNeverReturned) {
  std::optional<std::string> binary = RedisProcess::ServerBinary();
  COVTRACK_REQUIRE_SERVER(binary, "redis-server (COVTRACK_TEST_REDIS_SERVER)");
  std::unique_ptr<RedisProcess> redis = RedisProcess::Start(*binary);
  ASSERT_NE(redis, nullptr);
  std::unique_ptr<Cache> cache = NewRedis(redis->address());
  ASSERT_TRUE(Eventually([&] { return cache->stats().available; }));

  ASSERT_EQ(covtrack::testing::RedisCommand(redis->address(), "SET forged 123|payload"), "OK");
  EXPECT_FALSE(cache->MultiGet({"forged"})[0].has_value());
  EXPECT_EQ(cache->stats().rejected, 1);

  cache->MultiSet({{"genuine", "v"}}, absl::Minutes(1));
  EXPECT_EQ(cache->MultiGet({"genuine"})[0], "v");
  // Copied under another key (DUMP/RESTORE keeps the bytes exactly).
  ASSERT_EQ(covtrack::testing::RedisCommand(redis->address(), "COPY genuine copied"), "1");
  EXPECT_FALSE(cache->MultiGet({"copied"})[0].has_value());

  std::unique_ptr<Cache> other = NewRedis(redis->address(), "", "another key, also 32 bytes long!");
  ASSERT_TRUE(Eventually([&] { return other->stats().available; }));
  other->MultiSet({{"theirs", "v"}}, absl::Minutes(1));
  EXPECT_EQ(other->MultiGet({"theirs"})[0], "v");
  EXPECT_FALSE(cache->MultiGet({"theirs"})[0].has_value());
  EXPECT_FALSE(other->MultiGet({"genuine"})[0].has_value());
  EXPECT_EQ(cache->stats().rejected, 3);
  EXPECT_EQ(cache->stats().hits, 1);
}

// Redis with requirepass: the cache authenticates with the password; without it (or with a
// wrong one) Redis is unavailable to it: misses, never errors to the caller.
TEST(RedisCacheTest, AuthenticatesWithThePassword) {
  std::optional<std::string> binary = RedisProcess::ServerBinary();
  COVTRACK_REQUIRE_SERVER(binary, "redis-server (COVTRACK_TEST_REDIS_SERVER)");
  const std::string password = "s3cret password";
  std::unique_ptr<RedisProcess> redis = RedisProcess::Start(*binary, password);
  ASSERT_NE(redis, nullptr);
  EXPECT_NE(covtrack::testing::RedisCommand(redis->address(), "SET k v"), "OK");

  std::unique_ptr<Cache> cache = NewRedis(redis->address(), password);
  ASSERT_TRUE(Eventually([&] { return cache->stats().available; }));
  EXPECT_TRUE(cache->MultiSet({{"k", "v"}}, absl::Minutes(1)));
  EXPECT_EQ(cache->MultiGet({"k"})[0], "v");
  EXPECT_EQ(covtrack::testing::RedisCommand(redis->address(), "DBSIZE", password), "1");

  for (const std::string& wrong : {std::string(), std::string("wrong")}) {
    std::unique_ptr<Cache> refused = NewRedis(redis->address(), wrong);
    EXPECT_TRUE(Eventually([&] { return refused->stats().outages >= 1; }));
    EXPECT_FALSE(refused->stats().available);
    EXPECT_FALSE(refused->MultiGet({"k"})[0].has_value());
    EXPECT_FALSE(refused->MultiSet({{"k", "forged"}}, absl::Minutes(1)));
  }
  EXPECT_EQ(cache->MultiGet({"k"})[0], "v");
}

}  // namespace
}  // namespace covtrack::cache
