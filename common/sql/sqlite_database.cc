#include "common/sql/sqlite_database.h"

#include <algorithm>
#include <filesystem>
#include <thread>

#include "absl/container/node_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/sql/internal.h"
#include "common/text.h"

namespace covtrack::sql {
namespace {

constexpr absl::string_view kStore = "sqlite";

// The caller's error for SQLite's result `code`, in words; SQLite's message, the SQL and the
// file go to the log.
absl::Status SqliteError(int code, const log::Fields& details) {
  switch (code & 0xff) {  // the primary code of an extended one
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return internal::StoreError(absl::StatusCode::kUnavailable,
                                  "the SQLite store is busy with another process; retry", details);
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      return internal::StoreError(absl::StatusCode::kUnavailable,
                                  "the SQLite store's file cannot be read or written; retry later",
                                  details);
    case SQLITE_FULL:
      return internal::StoreError(absl::StatusCode::kUnavailable,
                                  "the SQLite store's disk is full; retry later", details);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return internal::StoreError(absl::StatusCode::kDataLoss,
                                  "the SQLite store's file is damaged; restore it from a backup",
                                  details);
    case SQLITE_CONSTRAINT:
      return internal::StoreError(absl::StatusCode::kInternal,
                                  "the SQLite store refused a write that breaks one of its "
                                  "integrity constraints",
                                  details);
    default:
      return internal::StoreError(absl::StatusCode::kInternal,
                                  "the SQLite store could not run a statement", details);
  }
}

}  // namespace

// One sqlite3 handle with its prepared-statement cache. Used by one thread at a time.
class SqliteDatabase::Connection : public Session {
 public:
  explicit Connection(sqlite3* db) : db_(db) {}
  ~Connection() override {
    for (auto& [sql, prepared] : statements_) {
      sqlite3_finalize(prepared.stmt);
    }
    sqlite3_close(db_);
  }

  sqlite3* handle() const { return db_; }

  absl::Status ExecScript(absl::string_view sql) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &error);
    if (rc != SQLITE_OK) {
      absl::Status status = SqliteError(rc, {{"error", error ? error : sqlite3_errstr(rc)},
                                             {"sql", std::string(sql.substr(0, 200))},
                                             {"file", File()}});
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
  std::string File() const {
    const char* file = sqlite3_db_filename(db_, "main");
    return file == nullptr ? "" : file;
  }

  absl::Status Error(absl::string_view what, absl::string_view sql) {
    return SqliteError(sqlite3_extended_errcode(db_), {{"error", sqlite3_errmsg(db_)},
                                                       {"step", std::string(what)},
                                                       {"sql", std::string(sql.substr(0, 200))},
                                                       {"file", File()}});
  }

  // A prepared statement and which of its parameters $1..$N it uses ([N - 1]).
  struct Prepared {
    sqlite3_stmt* stmt = nullptr;
    std::vector<bool> uses;
  };

  absl::StatusOr<const Prepared*> Prepare(absl::string_view sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) {
      return &it->second;
    }
    Prepared prepared;
    const std::string numbered = NumberedParameters(sql, &prepared.uses);
    if (sqlite3_prepare_v3(db_, numbered.data(), static_cast<int>(numbered.size()),
                           SQLITE_PREPARE_PERSISTENT, &prepared.stmt, nullptr) != SQLITE_OK) {
      return Error("prepare", sql);
    }
    return &statements_.emplace(std::string(sql), std::move(prepared)).first->second;
  }

