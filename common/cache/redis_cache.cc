#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/cache/cache.h"
#include "common/log.h"

namespace covtrack::cache {
namespace {

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

timeval TimevalOf(absl::Duration d) { return absl::ToTimeval(d); }

// A stored value: "h1" (the format), HMAC-SHA256(entry key, len(key) ":" key value) (32 bytes),
// then the caller's value. The key is inside the MAC, so a genuine value copied under another
// key does not verify either.
constexpr absl::string_view kSignedFormat = "h1";
constexpr size_t kMacBytes = 32;

std::string Mac(const std::string& secret, absl::string_view key, absl::string_view value) {
  const std::string message = absl::StrCat(key.size(), ":", key, value);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &mac_len);
  return std::string(reinterpret_cast<const char*>(mac), mac_len);
}

std::string Sign(const std::string& secret, absl::string_view key, absl::string_view value) {
  return absl::StrCat(kSignedFormat, Mac(secret, key, value), value);
}

// The caller's value when `stored` carries a valid signature for `key`; nullopt otherwise.
std::optional<std::string> Verify(const std::string& secret, absl::string_view key,
                                  absl::string_view stored) {
  if (stored.size() < kSignedFormat.size() + kMacBytes ||
      stored.substr(0, kSignedFormat.size()) != kSignedFormat) {
    return std::nullopt;
  }
  const absl::string_view mac = stored.substr(kSignedFormat.size(), kMacBytes);
  const absl::string_view value = stored.substr(kSignedFormat.size() + kMacBytes);
  const std::string expected = Mac(secret, key, value);
  if (expected.size() != kMacBytes || CRYPTO_memcmp(expected.data(), mac.data(), kMacBytes) != 0) {
    return std::nullopt;
  }
  return std::string(value);
}

// A Redis cache over a small pool of blocking hiredis connections. Requests never wait for a
// Redis that is down: the first failure marks it unavailable (logged once, counted), later
// requests skip it, and a background thread reconnects with exponential backoff.
class RedisCache : public Cache {
 public:
  RedisCache(RedisCacheOptions options, std::string host, int port)
      : options_(std::move(options)), host_(std::move(host)), port_(port) {
    // Start as down and let the reconnect thread make the first connection, so that startup
    // never blocks on Redis.
    reconnector_ = std::thread([this] { ReconnectLoop(); });
  }

  ~RedisCache() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    reconnector_.join();
    for (redisContext* c : idle_) {
      redisFree(c);
    }
  }

  std::vector<std::optional<std::string>> MultiGet(const std::vector<std::string>& keys) override {
    std::vector<std::optional<std::string>> values(keys.size());
    if (keys.empty()) {
      return values;
    }
    redisContext* c = Acquire();
    if (c == nullptr) {
      Count(&CacheStats::skipped_unavailable, 1);
      return values;
    }
    std::vector<const char*> argv = {"MGET"};
    std::vector<size_t> lens = {4};
    for (const std::string& k : keys) {
      argv.push_back(k.data());
      lens.push_back(k.size());
    }
    Reply reply(static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements != keys.size()) {
      Fail(c, reply == nullptr ? c->errstr : "unexpected MGET reply");
      return values;
    }
    int64_t hits = 0;
    int64_t rejected = 0;
    for (size_t i = 0; i < keys.size(); ++i) {
      const redisReply* e = reply->element[i];
      if (e->type == REDIS_REPLY_STRING) {
        values[i] = Verify(options_.entry_key, keys[i], absl::string_view(e->str, e->len));
        ++(values[i].has_value() ? hits : rejected);
      }
    }
    Release(c);
    absl::MutexLock lock(&mu_);
    stats_.hits += hits;
    stats_.misses += static_cast<int64_t>(keys.size()) - hits;
    if (rejected > 0) {
      stats_.rejected += rejected;
      LogRejectedLocked();
    }
    return values;
  }

