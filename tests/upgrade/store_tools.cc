#include "tests/upgrade/store_tools.h"

#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "tests/integration/processes.h"

namespace covtrack::upgrade {
namespace {

constexpr absl::Duration kToolTimeout = absl::Seconds(120);

absl::Status PostgresTool(const std::string& tool, std::vector<std::string> args,
                          const std::string& log) {
  std::optional<std::string> bin = testing::PostgresBinDir();
  if (!bin.has_value()) {
    return absl::FailedPreconditionError("PostgreSQL's programs are not installed");
  }
  args.insert(args.begin(), absl::StrCat(*bin, "/", tool));
  return testing::RunCommand(args, log, kToolTimeout);
}

// Runs fn on an open handle of the SQLite file and closes it.
absl::Status WithSqlite(const std::string& path, const std::function<int(sqlite3*)>& fn) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open(path.c_str(), &db);
  if (rc == SQLITE_OK) {
    rc = fn(db);
  }
  absl::Status status =
      rc == SQLITE_OK
          ? absl::OkStatus()
          : absl::InternalError(absl::StrCat(path, ": ", db ? sqlite3_errmsg(db) : "?"));
  sqlite3_close(db);
  return status;
}

// Copies every page of database `from` into `to` with the online backup API.
int CopyDatabase(sqlite3* from, sqlite3* to) {
  sqlite3_backup* backup = sqlite3_backup_init(to, "main", from, "main");
  if (backup == nullptr) {
    return sqlite3_errcode(to);
  }
  int rc;
  while ((rc = sqlite3_backup_step(backup, 64)) == SQLITE_OK || rc == SQLITE_BUSY ||
         rc == SQLITE_LOCKED) {
    if (rc != SQLITE_OK) {
      sqlite3_sleep(10);
    }
  }
  const int finished = sqlite3_backup_finish(backup);
  return rc == SQLITE_DONE ? finished : rc;
}

}  // namespace

bool IsSqlite(const std::string& url) { return absl::StartsWith(url, "sqlite:"); }
std::string SqlitePath(const std::string& url) { return url.substr(7); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Status LoadSqlFile(const std::string& url, const std::string& sql_file,
                         const std::string& log) {
  if (!std::filesystem::exists(sql_file)) {
    return absl::NotFoundError(absl::StrCat(sql_file, " does not exist"));
  }
  if (IsSqlite(url)) {
    return ExecSql(url, ReadFile(sql_file), log);
  }
  return PostgresTool("psql", {"-q", "-v", "ON_ERROR_STOP=1", "-f", sql_file, url}, log);
}

absl::Status ExecSql(const std::string& url, const std::string& sql, const std::string& log) {
  if (IsSqlite(url)) {
    return WithSqlite(SqlitePath(url), [&](sqlite3* db) {
      return sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
    });
  }
  return PostgresTool("psql", {"-q", "-v", "ON_ERROR_STOP=1", "-c", sql, url}, log);
}

absl::Status BackupStore(const std::string& url, const std::string& backup_file,
                         const std::string& log) {
  if (IsSqlite(url)) {
    return WithSqlite(SqlitePath(url), [&](sqlite3* live) {
      sqlite3* copy = nullptr;
      int rc = sqlite3_open(backup_file.c_str(), &copy);
      if (rc == SQLITE_OK) {
        rc = CopyDatabase(live, copy);
      }
      sqlite3_close(copy);
      return rc;
    });
  }
  return PostgresTool("pg_dump", {"-Fc", "--no-owner", "-f", backup_file, url}, log);
}

absl::Status WipeStore(const std::string& url, const std::string& log) {
  if (IsSqlite(url)) {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::error_code error;
      std::filesystem::remove(SqlitePath(url) + suffix, error);
      if (error) {
        return absl::InternalError(absl::StrCat(SqlitePath(url), suffix, ": ", error.message()));
      }
    }
    return absl::OkStatus();
  }
  return ExecSql(url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public;", log);
}

absl::Status RestoreStore(const std::string& url, const std::string& backup_file,
                          const std::string& log) {
  if (IsSqlite(url)) {
    return WithSqlite(backup_file, [&](sqlite3* backup) {
      sqlite3* store = nullptr;
      int rc = sqlite3_open(SqlitePath(url).c_str(), &store);
      if (rc == SQLITE_OK) {
        rc = CopyDatabase(backup, store);
      }
      sqlite3_close(store);
      return rc;
    });
  }
  return PostgresTool("pg_restore", {"--no-owner", "--exit-on-error", "-d", url, backup_file}, log);
}

absl::Status DumpStore(const std::string& url, const std::string& sql_file,
                       const std::string& log) {
  std::filesystem::remove(sql_file);
  if (IsSqlite(url)) {
    // The shell writes the dump on stdout, which RunCommand appends to sql_file.
    return testing::RunCommand({"/usr/bin/sqlite3", SqlitePath(url), ".dump"}, sql_file,
                               kToolTimeout);
  }
  absl::Status dumped =
      PostgresTool("pg_dump", {"--no-owner", "--no-privileges", "-f", sql_file, url}, log);
  if (!dumped.ok()) {
    return dumped;
  }
  // pg_dump 15.14 and later fence the dump with \restrict and \unrestrict, which an older psql
  // refuses; the fixture loads without them on every psql 15.
  std::istringstream in(ReadFile(sql_file));
  std::string kept;
  for (std::string line; std::getline(in, line);) {
    if (!absl::StartsWith(line, "\\restrict ") && !absl::StartsWith(line, "\\unrestrict ")) {
      absl::StrAppend(&kept, line, "\n");
    }
  }
  std::ofstream out(sql_file, std::ios::binary | std::ios::trunc);
  out << kept;
  return out.good() ? absl::OkStatus()
                    : absl::InternalError(absl::StrCat("cannot write ", sql_file));
}

}  // namespace covtrack::upgrade
