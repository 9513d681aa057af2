// The store layer's contract, on SQLite and on PostgreSQL.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/call_context.h"
#include "common/metrics/metrics.h"
#include "common/sql/database.h"
#include "common/sql/sqlite_database.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace covtrack::sql {
namespace {

using ::covtrack::testing::IsOk;
using ::covtrack::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

class DatabaseTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::optional<std::string> url = testing::NewStoreUrl(GetParam());
    COVTRACK_REQUIRE_SERVER(url, "PostgreSQL");
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

// SQLite's store writes a parameter that comes next in order as a bare ?, and any other as ?N:
// each still binds its own value, in whatever order and as often as the statement names it.
TEST_P(DatabaseTest, ParametersInOrderRepeatedOrOutOfOrderEachBindTheirOwnValue) {
  ASSERT_THAT(db_->Read([](Session& s) -> absl::Status {
    absl::StatusOr<std::vector<Row>> rows = s.Query(
        "SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($1 AS TEXT), CAST($4 AS TEXT), "
        "CAST($3 AS TEXT), CAST($5 AS TEXT)",
        {std::string("a"), std::string("b"), std::string("c"), std::string("d"), std::string("e")});
    if (!rows.ok()) {
      return rows.status();
    }
    if (rows->size() != 1) {
      return absl::InternalError("expected one row");
    }
    const Row& r = (*rows)[0];
    EXPECT_EQ(std::vector<std::string>(
                  {r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Text(4), r.Text(5)}),
              std::vector<std::string>({"a", "b", "a", "d", "c", "e"}));
    return absl::OkStatus();
  }),
              IsOk());
}

TEST_P(DatabaseTest, ADollarAndDigitInQuotedTextIsTextNotAParameter) {
  ASSERT_THAT(db_->Read([](Session& s) -> absl::Status {
    absl::StatusOr<std::vector<Row>> rows =
        s.Query("SELECT 'costs $1, it''s $2' AS \"$1\", CAST($1 AS TEXT)", {std::string("x")});
    EXPECT_TRUE(rows.ok()) << rows.status();
    EXPECT_EQ(rows->size(), 1u);
    EXPECT_EQ((*rows)[0].Text(0), "costs $1, it's $2");
    EXPECT_EQ((*rows)[0].Text(1), "x");
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

TEST_P(DatabaseTest, RefusesTextWithANulByteOrInvalidUtf8AndStoresNothing) {
  // PostgreSQL would keep "X" of "X\0A" (libpq passes C strings) and refuse "\xFF"; SQLite
  // would keep both. Both stores refuse both, the same way.
  for (const std::string& bad : {std::string("X\0A", 3), std::string("28252\0", 6),
                                 std::string("a\xFFz"), std::string("\xC3\x28")}) {
    absl::Status status = db_->Write([&](Session& s) {
      return s.Execute("INSERT INTO t (k, n) VALUES ($1, $2)", {bad, int64_t{1}}).status();
    });
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("parameter $1")))
        << absl::CHexEscape(bad);
    // In a read, too: "X\0B" must not find "X".
    absl::Status read = db_->Read(
        [&](Session& s) { return s.Query("SELECT k FROM t WHERE k = $1", {bad}).status(); });
    EXPECT_THAT(read, StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_EQ(Count(), 0);
}

TEST_P(DatabaseTest, ErrorsSayWhatFailedWithoutTheSqlOrTheServer) {
  // A statement the store cannot run, and a write that breaks the primary key.
  absl::Status bad_sql = db_->Read([](Session& s) {
    return s.Query("SELECT secret_column FROM no_such_table WHERE k = $1", {std::string("x")})
        .status();
  });
  EXPECT_THAT(bad_sql, StatusIs(absl::StatusCode::kInternal,
                                AllOf(HasSubstr("could not run a statement"),
                                      Not(HasSubstr("no_such_table")), Not(HasSubstr("SELECT")),
                                      Not(HasSubstr("secret_column")))));
  auto insert = [](Session& s) {
    return s.Execute("INSERT INTO t (k) VALUES ($1)", {std::string("dup")}).status();
  };
  ASSERT_THAT(db_->Write(insert), IsOk());
  absl::Status duplicate = db_->Write(insert);
  EXPECT_THAT(duplicate, StatusIs(absl::StatusCode::kInternal,
                                  AllOf(HasSubstr("constraint"), Not(HasSubstr("INSERT")),
                                        Not(HasSubstr("t_pkey")), Not(HasSubstr("dup")))));
  // In a served call, the message names the call's x-request-id, which the log line carries.
  {
    ScopedCall call({"/test/Call", "req-4242", nullptr});
    absl::Status again = db_->Write(insert);
    EXPECT_THAT(again, StatusIs(absl::StatusCode::kInternal, HasSubstr("req-4242")));
  }
}

TEST_P(DatabaseTest, MigrateSaysWhatItAppliedAndThenThatNothingWasLeft) {
  // SetUp applied 1 and 2; a third arrives with the next release.
  std::vector<Migration> next = kMigrations;
  next.push_back({3, "CREATE TABLE u (k TEXT PRIMARY KEY)"});
  MigrationReport report;
  ASSERT_THAT(db_->Migrate("test", next, &report), IsOk());
  EXPECT_EQ(report.found_version, 2);
  EXPECT_EQ(report.applied, std::vector<int>{3});
  EXPECT_EQ(report.version, 3);
  EXPECT_EQ(DescribeMigration("test", "sqlite:x.db", report),
            "the test store sqlite:x.db was at schema version 2; applied migration 3; now at "
            "version 3");
  ASSERT_THAT(db_->Migrate("test", next, &report), IsOk());
  EXPECT_TRUE(report.applied.empty());
  EXPECT_EQ(DescribeMigration("test", "sqlite:x.db", report),
            "the test store sqlite:x.db is at schema version 3, the newest this binary knows: "
            "nothing to apply");
}

TEST_P(DatabaseTest, ASchemaNewerThanTheBinaryKnowsIsRefusedNamingBothVersions) {
  // The store is at version 2 (SetUp); a binary of the release before knows only version 1.
  const std::vector<Migration> older = {kMigrations[0]};
  absl::Status status = db_->Migrate("test", older);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kFailedPrecondition,
                               AllOf(HasSubstr("schema is at version 2"),
                                     HasSubstr("this binary knows (version 1)"),
                                     HasSubstr("roll forward"), HasSubstr("restore the backup"))));
  // Another component's versions are its own business.
  EXPECT_THAT(db_->Migrate("other", {{1, "CREATE TABLE other_t (k TEXT)"}}), IsOk());
}

// More transactions at once than the pool holds: the excess waits, then fails UNAVAILABLE
// naming the pool; the connections all come back; the next transaction gets one.
TEST_P(DatabaseTest, ThePoolBoundsConnectionsAndTheExcessFailsCleanlyAfterItsWait) {
  std::optional<std::string> url = testing::NewStoreUrl(GetParam());
  COVTRACK_REQUIRE_SERVER(url, "PostgreSQL");
  constexpr int kBound = 4;
  constexpr int kCalls = 12;
  absl::StatusOr<std::unique_ptr<Database>> bounded =
      Database::Open(*url, StoreOptions{kBound, absl::Milliseconds(300)});
  ASSERT_THAT(bounded, IsOk());
  Database& db = **bounded;
  ASSERT_THAT(db.Migrate("test", kMigrations), IsOk());
  const std::string store = GetParam();
  metrics::Counter& exhausted =
      metrics::Registry::Global().AddCounter("covtrack_store_pool_exhausted_total", "", {"store"});
  metrics::Gauge& in_use =
      metrics::Registry::Global().AddGauge("covtrack_store_connections_in_use", "", {"store"});
  const double exhausted_before = exhausted.Value({store});
  const double in_use_before = in_use.Value({store});

  absl::Notification release;
  std::atomic<int> holding{0};
  std::atomic<int> refused{0};
  std::vector<absl::Status> results(kCalls);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      results[i] = db.Read([&](Session& s) {
        ++holding;
        release.WaitForNotification();  // holds its connection until the test lets go
        return s.Query("SELECT COUNT(*) FROM t", {}).status();
      });
      if (absl::IsUnavailable(results[i])) {
        ++refused;
      }
    });
  }
  const bool settled = testing::Eventually(
      [&] { return refused.load() == kCalls - kBound && holding.load() == kBound; },
      absl::Seconds(30));
  EXPECT_TRUE(settled) << holding.load() << " holding, " << refused.load() << " refused";
  if (GetParam() == "postgresql") {
    // The server sees no more than the bound (the test's own admin connection aside).
    absl::StatusOr<std::unique_ptr<Database>> admin = Database::Open(*url);
    ASSERT_THAT(admin, IsOk());
    int64_t backends = -1;
    ASSERT_THAT((*admin)->Read([&](Session& s) -> absl::Status {
      auto rows = s.Query(
          "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND "
          "pid <> pg_backend_pid()",
          {});
      if (!rows.ok()) {
        return rows.status();
      }
      backends = (*rows)[0].Int(0);
      return absl::OkStatus();
    }),
                IsOk());
    EXPECT_EQ(backends, kBound);
  }
  release.Notify();
  for (std::thread& t : threads) {
    t.join();
  }
  int ok = 0;
  for (const absl::Status& status : results) {
    if (status.ok()) {
      ++ok;
      continue;
    }
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable,
                                 AllOf(HasSubstr(absl::StrCat("connection free in the pool of ",
                                                              kBound, " within 300ms")),
                                       HasSubstr("--store_max_connections"))));
  }
  EXPECT_EQ(ok, kBound);
  EXPECT_EQ(exhausted.Value({store}) - exhausted_before, kCalls - kBound);
  // Every connection came back: none is in use, and a new transaction gets one at once.
  EXPECT_EQ(in_use.Value({store}), in_use_before);
  EXPECT_THAT(db.Read([](Session& s) { return s.Query("SELECT 1", {}).status(); }), IsOk());
}

