#include "common/sql/postgres_database.h"

#include <libpq-fe.h>

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/log.h"
#include "common/sql/internal.h"

namespace covtrack::sql {
namespace {

constexpr absl::string_view kStore = "postgresql";

// Defaults for what the store URL does not set (the URL's own settings win). Without them a
// server that stops answering (a host gone, a network partition) holds a request until the
// kernel gives up on TCP, minutes later: far past any caller's deadline.
//   connect_timeout: seconds to establish a connection.
//   keepalives_*: a connection whose peer went silent is declared dead after about
//   idle + interval × count = 10 + 5 × 3 = 25 s, even in the middle of a query.
constexpr const char* kConnectionDefaults[][2] = {
    {"connect_timeout", "5"},     {"keepalives", "1"},       {"keepalives_idle", "10"},
    {"keepalives_interval", "5"}, {"keepalives_count", "3"},
};

PGconn* ConnectTo(const std::string& url) {
  std::vector<const char*> keywords;
  std::vector<const char*> values;
  for (const auto& setting : kConnectionDefaults) {
    keywords.push_back(setting[0]);
    values.push_back(setting[1]);
  }
  // The URL comes last, expanded in place of "dbname": its settings override the defaults.
  keywords.push_back("dbname");
  values.push_back(url.c_str());
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  return PQconnectdbParams(keywords.data(), values.data(), /*expand_dbname=*/1);
}

}  // namespace

class PostgresDatabase::Connection : public Session {
 public:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  ~Connection() override { PQfinish(conn_); }

  bool healthy() const { return PQstatus(conn_) == CONNECTION_OK; }
  std::string error() const {
    return std::string(absl::StripTrailingAsciiWhitespace(PQerrorMessage(conn_)));
  }

  // Statements without parameters: transaction control and migrations.
  absl::Status ExecScript(absl::string_view sql) {
    PGresult* result = PQexec(conn_, std::string(sql).c_str());
    absl::Status status = Check(result, sql);
    PQclear(result);
    return status;
  }

  absl::StatusOr<std::vector<Row>> Query(absl::string_view sql, const Params& params) override {
    std::vector<Row> rows;
    absl::Status status = Run(sql, params, &rows, nullptr);
    if (!status.ok()) {
      return status;
    }
    return rows;
  }

  absl::StatusOr<int64_t> Execute(absl::string_view sql, const Params& params) override {
    int64_t changed = 0;
    absl::Status status = Run(sql, params, nullptr, &changed);
    if (!status.ok()) {
      return status;
    }
    return changed;
  }

  absl::string_view ForUpdate() const override { return " FOR UPDATE"; }

 private:
  // The caller sees what failed in words; libpq's message (which may name the server's host
  // and port), the SQLSTATE and the SQL go to the log.
  absl::Status Check(PGresult* result, absl::string_view sql) {
    ExecStatusType s = PQresultStatus(result);
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
      return absl::OkStatus();
    }
    const char* state_field = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    const absl::string_view state = state_field == nullptr ? "" : state_field;
    const char* message = result ? PQresultErrorMessage(result) : "";
    const log::Fields details = {
        {"error", std::string(absl::StripTrailingAsciiWhitespace(
                      (message != nullptr && *message != '\0') ? message : PQerrorMessage(conn_)))},
        {"sqlstate", std::string(state)},
        {"sql", std::string(sql.substr(0, 200))}};
    if (!healthy() || absl::StartsWith(state, "08") || absl::StartsWith(state, "57P")) {
      return internal::StoreError(
          absl::StatusCode::kUnavailable,
          "the PostgreSQL store lost the connection or is shutting down; retry", details);
    }
    if (state == "40001" || state == "40P01") {  // serialization failure or deadlock
      return internal::StoreError(
          absl::StatusCode::kAborted,
          "the PostgreSQL store aborted the transaction over a conflict with another; retry",
          details);
    }
    if (absl::StartsWith(state, "53")) {  // insufficient resources: disk, memory, connections
      return internal::StoreError(absl::StatusCode::kUnavailable,
                                  "the PostgreSQL store is out of resources; retry later", details);
    }
    if (absl::StartsWith(state, "23")) {
      return internal::StoreError(absl::StatusCode::kInternal,
                                  "the PostgreSQL store refused a write that breaks one of its "
                                  "integrity constraints",
                                  details);
    }
    return internal::StoreError(absl::StatusCode::kInternal,
                                "the PostgreSQL store could not run a statement", details);
  }

