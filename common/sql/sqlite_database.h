#pragma once

#include <sqlite3.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/sql/database.h"

namespace covtrack::sql {

// SQLite in WAL mode: one writer connection (writers are serialised by a mutex and BEGIN
// IMMEDIATE) and a pool of reader connections, which WAL lets read a consistent snapshot while
// a write is in progress.
class SqliteDatabase : public Database {
 public:
  static absl::StatusOr<std::unique_ptr<Database>> Open(absl::string_view path);
  ~SqliteDatabase() override;

  absl::Status Write(const std::function<absl::Status(Session&)>& fn) override;
  absl::Status Read(const std::function<absl::Status(Session&)>& fn) override;
  absl::Status Migrate(absl::string_view component,
                       const std::vector<Migration>& migrations) override;

  class Connection;

 private:
  explicit SqliteDatabase(std::string path);
  absl::StatusOr<std::unique_ptr<Connection>> Connect();

  const std::string path_;
  absl::Mutex write_mu_;
  std::unique_ptr<Connection> writer_ ABSL_GUARDED_BY(write_mu_);
  absl::Mutex pool_mu_;
  std::vector<std::unique_ptr<Connection>> idle_readers_ ABSL_GUARDED_BY(pool_mu_);
};

}  // namespace covtrack::sql
