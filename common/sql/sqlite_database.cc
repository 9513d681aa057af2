#include "common/sql/sqlite_database.h"

#include <filesystem>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace covtrack::sql {

// One sqlite3 handle with its prepared-statement cache. Used by one thread at a time.
class SqliteDatabase::Connection : public Session {
 public:
  explicit Connection(sqlite3* db) : db_(db) {}
  ~Connection() override {
    for (auto& [sql, stmt] : statements_) {
      sqlite3_finalize(stmt);
    }
    sqlite3_close(db_);
  }

  absl::Status ExecScript(absl::string_view sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
      absl::Status status = absl::InternalError(absl::StrCat("sqlite: ", error ? error : "?"));
      sqlite3_free(error);
      return status;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Row>> Query(absl::string_view sql, const Params& params) override {
    std::vector<Row> rows;
    absl::Status status = Run(sql, params, &rows);
    if (!status.ok()) {
      return status;
    }
    return rows;
  }

  absl::StatusOr<int64_t> Execute(absl::string_view sql, const Params& params) override {
    absl::Status status = Run(sql, params, nullptr);
    if (!status.ok()) {
      return status;
    }
    return sqlite3_changes64(db_);
  }

  absl::string_view ForUpdate() const override { return ""; }

 private:
  absl::Status Error(absl::string_view what) {
    int code = sqlite3_errcode(db_);
    std::string message = absl::StrCat("sqlite ", what, ": ", sqlite3_errmsg(db_));
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_IOERR) {
      return absl::UnavailableError(message);
    }
    return absl::InternalError(message);
  }

  absl::StatusOr<sqlite3_stmt*> Prepare(absl::string_view sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) {
      return it->second;
    }
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                           &stmt, nullptr) != SQLITE_OK) {
      return Error(absl::StrCat("prepare \"", sql, "\""));
    }
    statements_.emplace(std::string(sql), stmt);
    return stmt;
  }

  absl::Status Bind(sqlite3_stmt* stmt, const Params& params) {
    for (size_t i = 0; i < params.size(); ++i) {
      std::string name = absl::StrCat("$", i + 1);
      int index = sqlite3_bind_parameter_index(stmt, name.c_str());
      if (index == 0) {
        return absl::InternalError(absl::StrCat("statement has no parameter ", name));
      }
      const Value& v = params[i];
      int rc = SQLITE_OK;
      if (std::holds_alternative<std::monostate>(v)) {
        rc = sqlite3_bind_null(stmt, index);
      } else if (const int64_t* n = std::get_if<int64_t>(&v)) {
        rc = sqlite3_bind_int64(stmt, index, *n);
      } else if (const double* d = std::get_if<double>(&v)) {
        rc = sqlite3_bind_double(stmt, index, *d);
      } else {
        const std::string& s = std::get<std::string>(v);
        rc = sqlite3_bind_text(stmt, index, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
      }
      if (rc != SQLITE_OK) {
        return Error("bind");
      }
    }
    return absl::OkStatus();
  }

  absl::Status Run(absl::string_view sql, const Params& params, std::vector<Row>* rows) {
    absl::StatusOr<sqlite3_stmt*> stmt = Prepare(sql);
    if (!stmt.ok()) {
      return stmt.status();
    }
    sqlite3_stmt* s = *stmt;
    absl::Status status = Bind(s, params);
    while (status.ok()) {
      int rc = sqlite3_step(s);
      if (rc == SQLITE_DONE) {
        break;
      }
      if (rc != SQLITE_ROW) {
        status = Error(absl::StrCat("step \"", sql, "\""));
        break;
      }
      if (rows == nullptr) {
        continue;
      }
      int columns = sqlite3_column_count(s);
      std::vector<Value> cells;
      cells.reserve(columns);
      for (int c = 0; c < columns; ++c) {
        switch (sqlite3_column_type(s, c)) {
          case SQLITE_NULL:
            cells.emplace_back(std::monostate{});
            break;
          case SQLITE_INTEGER:
            cells.emplace_back(static_cast<int64_t>(sqlite3_column_int64(s, c)));
            break;
          case SQLITE_FLOAT:
            cells.emplace_back(sqlite3_column_double(s, c));
            break;
          default:
            cells.emplace_back(std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, c)),
                                           sqlite3_column_bytes(s, c)));
        }
      }
      rows->emplace_back(std::move(cells));
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return status;
  }

  sqlite3* db_;
  absl::flat_hash_map<std::string, sqlite3_stmt*> statements_;
};