  absl::StatusOr<std::string> Prepare(absl::string_view sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) {
      return it->second;
    }
    std::string name = absl::StrCat("s", statements_.size());
    PGresult* result = PQprepare(conn_, name.c_str(), std::string(sql).c_str(), 0, nullptr);
    absl::Status status = Check(result, sql);
    PQclear(result);
    if (!status.ok()) {
      return status;
    }
    statements_.emplace(std::string(sql), name);
    return name;
  }

  absl::Status Run(absl::string_view sql, const Params& params, std::vector<Row>* rows,
                   int64_t* changed) {
    // libpq passes text as C strings: a NUL would silently cut it.
    if (absl::Status status = internal::CheckTextParameters(params); !status.ok()) {
      return status;
    }
    absl::StatusOr<std::string> name = Prepare(sql);
    if (!name.ok()) {
      return name.status();
    }
    std::vector<std::string> text(params.size());
    std::vector<const char*> values(params.size(), nullptr);
    for (size_t i = 0; i < params.size(); ++i) {
      const Value& v = params[i];
      if (std::holds_alternative<std::monostate>(v)) {
        continue;
      }
      if (const int64_t* n = std::get_if<int64_t>(&v)) {
        text[i] = std::to_string(*n);
      } else if (const double* d = std::get_if<double>(&v)) {
        text[i] = absl::StrFormat("%.17g", *d);  // round-trips every double exactly
      } else {
        text[i] = std::get<std::string>(v);
      }
      values[i] = text[i].c_str();
    }
    PGresult* result = PQexecPrepared(conn_, name->c_str(), static_cast<int>(params.size()),
                                      values.data(), nullptr, nullptr, 0);
    absl::Status status = Check(result, sql);
    if (status.ok() && rows != nullptr) {
      int n = PQntuples(result);
      int columns = PQnfields(result);
      rows->reserve(n);
      for (int r = 0; r < n; ++r) {
        std::vector<Value> cells;
        cells.reserve(columns);
        for (int c = 0; c < columns; ++c) {
          if (PQgetisnull(result, r, c)) {
            cells.emplace_back(std::monostate{});
          } else {
            cells.emplace_back(std::string(PQgetvalue(result, r, c), PQgetlength(result, r, c)));
          }
        }
        rows->emplace_back(std::move(cells));
      }
    }
    if (status.ok() && changed != nullptr) {
      const char* tuples = PQcmdTuples(result);
      *changed = (tuples != nullptr && *tuples != '\0') ? std::atoll(tuples) : 0;
    }
    PQclear(result);
    return status;
  }

  PGconn* conn_;
  absl::flat_hash_map<std::string, std::string> statements_;
};

absl::StatusOr<std::unique_ptr<Database>> PostgresDatabase::Open(absl::string_view url,
                                                                 const StoreOptions& options) {
  auto db = std::unique_ptr<PostgresDatabase>(new PostgresDatabase(std::string(url), options));
  // Connect once now, so that a wrong URL is reported at start-up.
  absl::StatusOr<std::unique_ptr<Connection>> connection = db->Acquire();
  if (!connection.ok()) {
    return connection.status();
  }
  db->Release(std::move(*connection));
  return std::unique_ptr<Database>(std::move(db));
}

PostgresDatabase::PostgresDatabase(std::string url, const StoreOptions& options)
    : url_(std::move(url)), options_(options) {}

PostgresDatabase::~PostgresDatabase() {
  absl::MutexLock lock(&mu_);
  internal::AddOpenConnections(kStore, -static_cast<int>(idle_.size()));
}

bool PostgresDatabase::HasRoom() const {
  return !idle_.empty() || open_ < options_.max_connections;
}

absl::StatusOr<std::unique_ptr<PostgresDatabase::Connection>> PostgresDatabase::Acquire(
    bool* pooled) {
  if (pooled != nullptr) {
    *pooled = false;
  }
  bool for_call = false;
  const absl::Time deadline = internal::ConnectionWaitDeadline(options_, &for_call);
  {
    absl::MutexLock lock(&mu_);
    while (true) {
      if (!mu_.AwaitWithDeadline(absl::Condition(this, &PostgresDatabase::HasRoom), deadline)) {
        return internal::PoolExhausted(kStore, "PostgreSQL", options_, for_call);
      }
      if (idle_.empty()) {
        ++open_;  // this place is ours while we connect, below
        internal::AddOpenConnections(kStore, 1);
        break;
      }
      std::unique_ptr<Connection> connection = std::move(idle_.back());
      idle_.pop_back();
      if (connection->healthy()) {
        if (pooled != nullptr) {
          *pooled = true;
        }
        internal::AddConnectionsInUse(kStore, 1);
        return connection;
      }
      --open_;  // broken while idle: closed, its place free
      internal::AddOpenConnections(kStore, -1);
    }
  }
  auto connection = std::make_unique<Connection>(ConnectTo(url_));
  internal::AddConnectionsInUse(kStore, 1);
  if (!connection->healthy()) {
    const std::string error = connection->error();
    Discard(std::move(connection));
    return internal::StoreError(absl::StatusCode::kUnavailable,
                                "cannot connect to the PostgreSQL store (check --store)",
                                {{"store", RedactedUrl(url_)}, {"error", error}});
  }
  return connection;
}

