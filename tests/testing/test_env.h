#pragma once

// What every test shares: throw-away folders, and the real PostgreSQL and Redis servers that
// scripts/test.sh starts on loopback. Outside that script, tests that need a server skip,
// unless COVTRACK_REQUIRE_SERVERS=1 (set by the script and by CI), where they fail instead.

#include <optional>
#include <string>

namespace covtrack::testing {

// A new empty folder under the test's temporary root.
std::string TempDir();

// "sqlite:<new temp dir>/store.db".
std::string SqliteStoreUrl();

// A new, empty PostgreSQL database on the test server ("postgresql://..."), or nullopt when no
// server is configured (COVTRACK_TEST_POSTGRES_URL unset).
std::optional<std::string> NewPostgresDatabase();

// A new, empty store on the engine a parameterized test names: "sqlite" (always there) or
// "postgresql" (NewPostgresDatabase: nullopt without a server; COVTRACK_REQUIRE_SERVER then).
std::optional<std::string> NewStoreUrl(const std::string& engine);

// "127.0.0.1:PORT" of the test Redis server (COVTRACK_TEST_REDIS), or nullopt.
std::optional<std::string> RedisAddress();

// True when missing servers are a failure rather than a reason to skip.
bool ServersRequired();

}  // namespace covtrack::testing

// Skips (or fails, under COVTRACK_REQUIRE_SERVERS=1) when a server is not configured.
#define COVTRACK_REQUIRE_SERVER(optional_value, what)                              \
  do {                                                                             \
    if (!(optional_value).has_value()) {                                           \
      if (::covtrack::testing::ServersRequired()) {                                \
        FAIL() << what << " is required but not configured (run scripts/test.sh)"; \
      }                                                                            \
      GTEST_SKIP() << what << " not configured; run scripts/test.sh";              \
    }                                                                              \
  } while (0)