  // `sql` with each PostgreSQL-style parameter $N written as SQLite's ?N, whose index is N
  // itself, or as a bare ? where N is one more than every N before it (a bare ? takes exactly
  // that index); `uses` says which N appear. SQLite reads $N as a name, whose index is found by
  // a scan of the statement's names: asking for each parameter's index had cost a multi-row
  // INSERT of n parameters n^2/2 comparisons (768 parameters at 128 rows), at every run and
  // then at each prepare (~7 ms of a national month's first upload after a start). A ?N still
  // costs such a scan when the statement is compiled, a bare ? none (SQLite's expr.c,
  // TK_VARIABLE), and the multi-row statements number their parameters in order. Quoted text
  // and names are copied as they stand.
  static std::string NumberedParameters(absl::string_view sql, std::vector<bool>* uses) {
    std::string out;
    out.reserve(sql.size());
    char quote = 0;  // the quote that opened the text or name being copied
    for (size_t i = 0; i < sql.size(); ++i) {
      const char c = sql[i];
      if (quote != 0) {
        quote = c == quote ? 0 : quote;  // a doubled quote closes and opens again
      } else if (c == '\'' || c == '"') {
        quote = c;
      } else if (c == '$' && i + 1 < sql.size() && absl::ascii_isdigit(sql[i + 1])) {
        const size_t digits = i + 1;
        size_t n = 0;
        while (i + 1 < sql.size() && absl::ascii_isdigit(sql[i + 1])) {
          n = std::min<size_t>(10 * n + (sql[++i] - '0'), 1 << 20);  // SQLite refuses more
        }
        out.push_back('?');
        if (n != uses->size() + 1) {  // uses->size(): the greatest N so far
          absl::StrAppend(&out, sql.substr(digits, i + 1 - digits));
        }
        if (n > 0) {
          uses->resize(std::max(uses->size(), n), false);
          (*uses)[n - 1] = true;
        }
        continue;
      }
      out.push_back(c);
    }
    return out;
  }

  // Text is bound without a copy (SQLITE_STATIC): `params` outlive the statement's run, and Run
  // clears the bindings before it returns.
  absl::Status Bind(const Prepared& prepared, const Params& params, absl::string_view sql) {
    sqlite3_stmt* stmt = prepared.stmt;
    for (size_t i = 0; i < params.size(); ++i) {
      if (i >= prepared.uses.size() || !prepared.uses[i]) {
        return absl::InternalError(absl::StrCat("statement has no parameter $", i + 1));
      }
      const int index = static_cast<int>(i + 1);
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
        rc = sqlite3_bind_text(stmt, index, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
      }
      if (rc != SQLITE_OK) {
        return Error("bind", sql);
      }
    }
    return absl::OkStatus();
  }