namespace {

// Runs fn between begin and COMMIT, or ROLLBACK when anything fails.
absl::Status InTransaction(SqliteDatabase::Connection& connection, absl::string_view begin,
                           const std::function<absl::Status(Session&)>& fn) {
  absl::Status status = connection.ExecScript(begin);
  if (!status.ok()) {
    return status;
  }
  status = fn(connection);
  if (status.ok()) {
    status = connection.ExecScript("COMMIT");
  }
  if (!status.ok()) {
    connection.ExecScript("ROLLBACK").IgnoreError();  // fails harmlessly if COMMIT ended it
  }
  return status;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Database>> SqliteDatabase::Open(absl::string_view path) {
  if (path.empty()) {
    return absl::InvalidArgumentError("sqlite store needs a path: sqlite:PATH");
  }
  if (path != ":memory:") {
    std::error_code error;
    std::filesystem::path parent = std::filesystem::path(std::string(path)).parent_path();
    if (!parent.empty() && !std::filesystem::create_directories(parent, error) && error) {
      return absl::UnavailableError(absl::StrCat("cannot create the folder of sqlite database \"",
                                                 path, "\": ", error.message()));
    }
  }
  auto db = std::unique_ptr<SqliteDatabase>(new SqliteDatabase(std::string(path)));
  absl::StatusOr<std::unique_ptr<Connection>> writer = db->Connect();
  if (!writer.ok()) {
    return writer.status();
  }
  // WAL lets readers keep a snapshot while one writer commits. synchronous=FULL makes every
  // acknowledged commit survive a power cut, not only a process crash.
  absl::Status status = (*writer)->ExecScript("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
  if (!status.ok()) {
    return status;
  }
  absl::MutexLock lock(&db->write_mu_);
  db->writer_ = std::move(*writer);
  return std::unique_ptr<Database>(std::move(db));
}

SqliteDatabase::SqliteDatabase(std::string path) : path_(std::move(path)) {}
SqliteDatabase::~SqliteDatabase() = default;

absl::StatusOr<std::unique_ptr<SqliteDatabase::Connection>> SqliteDatabase::Connect() {
  sqlite3* handle = nullptr;
  int rc =
      sqlite3_open_v2(path_.c_str(), &handle,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  auto connection = std::make_unique<Connection>(handle);  // closes the handle on every path
  if (rc != SQLITE_OK) {
    return absl::UnavailableError(
        absl::StrCat("cannot open sqlite database \"", path_, "\": ", sqlite3_errstr(rc)));
  }
  // Another process (a second replica, covctl) may hold the write lock for a moment.
  absl::Status status =
      connection->ExecScript("PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;");
  if (!status.ok()) {
    return status;
  }
  return connection;
}

absl::Status SqliteDatabase::Write(const std::function<absl::Status(Session&)>& fn) {
  absl::MutexLock lock(&write_mu_);
  return InTransaction(*writer_, "BEGIN IMMEDIATE", fn);
}

absl::Status SqliteDatabase::Read(const std::function<absl::Status(Session&)>& fn) {
  if (path_ == ":memory:") {  // a private in-memory database has only the one connection
    absl::MutexLock lock(&write_mu_);
    return InTransaction(*writer_, "BEGIN", fn);
  }
  std::unique_ptr<Connection> reader;
  {
    absl::MutexLock lock(&pool_mu_);
    if (!idle_readers_.empty()) {
      reader = std::move(idle_readers_.back());
      idle_readers_.pop_back();
    }
  }
  if (reader == nullptr) {
    absl::StatusOr<std::unique_ptr<Connection>> connected = Connect();
    if (!connected.ok()) {
      return connected.status();
    }
    reader = std::move(*connected);
  }
  absl::Status status = InTransaction(*reader, "BEGIN", fn);
  absl::MutexLock lock(&pool_mu_);
  idle_readers_.push_back(std::move(reader));
  return status;
}

absl::Status SqliteDatabase::Migrate(absl::string_view component,
                                     const std::vector<Migration>& migrations) {
  absl::MutexLock lock(&write_mu_);
  return InTransaction(*writer_, "BEGIN IMMEDIATE", [&](Session& session) -> absl::Status {
    absl::Status status = writer_->ExecScript(
        "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, "
        "version INTEGER NOT NULL, PRIMARY KEY (component, version))");
    if (!status.ok()) {
      return status;
    }
    for (const Migration& m : migrations) {
      absl::StatusOr<std::vector<Row>> applied =
          session.Query("SELECT 1 FROM schema_migrations WHERE component = $1 AND version = $2",
                        {std::string(component), int64_t{m.version}});
      if (!applied.ok()) {
        return applied.status();
      }
      if (!applied->empty()) {
        continue;
      }
      if (status = writer_->ExecScript(m.sql); !status.ok()) {
        return absl::InternalError(
            absl::StrCat(component, " migration ", m.version, ": ", status.message()));
      }
      absl::StatusOr<int64_t> recorded =
          session.Execute("INSERT INTO schema_migrations (component, version) VALUES ($1, $2)",
                          {std::string(component), int64_t{m.version}});
      if (!recorded.ok()) {
        return recorded.status();
      }
    }
    return absl::OkStatus();
  });
}

}  // namespace covtrack::sql
