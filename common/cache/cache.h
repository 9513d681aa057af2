#pragma once

// A key-value cache for computed answers, with two implementations: Redis (shared by replicas)
// and in-process (a single replica, or tests). The cache is an optimisation only: it never
// fails a caller. When the backend is unavailable, reads miss and writes are dropped, the
// outage is logged once and counted, and the cache is used again once the backend is back.
//
// Values carry no validity of their own: callers tag what they store and check it on every read
// (aggregation prefixes each rollup with the change-feed seq it was computed at; see EncodeEntry
// in services/aggregation/rollup_cache.cc and services/aggregation/change_log.h).
//
// A shared backend is reachable by others than the replicas: the Redis cache authenticates
// (AUTH with a password) and signs every value it stores with HMAC-SHA256 under a key the
// replicas share, bound to the entry's key. A value whose signature does not verify (written by
// a third party, or under another key) is a miss, counted in `rejected` and logged now and then;
// it is never handed to the caller. hiredis 0.14 has no TLS: the connection itself is plaintext,
// so the network path to Redis must be private (deploy/README.md).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace covtrack::cache {

struct CacheStats {
  int64_t hits = 0;
  int64_t misses = 0;
  int64_t writes = 0;
  // Commands that failed (connection refused or lost, timeout, error reply).
  int64_t errors = 0;
  // Reads and writes skipped because the backend was known to be down.
  int64_t skipped_unavailable = 0;
  // Times the backend went from available to unavailable.
  int64_t outages = 0;
  // Values read that failed their integrity check (treated as misses, never returned).
  int64_t rejected = 0;
  bool available = true;
};

class Cache {
 public:
  virtual ~Cache() = default;

  // The values of `keys`, in order; nullopt for a miss. Never blocks on a backend known to be
  // down.
  virtual std::vector<std::optional<std::string>> MultiGet(
      const std::vector<std::string>& keys) = 0;
  // Stores values with a time to live; best effort. False when they were not stored (the
  // backend is down), so a caller can offer them again later.
  virtual bool MultiSet(const std::vector<std::pair<std::string, std::string>>& entries,
                        absl::Duration ttl) = 0;
  virtual CacheStats stats() const = 0;
  // "redis 127.0.0.1:6379" or "in-process", for logs.
  virtual std::string description() const = 0;
};

// A bounded in-process cache (least recently written entries are evicted first).
std::unique_ptr<Cache> NewInProcessCache(size_t max_entries);

struct RedisCacheOptions {
  std::string address;  // "HOST:PORT"
  // Per-command timeout; a slow Redis is treated as down rather than slowing every answer.
  absl::Duration command_timeout = absl::Milliseconds(200);
  absl::Duration connect_timeout = absl::Milliseconds(200);
  // Reconnection attempts back off from min to max while Redis stays down.
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  int max_connections = 16;
  // Sent with AUTH on every connection; empty: no AUTH (a Redis without requirepass).
  std::string password;
  // The secret the replicas share, signing every value (at least kMinEntryKeyBytes bytes).
  std::string entry_key;
};

inline constexpr size_t kMinEntryKeyBytes = 32;

// INVALID_ARGUMENT for a malformed address or an entry key shorter than kMinEntryKeyBytes. An
// unreachable Redis is not an error: the cache starts as unavailable and connects in the
// background.
absl::StatusOr<std::unique_ptr<Cache>> NewRedisCache(const RedisCacheOptions& options);

}  // namespace covtrack::cache
