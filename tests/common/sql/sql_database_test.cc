// The store layer's contract, on SQLite and on PostgreSQL.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/sql/database.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace covtrack::sql {
namespace {

using ::covtrack::testing::IsOk;
using ::covtrack::testing::StatusIs;

class DatabaseTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::optional<std::string> url = testing::SqliteStoreUrl();
    if (GetParam() == "postgresql") {
      url = testing::NewPostgresDatabase();
      COVTRACK_REQUIRE_SERVER(url, "PostgreSQL");
    }
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(*url);
    ASSERT_THAT(db, IsOk());
    db_ = std::move(*db);
    ASSERT_THAT(db_->Migrate("test", kMigrations), IsOk());
  }

  int64_t Count() {
    int64_t n = -1;
    EXPECT_THAT(db_->Read([&](Session& s) -> absl::Status {
      absl::StatusOr<std::vector<Row>> rows = s.Query("SELECT COUNT(*) FROM t", {});
      if (!rows.ok()) {
        return rows.status();
      }
      n = (*rows)[0].Int(0);
      return absl::OkStatus();
    }),
                IsOk());
    return n;
  }

  const std::vector<Migration> kMigrations = {
      {1, "CREATE TABLE t (k TEXT PRIMARY KEY, n BIGINT, x DOUBLE PRECISION)"},
      {2, "ALTER TABLE t ADD COLUMN note TEXT"},
  };
  std::unique_ptr<Database> db_;
};

TEST_P(DatabaseTest, BindsEveryTypeAndNullAndReadsThemBack) {
  ASSERT_THAT(db_->Write([](Session& s) {
    return s
        .Execute("INSERT INTO t (k, n, x, note) VALUES ($1, $2, $3, $4)",
                 {std::string("ấp 'Mỹ' \"Tho\""), int64_t{9007199254740993}, 1234567.8912345678,
                  std::monostate{}})
        .status();
  }),
              IsOk());
  ASSERT_THAT(db_->Read([](Session& s) -> absl::Status {
    // Placeholders may appear out of order and more than once.
    absl::StatusOr<std::vector<Row>> rows =
        s.Query("SELECT k, n, x, note FROM t WHERE n = $2 AND k = $1 AND n >= $2",
                {std::string("ấp 'Mỹ' \"Tho\""), int64_t{9007199254740993}});
    EXPECT_TRUE(rows.ok()) << rows.status();
    EXPECT_EQ(rows->size(), 1u);
    const Row& r = (*rows)[0];
    EXPECT_EQ(r.Text(0), "ấp 'Mỹ' \"Tho\"");
    EXPECT_EQ(r.Int(1), 9007199254740993);
    EXPECT_EQ(r.Double(2), 1234567.8912345678);  // every digit survives
    EXPECT_TRUE(r.IsNull(3));
    return absl::OkStatus();
  }),
              IsOk());
}

TEST_P(DatabaseTest, AFailedTransactionLeavesNothingBehind) {
  absl::Status status = db_->Write([](Session& s) -> absl::Status {
    absl::Status inserted =
        s.Execute("INSERT INTO t (k, n) VALUES ($1, $2)", {std::string("a"), int64_t{1}}).status();
    EXPECT_THAT(inserted, IsOk());
    return absl::InvalidArgumentError("records[1].participants: must not be negative");
  });
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(Count(), 0);

  // A statement error also rolls back what came before it in the transaction.
  status = db_->Write([](Session& s) -> absl::Status {
    absl::Status first =
        s.Execute("INSERT INTO t (k, n) VALUES ($1, $2)", {std::string("b"), int64_t{1}}).status();
    if (!first.ok()) {
      return first;
    }
    return s.Execute("INSERT INTO t (k, n) VALUES ($1, $2)", {std::string("b"), int64_t{2}})
        .status();  // duplicate key
  });
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(Count(), 0);
  // And the connection is usable afterwards.
  EXPECT_THAT(db_->Write([](Session& s) {
    return s.Execute("INSERT INTO t (k, n) VALUES ($1, $2)", {std::string("c"), int64_t{3}})
        .status();
  }),
              IsOk());
  EXPECT_EQ(Count(), 1);
}

