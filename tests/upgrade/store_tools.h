#pragma once

// What an operator does to a store from outside the services, for the upgrade and backup tests:
// load an SQL file, run a statement, back up, wipe, restore, dump. A store is named by its
// --store URL ("sqlite:PATH" or "postgresql://..."). SQLite goes through its C API (its online
// backup API is what the sqlite3 shell's .backup runs); PostgreSQL through psql, pg_dump and
// pg_restore from PostgresBinDir(). `log` collects the tools' output.

#include <string>

#include "absl/status/status.h"

namespace covtrack::upgrade {

bool IsSqlite(const std::string& url);
std::string SqlitePath(const std::string& url);  // "sqlite:PATH" -> PATH

absl::Status LoadSqlFile(const std::string& url, const std::string& sql_file,
                         const std::string& log);
absl::Status ExecSql(const std::string& url, const std::string& sql, const std::string& log);
// SQLite: an online backup (the services may be running); PostgreSQL: pg_dump -Fc.
absl::Status BackupStore(const std::string& url, const std::string& backup_file,
                         const std::string& log);
// Drops everything the store holds (SQLite: deletes the file, its WAL and shared memory;
// PostgreSQL: the public schema and all in it).
absl::Status WipeStore(const std::string& url, const std::string& log);
// Into a wiped (or new) store, with the services stopped. PostgreSQL: pg_restore.
absl::Status RestoreStore(const std::string& url, const std::string& backup_file,
                          const std::string& log);
// A plain SQL dump (sqlite3 .dump, which needs the sqlite3 shell; pg_dump --no-owner).
absl::Status DumpStore(const std::string& url, const std::string& sql_file, const std::string& log);

std::string ReadFile(const std::string& path);

}  // namespace covtrack::upgrade
