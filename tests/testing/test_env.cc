#include "tests/testing/test_env.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace covtrack::testing {
namespace {

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

}  // namespace

std::string TempDir() {
  static std::atomic<int> counter{0};
  std::string root = Env("TEST_TMPDIR");
  if (root.empty()) {
    root = std::filesystem::temp_directory_path().string();
  }
  std::string dir = absl::StrCat(root, "/covtrack-test-", getpid(), "-", counter++);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string SqliteStoreUrl() { return absl::StrCat("sqlite:", TempDir(), "/store.db"); }

std::optional<std::string> NewStoreUrl(const std::string& engine) {
  return engine == "postgresql" ? NewPostgresDatabase() : SqliteStoreUrl();
}

std::optional<std::string> NewPostgresDatabase() {
  std::string admin_url =
      Env("COVTRACK_TEST_POSTGRES_URL");  // e.g. postgresql://postgres@127.0.0.1:5440/postgres
  if (admin_url.empty()) {
    return std::nullopt;
  }
  static std::atomic<int> counter{0};
  std::string name = absl::StrCat("covtrack_test_", getpid(), "_", counter++);
  PGconn* conn = PQconnectdb(admin_url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    PQfinish(conn);
    return std::nullopt;
  }
  PQclear(PQexec(conn, absl::StrCat("DROP DATABASE IF EXISTS ", name).c_str()));
  PGresult* created = PQexec(conn, absl::StrCat("CREATE DATABASE ", name).c_str());
  bool ok = PQresultStatus(created) == PGRES_COMMAND_OK;
  PQclear(created);
  PQfinish(conn);
  if (!ok) {
    return std::nullopt;
  }
  // Replace the database name: the part after the last '/' (before any '?').
  size_t query = admin_url.find('?');
  std::string base = admin_url.substr(0, query);
  std::string params = query == std::string::npos ? "" : admin_url.substr(query);
  return absl::StrCat(base.substr(0, base.rfind('/') + 1), name, params);
}

std::optional<std::string> RedisAddress() {
  std::string address = Env("COVTRACK_TEST_REDIS");
  if (address.empty()) {
    return std::nullopt;
  }
  return address;
}

bool ServersRequired() { return Env("COVTRACK_REQUIRE_SERVERS") == "1"; }

}  // namespace covtrack::testing
