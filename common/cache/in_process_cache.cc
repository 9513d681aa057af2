#include <deque>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/cache/cache.h"

namespace covtrack::cache {
namespace {

class InProcessCache : public Cache {
 public:
  explicit InProcessCache(size_t max_entries) : max_entries_(max_entries) {}

  std::vector<std::optional<std::string>> MultiGet(const std::vector<std::string>& keys) override {
    std::vector<std::optional<std::string>> values;
    values.reserve(keys.size());
    const absl::Time now = absl::Now();
    absl::MutexLock lock(&mu_);
    for (const std::string& key : keys) {
      auto it = entries_.find(key);
      if (it != entries_.end() && it->second.expires > now) {
        values.push_back(it->second.value);
        ++stats_.hits;
      } else {
        values.push_back(std::nullopt);
        ++stats_.misses;
      }
    }
    return values;
  }

  bool MultiSet(const std::vector<std::pair<std::string, std::string>>& entries,
                absl::Duration ttl) override {
    const absl::Time expires = absl::Now() + ttl;
    absl::MutexLock lock(&mu_);
    for (const auto& [key, value] : entries) {
      auto [it, inserted] = entries_.insert_or_assign(key, Entry{value, expires});
      if (inserted) {
        order_.push_back(key);
      }
      ++stats_.writes;
    }
    while (entries_.size() > max_entries_ && !order_.empty()) {
      entries_.erase(order_.front());
      order_.pop_front();
    }
    return true;
  }

  CacheStats stats() const override {
    absl::MutexLock lock(&mu_);
    return stats_;
  }

  std::string description() const override { return "in-process"; }

 private:
  struct Entry {
    std::string value;
    absl::Time expires;
  };
  const size_t max_entries_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> order_ ABSL_GUARDED_BY(mu_);  // insertion order, for eviction
  CacheStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<Cache> NewInProcessCache(size_t max_entries) {
  return std::make_unique<InProcessCache>(max_entries);
}

}  // namespace covtrack::cache