TEST_P(DatabaseTest, ATransactionWaitsForAConnectionToComeFree) {
  std::optional<std::string> url = testing::NewStoreUrl(GetParam());
  COVTRACK_REQUIRE_SERVER(url, "PostgreSQL");
  absl::StatusOr<std::unique_ptr<Database>> bounded =
      Database::Open(*url, StoreOptions{1, absl::Seconds(60)});
  ASSERT_THAT(bounded, IsOk());
  Database& db = **bounded;
  absl::Notification first_holds;
  absl::Notification release;
  std::atomic<bool> first_holding{false};
  std::thread first([&] {
    EXPECT_THAT(db.Read([&](Session&) {
      first_holding = true;
      first_holds.Notify();
      release.WaitForNotification();
      first_holding = false;
      return absl::OkStatus();
    }),
                IsOk());
  });
  first_holds.WaitForNotification();
  std::thread second([&] {
    // With one connection, the second gets it only once the first has let go.
    EXPECT_THAT(db.Read([&](Session&) {
      EXPECT_FALSE(first_holding.load()) << "two transactions held connections at once";
      return absl::OkStatus();
    }),
                IsOk());
  });
  absl::SleepFor(absl::Milliseconds(200));  // lets the second start waiting (not asserted)
  release.Notify();
  first.join();
  second.join();
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
  // libpq's message names the host and port: it goes to the log, not to the caller.
  EXPECT_THAT(db.status().message(), AllOf(Not(HasSubstr("127.0.0.1")), Not(HasSubstr("port"))));
}

