#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/sql/database.h"

namespace covtrack::sql {

// PostgreSQL through libpq: a small pool of connections, each with its own prepared-statement
// cache. Writes run at READ COMMITTED and serialise on a row lock the caller takes (see
// Session::ForUpdate); reads run at REPEATABLE READ, READ ONLY, for a consistent snapshot.
// A connection that breaks is dropped and replaced on the next call; one that died while idle
// in the pool (a server restart) is replaced before the caller's transaction starts, so the
// first call after a restart succeeds. A lost connection or a server that is down or shutting
// down is UNAVAILABLE (retryable; a write's outcome is then unknown and the caller retries it
// idempotently); connecting and dead peers are bounded by timeouts (see kConnectionDefaults).
class PostgresDatabase : public Database {
 public:
  static absl::StatusOr<std::unique_ptr<Database>> Open(absl::string_view url);
  ~PostgresDatabase() override;

  absl::Status Write(const std::function<absl::Status(Session&)>& fn) override;
  absl::Status Read(const std::function<absl::Status(Session&)>& fn) override;
  absl::Status Migrate(absl::string_view component,
                       const std::vector<Migration>& migrations) override;

  class Connection;

 private:
  explicit PostgresDatabase(std::string url);
  // An idle connection (*pooled = true) or a new one.
  absl::StatusOr<std::unique_ptr<Connection>> Acquire(bool* pooled = nullptr);
  // Closes every idle connection.
  void DropIdle();
  void Release(std::unique_ptr<Connection> connection);
  absl::Status InTransaction(absl::string_view begin,
                             const std::function<absl::Status(Session&)>& fn);

  const std::string url_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace covtrack::sql
