#pragma once

// The store layer shared by every service that keeps data: one interface, two implementations
// (SQLite, the embedded default; PostgreSQL for production). Services write their SQL once, in
// the common subset of both dialects, with numbered placeholders ($1, $2, ...). Every statement
// with parameters is prepared once per connection and cached.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace covtrack::sql {

// A parameter or a cell. std::monostate is SQL NULL.
using Value = std::variant<std::monostate, int64_t, double, std::string>;
using Params = std::vector<Value>;

class Row {
 public:
  explicit Row(std::vector<Value> cells) : cells_(std::move(cells)) {}
  bool IsNull(size_t i) const;
  int64_t Int(size_t i) const;
  double Double(size_t i) const;
  std::string Text(size_t i) const;
  size_t size() const { return cells_.size(); }

 private:
  std::vector<Value> cells_;
};

// One connection inside one transaction. Text bound as a parameter must be valid UTF-8 without
// NUL bytes (INVALID_ARGUMENT otherwise, the same on both stores): PostgreSQL would cut text at
// a NUL and refuse invalid UTF-8, where SQLite keeps both. The services refuse such text at the
// edge (common/text.h); this is the backstop that keeps the two stores alike.
class Session {
 public:
  virtual ~Session() = default;
  virtual absl::StatusOr<std::vector<Row>> Query(absl::string_view sql, const Params& params) = 0;
  // Returns the number of rows changed.
  virtual absl::StatusOr<int64_t> Execute(absl::string_view sql, const Params& params) = 0;
  // " FOR UPDATE" where the dialect has row locks (PostgreSQL), "" where writers are already
  // serialised (SQLite takes its write lock at BEGIN IMMEDIATE).
  virtual absl::string_view ForUpdate() const = 0;
};

// A schema change, applied once, in version order, inside a transaction.
struct Migration {
  int version;
  std::string sql;  // one or more statements, no parameters
};

// What Migrate found and did, for --migrate_only to print.
struct MigrationReport {
  int found_version = 0;     // the newest version applied before (0: a new store)
  std::vector<int> applied;  // the versions applied now, in order
  int version = 0;           // the newest version applied after
};

// One line for --migrate_only: "the ingestion store sqlite:var/ingestion.db was at schema
// version 1; applied 2; now at version 2" (or "... is at version 2, the newest this binary
// knows: nothing to apply"). `store` is the redacted URL.
std::string DescribeMigration(absl::string_view component, absl::string_view store,
                              const MigrationReport& report);

// How many connections a store keeps open, and how long a transaction waits for one.
struct StoreOptions {
  // Connections open at once, per process (PostgreSQL: the pool; SQLite: the readers, beside
  // its one writer). The default fits PostgreSQL's default max_connections (100, of which 3 are
  // reserved for superusers) across the prod overlay at its largest: the autoscalers' maxima
  // (6 ingestion + 4 targets replicas) plus a rolling update's surge (25%, rounded up: 2 + 1),
  // 13 processes x 6 = 78, which leaves room for the --migrate_only Job, psql and monitoring.
  int max_connections = 6;
  // How long a transaction waits for a free connection (at most the served call's deadline)
  // before it is UNAVAILABLE, naming the pool.
  absl::Duration connection_wait = absl::Seconds(5);
};

// The options Database::Open(url) uses. The services open their stores deep inside their
// Create(); main() sets the values of --store_max_connections and --store_connection_wait here
// once, before that.
void SetDefaultStoreOptions(const StoreOptions& options);
StoreOptions DefaultStoreOptions();

// The store URL with any password replaced by "***", for logs and error messages.
std::string RedactedUrl(absl::string_view url);

class Database {
 public:
  // url: "sqlite:PATH" (WAL mode; ":memory:" for a private in-memory database) or
  // "postgresql://..." / "postgres://..." (a libpq connection URI).
  //
  // Errors of every method say what failed in words, never the server's address or the SQL:
  // those, with the driver's own message, go to the log (with the call's x-request-id).
  static absl::StatusOr<std::unique_ptr<Database>> Open(absl::string_view url);
  static absl::StatusOr<std::unique_ptr<Database>> Open(absl::string_view url,
                                                        const StoreOptions& options);

  virtual ~Database() = default;

  // Runs fn in one read-write transaction and commits if it returns OK; rolls back otherwise.
  // Writers are serialised.
  virtual absl::Status Write(const std::function<absl::Status(Session&)>& fn) = 0;
  // Runs fn on a consistent read-only snapshot.
  virtual absl::Status Read(const std::function<absl::Status(Session&)>& fn) = 0;

  // Applies the migrations of `component` (e.g. "ingestion") that are not applied yet, and says
  // what it did in *report (when given). Safe to call from several processes at once.
  // FAILED_PRECONDITION, naming both versions and what to do, when the store holds a version of
  // `component` newer than the newest in `migrations`: a newer release migrated it, and this
  // binary would misread data it does not know (a rollback without restoring the backup).
  virtual absl::Status Migrate(absl::string_view component,
                               const std::vector<Migration>& migrations,
                               MigrationReport* report = nullptr) = 0;
};

}  // namespace covtrack::sql