// Overwrites one page in the middle of an SQLite file with garbage, as a disk error would.
void CorruptMiddlePage(const std::string& path) {
  const uintmax_t size = std::filesystem::file_size(path);
  constexpr uintmax_t kPage = 4096;
  ASSERT_GE(size, 8 * kPage) << "too small a file to have a middle";
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekp(static_cast<std::streamoff>((size / kPage / 2) * kPage));
  const std::string garbage(kPage, '\xA5');
  file.write(garbage.data(), garbage.size());
  ASSERT_TRUE(file.good());
}

TEST(DatabaseOpenTest, ASqliteFileDamagedInTheMiddleIsRefusedWithWhatToDo) {
  const std::string dir = testing::TempDir();
  const std::string path = dir + "/store.db";
  {
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open("sqlite:" + path);
    ASSERT_THAT(db, IsOk());
    ASSERT_THAT((*db)->Migrate("test", {{1, "CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)"}}),
                IsOk());
    ASSERT_THAT((*db)->Write([](Session& s) -> absl::Status {
      for (int i = 0; i < 3000; ++i) {
        absl::Status status = s.Execute("INSERT INTO t (k, v) VALUES ($1, $2)",
                                        {absl::StrCat("key-", i), std::string(200, 'v')})
                                  .status();
        if (!status.ok()) {
          return status;
        }
      }
      return absl::OkStatus();
    }),
                IsOk());
  }  // closed: the WAL is checkpointed into the file
  ASSERT_NO_FATAL_FAILURE(CorruptMiddlePage(path));
  absl::StatusOr<std::unique_ptr<Database>> reopened = Database::Open("sqlite:" + path);
  EXPECT_THAT(reopened, StatusIs(absl::StatusCode::kDataLoss,
                                 AllOf(HasSubstr(path), HasSubstr("is damaged"),
                                       HasSubstr("quick_check"), HasSubstr("latest backup"))));
}