  absl::Status Run(absl::string_view sql, const Params& params, std::vector<Row>* rows) {
    // What PostgreSQL cannot keep is refused here too, so that both stores behave alike.
    if (absl::Status status = internal::CheckTextParameters(params); !status.ok()) {
      return status;
    }
    absl::StatusOr<const Prepared*> prepared = Prepare(sql);
    if (!prepared.ok()) {
      return prepared.status();
    }
    sqlite3_stmt* s = (*prepared)->stmt;
    absl::Status status = Bind(**prepared, params, sql);
    while (status.ok()) {
      int rc = sqlite3_step(s);
      if (rc == SQLITE_DONE) {
        break;
      }
      if (rc != SQLITE_ROW) {
        status = Error("step", sql);
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
    sqlite3_clear_bindings(s);  // no binding outlives `params` (Bind)
    return status;
  }

  sqlite3* db_;
  // Node-based: Prepare hands out pointers that later insertions must not move.
  absl::node_hash_map<std::string, Prepared> statements_;
};

// Copies the WAL's pages back into the database file (a checkpoint) on a thread of its own.
// SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL past 1,000 pages, once
// the commit is durable, so the writer that crossed the mark waited for the copy and the
// database file's fsync before its caller was answered: a national month's upload (~1,150 pages
// in one transaction) waited 30-50 ms at its COMMIT, 13-15 ms without the checkpoint (load 6).
// Here such a commit only wakes this thread, which checkpoints on its own connection while the
// next write appends to the WAL, as it would anyway.
//
// The WAL is reused from its start only by a write that begins when all of it has been copied
// and no reader still reads from it. Under steady load (bench/load's writes, with the change
// feed and other reads always in progress) that moment never came: a PASSIVE checkpoint ran
// after nearly every commit, each copying a few pages and syncing the file, while the WAL grew
// past 120 MB beside a 10 MB store. So a checkpoint is due at the mark, and again only once the
// WAL has grown by the mark since (or has started over); and once the WAL is twice the mark,
// the PASSIVE copy is followed by a RESTART, which copies the rest with this process's writers
// held back (SQLite holds back other processes') and waits for the readers still inside the WAL
// (those that start meanwhile read the file alone), so that the next write starts the WAL over.
// Writes then wait a few milliseconds, once per 2,000 pages written under such load; where the
// WAL starts over by itself (a bulk load with no reader beside it) nothing waits, as before.
// The wait is bounded by kRestartWait (a long export can outlast it).
class SqliteDatabase::Checkpointer {
 public:
  // `writers` is the store's write_mu_: held, this process's writers wait.
  Checkpointer(std::unique_ptr<Connection> connection, absl::Mutex& writers)
      : writers_(writers),
        connection_(BoundWaits(std::move(connection))),
        thread_([this] { Run(); }) {}

  ~Checkpointer() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }

  // The writer's WAL hook: SQLite calls it after each commit, with the WAL's size in pages.
  static int Committed(void* self, sqlite3*, const char*, int wal_pages) {
    Checkpointer* checkpointer = static_cast<Checkpointer*>(self);
    absl::MutexLock lock(&checkpointer->mu_);
    // A commit adds pages: a WAL no longer than at the last commit has started over.
    if (wal_pages <= checkpointer->wal_pages_) {
      checkpointer->due_from_ = kCheckpointPages;
    }
    checkpointer->wal_pages_ = wal_pages;
    checkpointer->due_ = checkpointer->due_ || wal_pages >= checkpointer->due_from_;
    return SQLITE_OK;
  }

  int WaitForCheckpoints(int n, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    absl::MutexLock lock(&mu_);
    while (done_ < n && !checkpointed_.WaitWithDeadline(&mu_, deadline)) {
    }
    return done_;
  }

 private:
  static constexpr int kCheckpointPages = 1000;  // SQLite's own default mark
  static constexpr int kRestartPages = 2 * kCheckpointPages;
  // How long a RESTART holds writers back for the readers still in the WAL: bench/load's feed
  // and coverage reads take a few milliseconds each.
  static constexpr absl::Duration kRestartWait = absl::Milliseconds(50);

  // The busy handler bounds only a RESTART's waits (PASSIVE never waits): for the writer in
  // progress, and for the readers inside the WAL.
  static std::unique_ptr<Connection> BoundWaits(std::unique_ptr<Connection> connection) {
    sqlite3_busy_timeout(connection->handle(), absl::ToInt64Milliseconds(kRestartWait));
    return connection;
  }

  int Checkpoint(int mode, int* log_pages) {
    return sqlite3_wal_checkpoint_v2(connection_->handle(), nullptr, mode, log_pages, nullptr);
  }

  void Run() {
    for (;;) {
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](Checkpointer* c)
                 ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) { return c->due_ || c->stop_; },
            this));
        if (stop_) {
          return;
        }
        due_ = false;
      }
      int log_pages = 0;
      int rc = Checkpoint(SQLITE_CHECKPOINT_PASSIVE, &log_pages);
      bool restarted = false;
      if (rc == SQLITE_OK && log_pages >= kRestartPages) {
        absl::MutexLock lock(&writers_);
        rc = Checkpoint(SQLITE_CHECKPOINT_RESTART, &log_pages);
        restarted = rc == SQLITE_OK;
      }
      // BUSY (a RESTART's wait ended first, or another process is checkpointing) is tried
      // again with the next checkpoint. A failure is retried at the next commit past the mark,
      // which also reports a broken file or disk to its caller.
      if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        log::Warn("sqlite checkpoint failed; retried after the next write",
                  {{"error", sqlite3_errmsg(connection_->handle())},
                   {"file", sqlite3_db_filename(connection_->handle(), "main")}});
      }
      absl::MutexLock lock(&mu_);
      // A WAL that started over since (wal_pages_ below what was checkpointed) is due at the
      // mark again.
      due_from_ = restarted || (rc != SQLITE_OK && rc != SQLITE_BUSY) || wal_pages_ < log_pages
                      ? kCheckpointPages
                      : log_pages + kCheckpointPages;
      ++done_;
      checkpointed_.SignalAll();
    }
  }

  absl::Mutex& writers_;
  absl::Mutex mu_;
  bool due_ ABSL_GUARDED_BY(mu_) = false;
  int wal_pages_ ABSL_GUARDED_BY(mu_) = 0;  // the WAL's size after the last commit
  // The WAL's size from which a commit makes a checkpoint due: the mark, or the mark past the
  // size the last checkpoint left.
  int due_from_ ABSL_GUARDED_BY(mu_) = kCheckpointPages;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int done_ ABSL_GUARDED_BY(mu_) = 0;  // checkpoints finished
  absl::CondVar checkpointed_;
  const std::unique_ptr<Connection> connection_;
  std::thread thread_;  // last: starts once the rest is built
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