TEST_P(DatabaseTest, ExecuteCountsChangedRows) {
  ASSERT_THAT(db_->Write([](Session& s) -> absl::Status {
    for (int i = 0; i < 3; ++i) {
      absl::StatusOr<int64_t> n = s.Execute(
          "INSERT INTO t (k, n) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET "
          "n = excluded.n WHERE t.n <> excluded.n",
          {std::string("k"), int64_t{i < 2 ? 1 : 2}});
      EXPECT_TRUE(n.ok());
      EXPECT_EQ(*n, i == 1 ? 0 : 1) << "iteration " << i;
    }
    return absl::OkStatus();
  }),
              IsOk());
}

TEST_P(DatabaseTest, MigrationsApplyOnceAndAgainIsANoOp) {
  EXPECT_THAT(db_->Migrate("test", kMigrations), IsOk());
  // A new migration on top is applied; the old ones are not re-run (they would fail).
  std::vector<Migration> more = kMigrations;
  more.push_back({3, "CREATE INDEX t_n ON t (n)"});
  EXPECT_THAT(db_->Migrate("test", more), IsOk());
  EXPECT_THAT(db_->Migrate("test", more), IsOk());
  // A broken migration fails with its component and version, and is not recorded.
  more.push_back({4, "CREATE TABLE broken ("});
  absl::Status status = db_->Migrate("test", more);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("test migration 4"), absl::string_view::npos) << status;
}

TEST_P(DatabaseTest, ConcurrentWritersAreSerialised) {
  // Read-modify-write from several threads: without serialised writers, updates get lost.
  ASSERT_THAT(db_->Write([](Session& s) {
    return s.Execute("INSERT INTO t (k, n) VALUES ('counter', 0)", {}).status();
  }),
              IsOk());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        absl::Status status = db_->Write([](Session& s) -> absl::Status {
          absl::StatusOr<std::vector<Row>> rows = s.Query(
              std::string("SELECT n FROM t WHERE k = 'counter'") + std::string(s.ForUpdate()), {});
          if (!rows.ok()) {
            return rows.status();
          }
          return s.Execute("UPDATE t SET n = $1 WHERE k = 'counter'", {(*rows)[0].Int(0) + 1})
              .status();
        });
        EXPECT_THAT(status, IsOk());
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  ASSERT_THAT(db_->Read([](Session& s) -> absl::Status {
    absl::StatusOr<std::vector<Row>> rows = s.Query("SELECT n FROM t WHERE k = 'counter'", {});
    EXPECT_EQ((*rows)[0].Int(0), 100);
    return absl::OkStatus();
  }),
              IsOk());
}

INSTANTIATE_TEST_SUITE_P(Stores, DatabaseTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

// Connections that PostgreSQL ends under the store: a restart, an administrator, a failover.
class PostgresConnectionLossTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = testing::NewPostgresDatabase();
    COVTRACK_REQUIRE_SERVER(url_, "PostgreSQL");
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(*url_);
    ASSERT_THAT(db, IsOk());
    db_ = std::move(*db);
    ASSERT_THAT(db_->Migrate("test", {{1, "CREATE TABLE t (k TEXT PRIMARY KEY)"}}), IsOk());
    absl::StatusOr<std::unique_ptr<Database>> admin = Database::Open(*url_);
    ASSERT_THAT(admin, IsOk());
    admin_ = std::move(*admin);
  }

  // Ends every other connection to the test's database (as a server restart would), and
  // waits (bounded) until they are gone.
  void TerminateOtherConnections() {
    absl::Status status = admin_->Write([](Session& s) {
      return s
          .Query(
              "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
              "WHERE datname = current_database() AND pid <> pg_backend_pid()",
              {})
          .status();
    });
    ASSERT_THAT(status, IsOk());
    for (int i = 0; i < 500; ++i) {
      int64_t others = -1;
      ASSERT_THAT(admin_->Read([&](Session& s) -> absl::Status {
        auto rows = s.Query(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE "
            "datname = current_database() AND pid <> pg_backend_pid()",
            {});
        if (!rows.ok()) {
          return rows.status();
        }
        others = (*rows)[0].Int(0);
        return absl::OkStatus();
      }),
                  IsOk());
      if (others == 0) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "the terminated connections are still there after 5 s";
  }

  absl::Status Insert(const std::string& key) {
    return db_->Write(
        [&](Session& s) { return s.Execute("INSERT INTO t (k) VALUES ($1)", {key}).status(); });
  }

  std::optional<std::string> url_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Database> admin_;
};