  bool MultiSet(const std::vector<std::pair<std::string, std::string>>& entries,
                absl::Duration ttl) override {
    if (entries.empty()) {
      return true;
    }
    redisContext* c = Acquire();
    if (c == nullptr) {
      Count(&CacheStats::skipped_unavailable, 1);
      return false;
    }
    const std::string ttl_ms = absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(ttl)));
    for (const auto& [key, value] : entries) {
      const std::string signed_value = Sign(options_.entry_key, key, value);
      const char* argv[] = {"SET", key.data(), signed_value.data(), "PX", ttl_ms.data()};
      const size_t lens[] = {3, key.size(), signed_value.size(), 2, ttl_ms.size()};
      redisAppendCommandArgv(c, 5, argv, lens);
    }
    for (size_t i = 0; i < entries.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(c, &raw) != REDIS_OK || raw == nullptr) {
        Fail(c, c->errstr);
        return false;
      }
      Reply reply(static_cast<redisReply*>(raw));
      if (reply->type == REDIS_REPLY_ERROR) {
        Fail(c, reply->str);
        return false;
      }
    }
    Release(c);
    Count(&CacheStats::writes, static_cast<int64_t>(entries.size()));
    return true;
  }

  CacheStats stats() const override {
    absl::MutexLock lock(&mu_);
    CacheStats s = stats_;
    s.available = available_;
    return s;
  }

  std::string description() const override { return absl::StrCat("redis ", options_.address); }

 private:
  // Entries that fail their check mean someone else writes into this Redis (or another key is
  // in use by a replica): worth saying, but at most once a minute, with the count so far.
  void LogRejectedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const absl::Time now = absl::Now();
    if (now - last_rejected_log_ < absl::Minutes(1)) {
      return;
    }
    last_rejected_log_ = now;
    log::Warn(
        "redis entries failed their integrity check and were ignored (written by someone without "
        "the cache key, or by a replica with another --cache_key_file)",
        {{"redis", options_.address}, {"rejected_total", absl::StrCat(stats_.rejected)}});
  }

  void Count(int64_t CacheStats::*field, int64_t n) {
    absl::MutexLock lock(&mu_);
    stats_.*field += n;
  }

  // A connection ready for commands, or nullptr with `*error` saying why (never a secret).
  redisContext* Connect(std::string* error) const {
    *error = "connect failed";
    redisContext* c =
        redisConnectWithTimeout(host_.c_str(), port_, TimevalOf(options_.connect_timeout));
    if (c == nullptr) {
      return nullptr;
    }
    if (c->err != 0 || redisSetTimeout(c, TimevalOf(options_.command_timeout)) != REDIS_OK) {
      redisFree(c);
      return nullptr;
    }
    if (!options_.password.empty()) {
      Reply auth(static_cast<redisReply*>(
          redisCommand(c, "AUTH %b", options_.password.data(), options_.password.size())));
      if (auth == nullptr || auth->type == REDIS_REPLY_ERROR) {
        *error = "AUTH refused: check --redis_password_file against Redis's requirepass";
        redisFree(c);
        return nullptr;
      }
    }
    Reply pong(static_cast<redisReply*>(redisCommand(c, "PING")));
    if (pong == nullptr || pong->type == REDIS_REPLY_ERROR) {
      // NOAUTH: this Redis requires a password and none was given.
      *error = pong == nullptr ? "PING failed" : "PING refused (a password is required?)";
      redisFree(c);
      return nullptr;
    }
    return c;
  }

  // A connection, or nullptr when Redis is down (the caller then does without the cache).
  redisContext* Acquire() {
    {
      absl::MutexLock lock(&mu_);
      if (!available_) {
        return nullptr;
      }
      if (!idle_.empty()) {
        redisContext* c = idle_.back();
        idle_.pop_back();
        return c;
      }
      if (open_ >= options_.max_connections) {
        // Every connection is busy: wait a little for one rather than opening more.
        auto free_or_down = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
          return !idle_.empty() || !available_;
        };
        mu_.AwaitWithTimeout(absl::Condition(&free_or_down), options_.command_timeout);
        if (!available_ || idle_.empty()) {
          return nullptr;
        }
        redisContext* c = idle_.back();
        idle_.pop_back();
        return c;
      }
      ++open_;
    }
    std::string error;
    redisContext* c = Connect(&error);
    if (c == nullptr) {
      absl::MutexLock lock(&mu_);
      --open_;
      MarkDownLocked(error);
    }
    return c;
  }

  void Release(redisContext* c) {
    absl::MutexLock lock(&mu_);
    if (available_) {
      idle_.push_back(c);
    } else {
      redisFree(c);
      --open_;
    }
  }

  void Fail(redisContext* c, const std::string& error) {
    redisFree(c);
    absl::MutexLock lock(&mu_);
    --open_;
    ++stats_.errors;
    MarkDownLocked(error);
  }

  void MarkDownLocked(const std::string& error) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!available_) {
      return;
    }
    available_ = false;
    ++stats_.outages;
    // Connections to a Redis that failed are probably dead too (a restart closes them all).
    for (redisContext* idle : idle_) {
      redisFree(idle);
      --open_;
    }
    idle_.clear();
    log::Warn("redis unavailable; answering without the cache until it is back",
              {{"redis", options_.address}, {"error", error}});
  }

  void ReconnectLoop() {
    absl::Duration backoff = options_.min_backoff;
    bool first = true;
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        auto wake = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_ || !available_; };
        mu_.Await(absl::Condition(&wake));
        if (stopping_) {
          return;
        }
        if (!first) {
          auto stop = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
          if (mu_.AwaitWithTimeout(absl::Condition(&stop), backoff)) {
            return;
          }
        }
      }
      std::string error;
      redisContext* c = Connect(&error);
      absl::MutexLock lock(&mu_);
      if (c == nullptr) {
        if (first) {
          log::Warn("redis unavailable at start; answering without the cache until it is up",
                    {{"redis", options_.address}, {"error", error}});
          ++stats_.outages;
        }
        first = false;
        backoff = std::min(backoff * 2, options_.max_backoff);
        continue;
      }
      idle_.push_back(c);
      ++open_;
      available_ = true;
      if (!first) {
        log::Info("redis available again; cache in use", {{"redis", options_.address}});
      }
      first = false;
      backoff = options_.min_backoff;
    }
  }

  const RedisCacheOptions options_;
  const std::string host_;
  const int port_;
  mutable absl::Mutex mu_;
  bool available_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<redisContext*> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  CacheStats stats_ ABSL_GUARDED_BY(mu_);
  absl::Time last_rejected_log_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::thread reconnector_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Cache>> NewRedisCache(const RedisCacheOptions& options) {
  std::vector<std::string> parts = absl::StrSplit(options.address, absl::MaxSplits(':', 1));
  int port = 0;
  if (parts.size() != 2 || parts[0].empty() || !absl::SimpleAtoi(parts[1], &port) || port <= 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--redis: \"", options.address, "\" is not HOST:PORT (empty: use the in-process cache)"));
  }
  if (options.entry_key.size() < kMinEntryKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--cache_key_file: required with --redis, at least ", kMinEntryKeyBytes,
        " bytes (the secret every replica shares to sign cache entries; e.g. the output of "
        "`openssl rand -base64 48`)"));
  }
  return std::make_unique<RedisCache>(options, parts[0], port);
}

}  // namespace covtrack::cache