// What PRAGMA quick_check finds wrong with the file (at most a few findings), or "" when it is
// sound. quick_check reads every page and checks each b-tree's structure, but not that indexes
// match their tables. Measured on a 712 MB store (ten national years: 4.8 M participation rows,
// as many revisions): 4.4 s with the file in the page cache, 48 s cold from a slow virtual disk
// (it is I/O-bound); integrity_check, which also checks the indexes, took 18.9 s warm, four
// times as long, so Open runs quick_check only.
std::string QuickCheckFindings(sqlite3* db) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA quick_check(5)", -1, &stmt, nullptr) != SQLITE_OK) {
    return sqlite3_errmsg(db);
  }
  std::vector<std::string> findings;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    findings.push_back(text == nullptr ? "" : reinterpret_cast<const char*>(text));
  }
  if (rc != SQLITE_DONE) {
    findings.push_back(sqlite3_errmsg(db));
  }
  sqlite3_finalize(stmt);
  if (findings.size() == 1 && findings[0] == "ok") {
    return "";
  }
  return absl::StrJoin(findings, "; ");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Database>> SqliteDatabase::Open(absl::string_view path,
                                                               const StoreOptions& options) {
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
  auto db = std::unique_ptr<SqliteDatabase>(new SqliteDatabase(std::string(path), options));
  absl::StatusOr<std::unique_ptr<Connection>> writer = db->Connect();
  if (!writer.ok()) {
    return absl::UnavailableError(absl::StrCat("cannot open the SQLite store \"", path,
                                               "\" (check --store and the file's permissions)"));
  }
  // A file damaged in the middle (a disk error, a copy taken while it was written) opens fine
  // and even takes writes, each of which can spread the damage. Refuse it at the start, while
  // the backup is still the better copy.
  if (path != ":memory:") {
    const absl::Time start = absl::Now();
    const std::string findings = QuickCheckFindings((*writer)->handle());
    log::Info("sqlite store checked", {{"file", std::string(path)},
                                       {"result", findings.empty() ? "ok" : "damaged"},
                                       {"took", absl::FormatDuration(absl::Now() - start)}});
    if (!findings.empty()) {
      return absl::DataLossError(absl::StrCat(
          "the SQLite store \"", path,
          "\" is damaged (PRAGMA quick_check: ", QuoteInput(findings, 300),
          "); refusing to start on it, since writing into a damaged file can lose more. "
          "Restore the store from its latest backup (deploy/README.md, \"Backup and "
          "restore\"), or move the file aside to start with an empty store"));
    }
  }
  // WAL lets readers keep a snapshot while one writer commits. synchronous=FULL makes every
  // acknowledged commit survive a power cut, not only a process crash.
  //
  // cache_size: SQLite's default page cache is 2 MB. A bulk write (a national month in messages
  // of 5,000 records) dirties a leaf page per unit in each index keyed by unit, thousands of
  // pages per transaction once the store holds years of history; past the cache, SQLite spills
  // dirty pages to the WAL in the middle of the transaction and reads them back, writing some
  // twice. 64 MB (negative: KiB) holds a message's pages; only the writer gets it (the readers
  // read through the memory map, below), and it fills only as far as it is used.
  absl::Status status = (*writer)->ExecScript(
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-65536;");
  if (!status.ok()) {
    return status;
  }
  if (path != ":memory:") {
    absl::StatusOr<std::unique_ptr<Connection>> checkpoints = db->Connect();
    if (!checkpoints.ok()) {
      return checkpoints.status();
    }
    // A connection learns that the file is in WAL mode when it first reads it; until then a
    // checkpoint on it does nothing.
    if (status = (*checkpoints)->ExecScript("PRAGMA journal_mode=WAL;"); !status.ok()) {
      return status;
    }
    db->checkpointer_ = std::make_unique<Checkpointer>(*std::move(checkpoints), db->write_mu_);
    // Replaces SQLite's automatic checkpoint on this connection (Checkpointer says why).
    sqlite3_wal_hook((*writer)->handle(), &Checkpointer::Committed, db->checkpointer_.get());
  }
  absl::MutexLock lock(&db->write_mu_);
  db->writer_ = std::move(*writer);
  return std::unique_ptr<Database>(std::move(db));
}

SqliteDatabase::SqliteDatabase(std::string path, const StoreOptions& options)
    : path_(std::move(path)), options_(options) {}

SqliteDatabase::~SqliteDatabase() {
  absl::MutexLock lock(&pool_mu_);
  internal::AddOpenConnections(kStore, -static_cast<int>(idle_readers_.size()));
}

absl::StatusOr<std::unique_ptr<SqliteDatabase::Connection>> SqliteDatabase::Connect() {
  sqlite3* handle = nullptr;
  int rc =
      sqlite3_open_v2(path_.c_str(), &handle,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  auto connection = std::make_unique<Connection>(handle);  // closes the handle on every path
  if (rc != SQLITE_OK) {
    return SqliteError(rc, {{"file", path_}, {"error", sqlite3_errstr(rc)}});
  }
  // Another process (a second replica, covctl) may hold the write lock for a moment.
  //
  // mmap_size: reads go through a memory map of the file (4 GiB asked; SQLite caps it at its
  // build's limit, 2 GB by default: ten national years take less) instead of a read() call and a
  // copy into each connection's page cache per page: an export of everything, or a write's index
  // lookups, touch most of the file. The map is the operating system's page cache, shared by every
  // connection, so it costs no memory of its own.
  absl::Status status = connection->ExecScript(
      "PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON; PRAGMA mmap_size=4294967296;");
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
  absl::StatusOr<std::unique_ptr<Connection>> reader = AcquireReader();
  if (!reader.ok()) {
    return reader.status();
  }
  absl::Status status = InTransaction(**reader, "BEGIN", fn);
  ReleaseReader(*std::move(reader));
  return status;
}

int SqliteDatabase::WaitForCheckpoints(int n, absl::Duration timeout) {
  return checkpointer_ == nullptr ? 0 : checkpointer_->WaitForCheckpoints(n, timeout);
}

bool SqliteDatabase::HasReaderRoom() const {
  return !idle_readers_.empty() || open_readers_ < options_.max_connections;
}

absl::StatusOr<std::unique_ptr<SqliteDatabase::Connection>> SqliteDatabase::AcquireReader() {
  bool for_call = false;
  const absl::Time deadline = internal::ConnectionWaitDeadline(options_, &for_call);
  {
    absl::MutexLock lock(&pool_mu_);
    if (!pool_mu_.AwaitWithDeadline(absl::Condition(this, &SqliteDatabase::HasReaderRoom),
                                    deadline)) {
      return internal::PoolExhausted(kStore, "SQLite reader", options_, for_call);
    }
    internal::AddConnectionsInUse(kStore, 1);
    if (!idle_readers_.empty()) {
      std::unique_ptr<Connection> reader = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return reader;
    }
    ++open_readers_;  // this place is ours while we open, below
    internal::AddOpenConnections(kStore, 1);
  }
  absl::StatusOr<std::unique_ptr<Connection>> connected = Connect();
  if (!connected.ok()) {
    internal::AddConnectionsInUse(kStore, -1);
    internal::AddOpenConnections(kStore, -1);
    absl::MutexLock lock(&pool_mu_);
    --open_readers_;
  }
  return connected;
}

void SqliteDatabase::ReleaseReader(std::unique_ptr<Connection> reader) {
  internal::AddConnectionsInUse(kStore, -1);
  absl::MutexLock lock(&pool_mu_);
  idle_readers_.push_back(std::move(reader));
}

absl::Status SqliteDatabase::Migrate(absl::string_view component,
                                     const std::vector<Migration>& migrations,
                                     MigrationReport* report) {
  absl::MutexLock lock(&write_mu_);
  MigrationReport done;
  absl::Status migrated =
      InTransaction(*writer_, "BEGIN IMMEDIATE", [&](Session& session) -> absl::Status {
        absl::Status status = writer_->ExecScript(
            "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, "
            "version INTEGER NOT NULL, PRIMARY KEY (component, version))");
        if (!status.ok()) {
          return status;
        }
        absl::StatusOr<std::vector<Row>> found = session.Query(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = $1",
            {std::string(component)});
        if (!found.ok()) {
          return found.status();
        }
        done.found_version = static_cast<int>((*found)[0].Int(0));
        done.version = done.found_version;
        if (status = internal::CheckSchemaNotNewer(component, done.found_version, migrations);
            !status.ok()) {
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
          done.applied.push_back(m.version);
          done.version = std::max(done.version, m.version);
        }
        return absl::OkStatus();
      });
  if (migrated.ok() && report != nullptr) {
    *report = std::move(done);
  }
  return migrated;
}

}  // namespace covtrack::sql