TEST_F(PostgresConnectionLossTest, PooledConnectionsEndedByTheServerAreReplacedBeforeTheNextCall) {
  // Three connections in the pool (each nested transaction takes one of its own).
  ASSERT_THAT(db_->Read([&](Session&) {
    return db_->Read([&](Session&) {
      return db_->Read([](Session& s) { return s.Query("SELECT 1", {}).status(); });
    });
  }),
              IsOk());
  ASSERT_NO_FATAL_FAILURE(TerminateOtherConnections());

  // The first calls afterwards succeed: a writer and a reader, each handed a live connection.
  EXPECT_THAT(Insert("after-restart"), IsOk());
  absl::Status read = db_->Read([](Session& s) { return s.Query("SELECT k FROM t", {}).status(); });
  EXPECT_THAT(read, IsOk());
}

TEST_F(PostgresConnectionLossTest, AConnectionLostInsideATransactionIsUnavailableAndRolledBack) {
  absl::Status status = db_->Write([](Session& s) -> absl::Status {
    absl::Status inserted =
        s.Execute("INSERT INTO t (k) VALUES ($1)", {std::string("lost")}).status();
    EXPECT_THAT(inserted, IsOk());
    // The server ends this very connection mid-transaction (as a fast shutdown does).
    return s.Query("SELECT pg_terminate_backend(pg_backend_pid())", {}).status();
  });
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));

  // Nothing of it was committed, and the next write works.
  EXPECT_THAT(Insert("next"), IsOk());
  int64_t rows = -1;
  ASSERT_THAT(db_->Read([&](Session& s) -> absl::Status {
    auto result = s.Query("SELECT COUNT(*) FROM t WHERE k = 'lost'", {});
    if (!result.ok()) {
      return result.status();
    }
    rows = (*result)[0].Int(0);
    return absl::OkStatus();
  }),
              IsOk());
  EXPECT_EQ(rows, 0);
}

TEST(DatabaseOpenTest, APostgresThatNeverAnswersIsUnavailableNotAHang) {
  // A port that accepts TCP connections (the kernel does, into the backlog) but never speaks:
  // without a connect timeout, libpq would wait for the server's first message forever.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(fd, 16), 0);
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  const std::string url =
      absl::StrCat("postgresql://postgres@127.0.0.1:", ntohs(address.sin_port), "/none");
  auto opened = std::async(std::launch::async, [&] { return Database::Open(url).status(); });
  // Bounded: if Open is still waiting after 30 s, closing the port resets the connection and
  // releases it, and the test fails instead of hanging.
  const bool answered = opened.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  close(fd);
  EXPECT_TRUE(answered) << "Open() was still waiting for a silent server after 30 s";
  EXPECT_THAT(opened.get(), StatusIs(absl::StatusCode::kUnavailable));
}

TEST(DatabaseOpenTest, RejectsAnUnknownUrlWithAHint) {
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open("mysql://x");
  EXPECT_THAT(db, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(db.status().message().find("sqlite:PATH"), absl::string_view::npos);
}

TEST(DatabaseOpenTest, RedactsPasswordsFromUrls) {
  EXPECT_EQ(RedactedUrl("postgresql://covtrack:s3cret@db:5432/covtrack?sslmode=require"),
            "postgresql://covtrack:***@db:5432/covtrack?sslmode=require");
  EXPECT_EQ(RedactedUrl("postgresql://covtrack@db/covtrack"), "postgresql://covtrack@db/covtrack");
  EXPECT_EQ(RedactedUrl("sqlite:var/x.db"), "sqlite:var/x.db");
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open("mysql://u:pw@h/db");
  EXPECT_EQ(db.status().message().find("pw"), absl::string_view::npos) << db.status();
}

TEST(DatabaseOpenTest, AnUnreachablePostgresIsUnavailable) {
  absl::StatusOr<std::unique_ptr<Database>> db =
      Database::Open("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2");
  EXPECT_THAT(db, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_NE(db.status().message().find("--store"), absl::string_view::npos);
}

}  // namespace
}  // namespace covtrack::sql
