// The request-id ledger (common/sql/request_ledger.h), on SQLite and on PostgreSQL.
#include "common/sql/request_ledger.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "covtrack/v1/common.pb.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace covtrack::sql {
namespace {

using ::covtrack::testing::IsOk;
using ::covtrack::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Optional;

TEST(RequestFingerprintTest, IsTheSha256OfTheContent) {
  EXPECT_EQ(RequestFingerprint("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_NE(RequestFingerprint("abc"), RequestFingerprint("abd"));
}

TEST(RequestFingerprintTest, OfAMessageIsStableAndTellsContentApart) {
  v1::AdminUnit unit;
  unit.set_code("82");
  unit.set_name("Tỉnh Đồng Tháp");
  v1::AdminUnit same = unit;
  EXPECT_EQ(RequestFingerprint(unit), RequestFingerprint(same));
  EXPECT_EQ(RequestFingerprint(unit), RequestFingerprint(unit.SerializeAsString()));
  same.set_valid_from("2025-07-01");
  EXPECT_NE(RequestFingerprint(unit), RequestFingerprint(same));
}

class RequestLedgerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::optional<std::string> url = testing::NewStoreUrl(GetParam());
    COVTRACK_REQUIRE_SERVER(url, "PostgreSQL");
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(*url);
    ASSERT_THAT(db, IsOk());
    db_ = std::move(*db);
    ASSERT_THAT(db_->Migrate("ledger_test", {{1,
                                              "CREATE TABLE writes (request_id TEXT PRIMARY KEY, "
                                              "fingerprint TEXT NOT NULL, response TEXT NOT NULL);"
                                              "CREATE TABLE things (n BIGINT NOT NULL);"}}),
                IsOk());
  }

  // One write transaction: a row in `things` and the answer `answer`, once per request_id.
  absl::StatusOr<RequestLedger::Answer> Write(const std::string& request_id,
                                              const std::string& content, const std::string& answer,
                                              bool fail = false) {
    absl::StatusOr<RequestLedger::Answer> result = absl::UnknownError("not run");
    absl::Status status = db_->Write([&](Session& s) -> absl::Status {
      result = ledger_.WriteOnce(
          s, request_id, RequestFingerprint(content), [&]() -> absl::StatusOr<std::string> {
            ++writes_;
            absl::Status inserted = s.Execute("INSERT INTO things (n) VALUES (1)", {}).status();
            if (!inserted.ok()) {
              return inserted;
            }
            if (fail) {
              return absl::InvalidArgumentError("records[0]: bad");
            }
            return answer;
          });
      return result.status();
    });
    if (!status.ok()) {
      return status;
    }
    return result;
  }

  absl::StatusOr<std::optional<std::string>> Find(const std::string& request_id,
                                                  const std::string& content) {
    std::optional<std::string> found;
    absl::Status status = db_->Read([&](Session& s) -> absl::Status {
      absl::StatusOr<std::optional<std::string>> r =
          ledger_.Find(s, request_id, RequestFingerprint(content));
      if (!r.ok()) {
        return r.status();
      }
      found = *r;
      return absl::OkStatus();
    });
    if (!status.ok()) {
      return status;
    }
    return found;
  }

  int64_t Things() {
    int64_t n = -1;
    EXPECT_THAT(db_->Read([&](Session& s) -> absl::Status {
      absl::StatusOr<std::vector<Row>> rows = s.Query("SELECT COUNT(*) FROM things", {});
      if (!rows.ok()) {
        return rows.status();
      }
      n = (*rows)[0].Int(0);
      return absl::OkStatus();
    }),
                IsOk());
    return n;
  }

  std::unique_ptr<Database> db_;
  RequestLedger ledger_{"writes"};
  std::atomic<int> writes_{0};
};

TEST_P(RequestLedgerTest, ARetryGetsTheStoredAnswerAndWritesNothing) {
  // The answer's bytes survive as they are, NUL included.
  const std::string answer("seq\0=7", 6);
  absl::StatusOr<RequestLedger::Answer> first = Write("r-1", "report", answer);
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->response, answer);
  EXPECT_FALSE(first->replayed);
  EXPECT_THAT(Find("r-1", "report"), ::covtrack::testing::IsOk());
  EXPECT_THAT(*Find("r-1", "report"), Optional(answer));

  absl::StatusOr<RequestLedger::Answer> retry = Write("r-1", "report", "another answer");
  ASSERT_THAT(retry, IsOk());
  EXPECT_EQ(retry->response, answer);
  EXPECT_TRUE(retry->replayed);
  EXPECT_EQ(writes_, 1);
  EXPECT_EQ(Things(), 1);
}

TEST_P(RequestLedgerTest, TheSameIdForAnotherRequestIsAlreadyExists) {
  ASSERT_THAT(Write("r-1", "report", "a"), IsOk());
  EXPECT_THAT(Write("r-1", "another report", "b"),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("request_id \"r-1\" was already used for a different request")));
  EXPECT_THAT(Find("r-1", "another report"), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(writes_, 1);
  EXPECT_EQ(Things(), 1);
}

TEST_P(RequestLedgerTest, AFailedWriteLeavesTheIdFree) {
  EXPECT_THAT(Write("r-1", "report", "a", /*fail=*/true),
              StatusIs(absl::StatusCode::kInvalidArgument, "records[0]: bad"));
  EXPECT_THAT(*Find("r-1", "report"), std::nullopt);
  EXPECT_EQ(Things(), 0);
  // The corrected request goes through under the same id, with other content.
  absl::StatusOr<RequestLedger::Answer> corrected = Write("r-1", "corrected report", "b");
  ASSERT_THAT(corrected, IsOk());
  EXPECT_FALSE(corrected->replayed);
  EXPECT_EQ(Things(), 1);
}

TEST_P(RequestLedgerTest, ConcurrentWritersOfOneIdWriteOnce) {
  constexpr int kWriters = 6;
  std::vector<std::thread> threads;
  std::vector<absl::StatusOr<RequestLedger::Answer>> answers(kWriters,
                                                             absl::UnknownError("not run"));
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] { answers[i] = Write("same", "report", "answer"); });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  int replayed = 0;
  for (const auto& a : answers) {
    ASSERT_THAT(a, IsOk());
    EXPECT_EQ(a->response, "answer");
    replayed += a->replayed ? 1 : 0;
  }
  EXPECT_EQ(replayed, kWriters - 1);
  EXPECT_EQ(writes_, 1);
  EXPECT_EQ(Things(), 1);
}

INSTANTIATE_TEST_SUITE_P(Stores, RequestLedgerTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace covtrack::sql
