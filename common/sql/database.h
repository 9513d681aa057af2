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

// One connection inside one transaction.
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

// The store URL with any password replaced by "***", for logs and error messages.
std::string RedactedUrl(absl::string_view url);

class Database {
 public:
  // url: "sqlite:PATH" (WAL mode; ":memory:" for a private in-memory database) or
  // "postgresql://..." / "postgres://..." (a libpq connection URI).
  static absl::StatusOr<std::unique_ptr<Database>> Open(absl::string_view url);

  virtual ~Database() = default;

  // Runs fn in one read-write transaction and commits if it returns OK; rolls back otherwise.
  // Writers are serialised.
  virtual absl::Status Write(const std::function<absl::Status(Session&)>& fn) = 0;
  // Runs fn on a consistent read-only snapshot.
  virtual absl::Status Read(const std::function<absl::Status(Session&)>& fn) = 0;

  // Applies the migrations of `component` (e.g. "ingestion") that are not applied yet.
  // Safe to call from several processes at once.
  virtual absl::Status Migrate(absl::string_view component,
                               const std::vector<Migration>& migrations) = 0;
};

}  // namespace covtrack::sql