// A commit that takes the WAL past SQLite's mark of 1,000 pages is copied into the database file
// by the store's checkpoint thread, not inside the COMMIT (whose caller had waited for it), and
// the file holds it while the store is still open.
TEST(SqliteCheckpointTest, AWriteThatFillsTheWalIsCopiedIntoTheFileBesideTheCommit) {
  const std::string path = testing::TempDir() + "/store.db";
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open("sqlite:" + path);
  ASSERT_THAT(db, IsOk());
  auto* sqlite = dynamic_cast<SqliteDatabase*>(db->get());
  ASSERT_NE(sqlite, nullptr);
  ASSERT_THAT((*db)->Migrate("test", {{1, "CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)"}}), IsOk());
  EXPECT_EQ(sqlite->WaitForCheckpoints(1, absl::ZeroDuration()), 0);  // a small WAL waits
  const uintmax_t before = std::filesystem::file_size(path);
  ASSERT_THAT((*db)->Write([](Session& s) -> absl::Status {
    for (int i = 0; i < 1500; ++i) {  // a page each, and more for the key's index
      absl::Status status = s.Execute("INSERT INTO t (k, v) VALUES ($1, $2)",
                                      {absl::StrCat("key-", i), std::string(3000, 'v')})
                                .status();
      if (!status.ok()) {
        return status;
      }
    }
    return absl::OkStatus();
  }),
              IsOk());
  EXPECT_EQ(sqlite->WaitForCheckpoints(1, absl::Minutes(1)), 1);
  EXPECT_GE(std::filesystem::file_size(path), before + 1000 * 4096);
}

// Readers that never leave the WAL all at once (each enters its read transaction before the
// one before it leaves, as the change feed's and other reads overlap under load) do not make
// it grow without end: the checkpoint thread holds writers back until the readers inside the
// WAL are done, and the next write starts the WAL over. Before, the WAL only ever grew (past
// 120 MB beside a 10 MB store in bench/load); here it would reach about 10,000 pages.
TEST(SqliteCheckpointTest, TheWalStartsOverWhileReadersAlwaysOverlap) {
  const std::string path = testing::TempDir() + "/store.db";
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open("sqlite:" + path);
  ASSERT_THAT(db, IsOk());
  ASSERT_THAT((*db)->Migrate("test", {{1, "CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)"}}), IsOk());

  // The relay: turn n enters its transaction (its first query takes the snapshot), and only
  // then does turn n - 1 leave. Two threads take the turns in alternation.
  absl::Mutex mu;
  int entered = -1;  // the latest turn inside its transaction
  bool writes_done = false;
  auto reader = [&](int first_turn) {
    for (int turn = first_turn;; turn += 2) {
      {
        absl::MutexLock lock(&mu);
        auto my_turn = [&] { return entered == turn - 1 || writes_done; };
        mu.Await(absl::Condition(&my_turn));
        if (writes_done) {
          return;
        }
      }
      EXPECT_THAT((*db)->Read([&](Session& s) -> absl::Status {
        absl::Status read = s.Query("SELECT COUNT(*) FROM t", {}).status();
        absl::MutexLock lock(&mu);
        entered = turn;
        auto next_entered = [&] { return entered > turn || writes_done; };
        mu.Await(absl::Condition(&next_entered));
        return read;
      }),
                  IsOk());
    }
  };
  std::thread first(reader, 0);
  std::thread second(reader, 1);

  constexpr int kWrites = 100;  // about 100 pages each: 10,000 pages in all
  uintmax_t largest_wal = 0;
  absl::Status written;  // the readers are stopped before it is asserted
  for (int w = 0; w < kWrites && written.ok(); ++w) {
    written = (*db)->Write([&](Session& s) -> absl::Status {
      for (int i = 0; i < 100; ++i) {
        absl::Status status = s.Execute("INSERT INTO t (k, v) VALUES ($1, $2)",
                                        {absl::StrCat("key-", w, "-", i), std::string(3000, 'v')})
                                  .status();
        if (!status.ok()) {
          return status;
        }
      }
      return absl::OkStatus();
    });
    largest_wal = std::max(largest_wal, std::filesystem::file_size(path + "-wal"));
    // Writes arrive as calls do, not back to back: the checkpoint thread gets its turn.
    absl::SleepFor(absl::Milliseconds(2));
  }
  {
    absl::MutexLock lock(&mu);
    writes_done = true;
  }
  first.join();
  second.join();
  ASSERT_THAT(written, IsOk());
  // Twice the mark (1,000 pages of 4 KiB and a header each), when the WAL is started over, the
  // writes made while the checkpoint waited for its turn, and room to spare; far below the
  // 10,000 pages written.
  EXPECT_LT(largest_wal, 4000u * (4096 + 24));
}

}  // namespace
}  // namespace covtrack::sql