void PostgresDatabase::Release(std::unique_ptr<Connection> connection) {
  if (!connection->healthy()) {
    Discard(std::move(connection));
    return;
  }
  internal::AddConnectionsInUse(kStore, -1);
  absl::MutexLock lock(&mu_);
  idle_.push_back(std::move(connection));
}

void PostgresDatabase::Discard(std::unique_ptr<Connection> connection) {
  connection.reset();
  internal::AddConnectionsInUse(kStore, -1);
  internal::AddOpenConnections(kStore, -1);
  absl::MutexLock lock(&mu_);
  --open_;
}

void PostgresDatabase::DropIdle() {
  std::vector<std::unique_ptr<Connection>> dropped;
  absl::MutexLock lock(&mu_);
  dropped.swap(idle_);
  open_ -= static_cast<int>(dropped.size());
  internal::AddOpenConnections(kStore, -static_cast<int>(dropped.size()));
}

absl::Status PostgresDatabase::InTransaction(absl::string_view begin,
                                             const std::function<absl::Status(Session&)>& fn) {
  absl::StatusOr<std::unique_ptr<Connection>> connection;
  absl::Status status;
  // A pooled connection may have died while idle (the server restarted, or ended it): libpq
  // only finds out when it is used. BEGIN has changed nothing yet, so a connection lost there
  // is retried on a fresh one; the others in the pool went through the same restart, most
  // likely, and are dropped too. A fresh connection that fails is a real outage: UNAVAILABLE.
  while (true) {
    bool pooled = false;
    connection = Acquire(&pooled);
    if (!connection.ok()) {
      return connection.status();
    }
    status = (*connection)->ExecScript(begin);
    if (status.ok() || !pooled || (*connection)->healthy()) {
      break;
    }
    Discard(*std::move(connection));
    DropIdle();
  }
  Connection& c = **connection;
  if (status.ok()) {
    status = fn(c);
    if (status.ok()) {
      status = c.ExecScript("COMMIT");
    }
    if (!status.ok()) {
      c.ExecScript("ROLLBACK").IgnoreError();
    }
  }
  Release(std::move(*connection));
  return status;
}

absl::Status PostgresDatabase::Write(const std::function<absl::Status(Session&)>& fn) {
  return InTransaction("BEGIN ISOLATION LEVEL READ COMMITTED", fn);
}

absl::Status PostgresDatabase::Read(const std::function<absl::Status(Session&)>& fn) {
  return InTransaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", fn);
}

absl::Status PostgresDatabase::Migrate(absl::string_view component,
                                       const std::vector<Migration>& migrations,
                                       MigrationReport* report) {
  MigrationReport done;
  absl::StatusOr<std::unique_ptr<Connection>> connection = Acquire();
  if (!connection.ok()) {
    return connection.status();
  }
  Connection& c = **connection;
  absl::Status status = c.ExecScript("BEGIN");
  // Several replicas may start at once: the first to take this lock migrates, the others wait
  // and then find nothing left to do.
  if (status.ok()) {
    status = c.ExecScript("SELECT pg_advisory_xact_lock(7406117105)");
  }
  if (status.ok()) {
    status = c.ExecScript(
        "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, "
        "version INTEGER NOT NULL, PRIMARY KEY (component, version))");
  }
  if (status.ok()) {
    absl::StatusOr<std::vector<Row>> found =
        c.Query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = $1",
                {std::string(component)});
    status = found.status();
    if (found.ok()) {
      done.found_version = static_cast<int>((*found)[0].Int(0));
      done.version = done.found_version;
      status = internal::CheckSchemaNotNewer(component, done.found_version, migrations);
    }
  }
  for (const Migration& m : migrations) {
    if (!status.ok()) {
      break;
    }
    absl::StatusOr<std::vector<Row>> applied =
        c.Query("SELECT 1 FROM schema_migrations WHERE component = $1 AND version = $2",
                {std::string(component), int64_t{m.version}});
    if (!applied.ok()) {
      status = applied.status();
      break;
    }
    if (!applied->empty()) {
      continue;
    }
    status = c.ExecScript(m.sql);
    if (!status.ok()) {
      status = absl::InternalError(
          absl::StrCat(component, " migration ", m.version, ": ", status.message()));
      break;
    }
    status = c.Execute("INSERT INTO schema_migrations (component, version) VALUES ($1, $2)",
                       {std::string(component), int64_t{m.version}})
                 .status();
    done.applied.push_back(m.version);
    done.version = std::max(done.version, m.version);
  }
  status = status.ok() ? c.ExecScript("COMMIT") : status;
  if (!status.ok()) {
    c.ExecScript("ROLLBACK").IgnoreError();
  }
  Release(std::move(*connection));
  if (status.ok() && report != nullptr) {
    *report = std::move(done);
  }
  return status;
}

}  // namespace covtrack::sql
