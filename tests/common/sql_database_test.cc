// The store layer's contract, on SQLite and on PostgreSQL.
#include "common/sql/database.h"

#include <gtest/gtest.h>

#include <thread>

#include "tests/testing/test_env.h"

namespace covtrack::sql {
namespace {

class DatabaseTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::optional<std::string> url = testing::SqliteStoreUrl();
    if (GetParam() == "postgresql") {
      url = testing::NewPostgresDatabase();
      COVTRACK_REQUIRE_SERVER(url, "PostgreSQL");
    }
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(*url);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Migrate("test", kMigrations).ok());
  }

  int64_t Count() {
    int64_t n = -1;
    EXPECT_TRUE(db_->Read([&](Session& s) -> absl::Status {
                     absl::StatusOr<std::vector<Row>> rows = s.Query("SELECT COUNT(*) FROM t", {});
                     if (!rows.ok()) {
                       return rows.status();
                     }
                     n = (*rows)[0].Int(0);
                     return absl::OkStatus();
                   }).ok());
    return n;
  }

  const std::vector<Migration> kMigrations = {
      {1, "CREATE TABLE t (k TEXT PRIMARY KEY, n BIGINT, x DOUBLE PRECISION)"},
      {2, "ALTER TABLE t ADD COLUMN note TEXT"},
  };
  std::unique_ptr<Database> db_;
};

TEST_P(DatabaseTest, BindsEveryTypeAndNullAndReadsThemBack) {
  ASSERT_TRUE(db_->Write([](Session& s) {
                   return s.Execute("INSERT INTO t (k, n, x, note) VALUES ($1, $2, $3, $4)",
                                    {std::string("ấp 'Mỹ' \"Tho\""), int64_t{9007199254740993},
                                     1234567.8912345678, std::monostate{}})
                       .status();
                 }).ok());
  ASSERT_TRUE(db_->Read([](Session& s) -> absl::Status {
                   // Placeholders may appear out of order and more than once.
                   absl::StatusOr<std::vector<Row>> rows = s.Query(
                       "SELECT k, n, x, note FROM t WHERE n = $2 AND k = $1 AND n >= $2",
                       {std::string("ấp 'Mỹ' \"Tho\""), int64_t{9007199254740993}});
                   EXPECT_TRUE(rows.ok()) << rows.status();
                   EXPECT_EQ(rows->size(), 1u);
                   const Row& r = (*rows)[0];
                   EXPECT_EQ(r.Text(0), "ấp 'Mỹ' \"Tho\"");
                   EXPECT_EQ(r.Int(1), 9007199254740993);
                   EXPECT_EQ(r.Double(2), 1234567.8912345678);  // every digit survives
                   EXPECT_TRUE(r.IsNull(3));
                   return absl::OkStatus();
                 }).ok());
}

TEST_P(DatabaseTest, AFailedTransactionLeavesNothingBehind) {
  absl::Status status = db_->Write([](Session& s) -> absl::Status {
    absl::Status inserted = s.Execute("INSERT INTO t (k, n) VALUES ($1, $2)",
                                      {std::string("a"), int64_t{1}}).status();
    EXPECT_TRUE(inserted.ok());
    return absl::InvalidArgumentError("records[1].participants: must not be negative");
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Count(), 0);

  // A statement error also rolls back what came before it in the transaction.
  status = db_->Write([](Session& s) -> absl::Status {
    absl::Status first = s.Execute("INSERT INTO t (k, n) VALUES ($1, $2)",
                                   {std::string("b"), int64_t{1}}).status();
    if (!first.ok()) {
      return first;
    }
    return s.Execute("INSERT INTO t (k, n) VALUES ($1, $2)", {std::string("b"), int64_t{2}})
        .status();  // duplicate key
  });
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(Count(), 0);
  // And the connection is usable afterwards.
  EXPECT_TRUE(db_->Write([](Session& s) {
                   return s.Execute("INSERT INTO t (k, n) VALUES ($1, $2)",
                                    {std::string("c"), int64_t{3}}).status();
                 }).ok());
  EXPECT_EQ(Count(), 1);
}

TEST_P(DatabaseTest, ExecuteCountsChangedRows) {
  ASSERT_TRUE(db_->Write([](Session& s) -> absl::Status {
                   for (int i = 0; i < 3; ++i) {
                     absl::StatusOr<int64_t> n = s.Execute(
                         "INSERT INTO t (k, n) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET "
                         "n = excluded.n WHERE t.n <> excluded.n",
                         {std::string("k"), int64_t{i < 2 ? 1 : 2}});
                     EXPECT_TRUE(n.ok());
                     EXPECT_EQ(*n, i == 1 ? 0 : 1) << "iteration " << i;
                   }
                   return absl::OkStatus();
                 }).ok());
}

TEST_P(DatabaseTest, MigrationsApplyOnceAndAgainIsANoOp) {
  EXPECT_TRUE(db_->Migrate("test", kMigrations).ok());
  // A new migration on top is applied; the old ones are not re-run (they would fail).
  std::vector<Migration> more = kMigrations;
  more.push_back({3, "CREATE INDEX t_n ON t (n)"});
  EXPECT_TRUE(db_->Migrate("test", more).ok());
  EXPECT_TRUE(db_->Migrate("test", more).ok());
  // A broken migration fails with its component and version, and is not recorded.
  more.push_back({4, "CREATE TABLE broken ("});
  absl::Status status = db_->Migrate("test", more);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("test migration 4"), absl::string_view::npos) << status;
}

TEST_P(DatabaseTest, ConcurrentWritersAreSerialised) {
  // Read-modify-write from several threads: without serialised writers, updates get lost.
  ASSERT_TRUE(db_->Write([](Session& s) {
                   return s.Execute("INSERT INTO t (k, n) VALUES ('counter', 0)", {}).status();
                 }).ok());
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
        EXPECT_TRUE(status.ok()) << status;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  ASSERT_TRUE(db_->Read([](Session& s) -> absl::Status {
                   absl::StatusOr<std::vector<Row>> rows =
                       s.Query("SELECT n FROM t WHERE k = 'counter'", {});
                   EXPECT_EQ((*rows)[0].Int(0), 100);
                   return absl::OkStatus();
                 }).ok());
}

INSTANTIATE_TEST_SUITE_P(Stores, DatabaseTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

TEST(DatabaseOpenTest, RejectsAnUnknownUrlWithAHint) {
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open("mysql://x");
  EXPECT_EQ(db.status().code(), absl::StatusCode::kInvalidArgument);
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
  EXPECT_EQ(db.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(db.status().message().find("--store"), absl::string_view::npos);
}

}  // namespace
}  // namespace covtrack::sql
