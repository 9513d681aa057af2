#pragma once

#include <sqlite3.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/sql/database.h"

namespace covtrack::sql {

// SQLite in WAL mode: one writer connection (writers are serialised by a mutex and BEGIN
// IMMEDIATE) and a pool of at most StoreOptions::max_connections reader connections, which WAL
// lets read a consistent snapshot while a write is in progress; a read that finds every reader
// in use waits as PostgreSQL's pool does (postgres_database.h). A thread with a connection of its
// own copies the WAL back into the file (a checkpoint) once a commit takes it past 1,000 pages,
// so that no writer waits for that copy in its COMMIT. Open checks the file first (PRAGMA
// quick_check) and refuses a damaged one.
class SqliteDatabase : public Database {
 public:
  static absl::StatusOr<std::unique_ptr<Database>> Open(absl::string_view path,
                                                        const StoreOptions& options);
  ~SqliteDatabase() override;

  absl::Status Write(const std::function<absl::Status(Session&)>& fn) override;
  absl::Status Read(const std::function<absl::Status(Session&)>& fn) override;
  absl::Status Migrate(absl::string_view component, const std::vector<Migration>& migrations,
                       MigrationReport* report = nullptr) override;

  // Waits until the checkpoint thread (Checkpointer, in the .cc) has finished `n` checkpoints
  // since the store was opened, or `timeout` has passed; returns how many it has finished. For
  // tests.
  int WaitForCheckpoints(int n, absl::Duration timeout);

  class Connection;
  class Checkpointer;

 private:
  SqliteDatabase(std::string path, const StoreOptions& options);
  absl::StatusOr<std::unique_ptr<Connection>> Connect();
  // An idle reader or a new one, once there is room for it.
  absl::StatusOr<std::unique_ptr<Connection>> AcquireReader();
  void ReleaseReader(std::unique_ptr<Connection> reader);
  bool HasReaderRoom() const ABSL_SHARED_LOCKS_REQUIRED(pool_mu_);

  const std::string path_;
  const StoreOptions options_;
  absl::Mutex write_mu_;
  // Before writer_, so destroyed after it: the writer's WAL hook points at it; after
  // write_mu_, which its thread takes. Null for ":memory:", which has no WAL.
  std::unique_ptr<Checkpointer> checkpointer_;
  std::unique_ptr<Connection> writer_ ABSL_GUARDED_BY(write_mu_);
  absl::Mutex pool_mu_;
  std::vector<std::unique_ptr<Connection>> idle_readers_ ABSL_GUARDED_BY(pool_mu_);
  int open_readers_ ABSL_GUARDED_BY(pool_mu_) = 0;  // idle, reading, or being opened
};

}  // namespace covtrack::sql
