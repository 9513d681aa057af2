#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/sql/database.h"

namespace covtrack::sql {

// PostgreSQL through libpq: a pool of at most StoreOptions::max_connections connections, each
// with its own prepared-statement cache. A transaction that finds every connection in use waits
// for one (StoreOptions::connection_wait, at most the served call's deadline), then is
// UNAVAILABLE naming the pool and counted in covtrack_store_pool_exhausted_total. Writes run at
// READ COMMITTED and serialise on a row lock the caller takes (see Session::ForUpdate); reads run
// at REPEATABLE READ, READ ONLY, for a consistent snapshot. A connection that breaks is dropped and
// replaced on the next call; one that died while idle in the pool (a server restart) is replaced
// before the caller's transaction starts, so the first call after a restart succeeds. A lost
// connection or a server that is down or shutting down is UNAVAILABLE (retryable; a write's outcome
// is then unknown and the caller retries it idempotently); connecting and dead peers are bounded by
// timeouts (see kConnectionDefaults).
class PostgresDatabase : public Database {
 public:
  static absl::StatusOr<std::unique_ptr<Database>> Open(absl::string_view url,
                                                        const StoreOptions& options);
  ~PostgresDatabase() override;

  absl::Status Write(const std::function<absl::Status(Session&)>& fn) override;
  absl::Status Read(const std::function<absl::Status(Session&)>& fn) override;
  absl::Status Migrate(absl::string_view component, const std::vector<Migration>& migrations,
                       MigrationReport* report = nullptr) override;

  class Connection;

 private:
  PostgresDatabase(std::string url, const StoreOptions& options);
  // An idle connection (*pooled = true) or a new one, once the pool has room for it.
  absl::StatusOr<std::unique_ptr<Connection>> Acquire(bool* pooled = nullptr);
  // Closes every idle connection.
  void DropIdle();
  // Back into the pool, or closed when it broke; either way its place is free again.
  void Release(std::unique_ptr<Connection> connection);
  // Closes a connection that was taken out of the pool and frees its place.
  void Discard(std::unique_ptr<Connection> connection);
  // An idle connection or room for a new one.
  bool HasRoom() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::Status InTransaction(absl::string_view begin,
                             const std::function<absl::Status(Session&)>& fn);

  const std::string url_;
  const StoreOptions options_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
  // Connections open: idle, in a transaction, or being connected. Never above
  // options_.max_connections.
  int open_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace covtrack::sql
