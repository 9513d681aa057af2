// StreamReports' group commit (issue 15), on SQLite and PostgreSQL: several reports in one
// transaction, each in a savepoint of its own (IngestionStore::SubmitReports), and the stream
// over gRPC that groups them. A report refused inside a group is rolled back alone (its
// request_id's claim included) while the reports before it commit; a group whose transaction
// fails writes none of its reports; a stream refused in the middle counts, and a resend
// recognises, exactly the messages that were committed.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/sql/database.h"
#include "services/ingestion/ingestion_store.h"
#include "tests/testing/builders.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace covtrack {
namespace {

using ingestion::IngestionStore;
using ::testing::HasSubstr;
using testing::IsOk;
using testing::Record;
using testing::StatusIs;
using testing::Unit;
using v1::ADMIN_LEVEL_COMMUNE;
using v1::ADMIN_LEVEL_DISTRICT;
using v1::ADMIN_LEVEL_PROVINCE;

const ingestion::Sender kSender{"test-peer", "test"};

std::vector<v1::AdminUnit> Catalogue() {
  return {Unit("82", ADMIN_LEVEL_PROVINCE, ""), Unit("815", ADMIN_LEVEL_DISTRICT, "82"),
          Unit("28249", ADMIN_LEVEL_COMMUNE, "815")};
}

// A report of commune 28249 for month 2024-`n` (a unit no one ever held when `unknown`: refused
// by the store's check of units (NOT_FOUND), after the report has claimed its request_id).
v1::SubmitReportRequest Report(const std::string& id, int n, bool unknown = false) {
  v1::SubmitReportRequest request;
  request.set_request_id(id);
  *request.add_records() = Record("28249", absl::StrFormat("2024-%02d", n), v1::SCHEME_HEALTH, n);
  if (unknown) {
    *request.add_records() = Record("99999", absl::StrFormat("2024-%02d", n), v1::SCHEME_HEALTH, n);
  }
  return request;
}

class GroupCommitStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::optional<std::string> url = testing::NewStoreUrl(GetParam());
    COVTRACK_REQUIRE_SERVER(url, "PostgreSQL");
    absl::StatusOr<testing::StoreWithUnits> opened = testing::OpenStoreWithUnits(*url, Catalogue());
    ASSERT_THAT(opened.status(), IsOk());
    db_ = std::move(opened->db);
    store_ = std::move(opened->store);
  }

  int64_t Head() {
    auto head = store_->ChangeHead();
    EXPECT_THAT(head.status(), IsOk());
    return head.value_or(-1);
  }

  std::unique_ptr<sql::Database> db_;
  std::unique_ptr<IngestionStore> store_;
};

TEST_P(GroupCommitStoreTest, AReportRefusedInAGroupIsRolledBackAloneAndTheOthersCommit) {
  const int64_t head = Head();
  std::vector<absl::StatusOr<v1::SubmitReportResponse>> answers;
  ASSERT_THAT(store_->SubmitReports([&](const IngestionStore::SubmitInGroup& submit) {
    answers.push_back(submit(Report("g-1", 1), kSender));
    answers.push_back(submit(Report("g-2", 2, /*unknown=*/true), kSender));
    answers.push_back(submit(Report("g-3", 3), kSender));
    return absl::OkStatus();
  }),
              IsOk());
  ASSERT_THAT(answers[0].status(), IsOk());
  EXPECT_THAT(answers[1].status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("records[1].unit_code")));
  ASSERT_THAT(answers[2].status(), IsOk());
  // Two changes, numbered in order with no gap where the refused report was.
  EXPECT_EQ(answers[0]->change_seq(), head + 1);
  EXPECT_EQ(answers[2]->change_seq(), head + 2);
  EXPECT_EQ(Head(), head + 2);

  // The refused report left nothing behind, not even its claim of "g-2": corrected, it is new.
  v1::SubmitReportRequest corrected = Report("g-2", 2);
  auto again = store_->SubmitReport(corrected, kSender);
  ASSERT_THAT(again.status(), IsOk());
  EXPECT_FALSE(again->replayed());
  EXPECT_EQ(again->records_changed(), 1);
  // The committed ones are recognised.
  auto replayed = store_->SubmitReport(Report("g-1", 1), kSender);
  ASSERT_THAT(replayed.status(), IsOk());
  EXPECT_TRUE(replayed->replayed());
}

TEST_P(GroupCommitStoreTest, AGroupWhoseTransactionFailsWritesNoneOfItsReports) {
  const int64_t head = Head();
  EXPECT_THAT(store_->SubmitReports([&](const IngestionStore::SubmitInGroup& submit) {
    EXPECT_THAT(submit(Report("f-1", 1), kSender).status(), IsOk());
    EXPECT_THAT(submit(Report("f-2", 2), kSender).status(), IsOk());
    return absl::UnavailableError("the client went away");
  }),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(Head(), head);
  auto first = store_->SubmitReport(Report("f-1", 1), kSender);
  ASSERT_THAT(first.status(), IsOk());
  EXPECT_FALSE(first->replayed());  // never committed, so new now
  EXPECT_EQ(first->change_seq(), head + 1);
}

TEST_P(GroupCommitStoreTest, ARetryInsideOneGroupIsRecognised) {
  const int64_t head = Head();
  ASSERT_THAT(store_->SubmitReports([&](const IngestionStore::SubmitInGroup& submit) {
    auto first = submit(Report("r-1", 1), kSender);
    auto retry = submit(Report("r-1", 1), kSender);
    EXPECT_THAT(first.status(), IsOk());
    EXPECT_THAT(retry.status(), IsOk());
    EXPECT_FALSE(first->replayed());
    EXPECT_TRUE(retry->replayed());
    EXPECT_EQ(retry->change_seq(), first->change_seq());
    EXPECT_THAT(submit(Report("r-1", 2), kSender).status(),
                StatusIs(absl::StatusCode::kAlreadyExists));
    return absl::OkStatus();
  }),
              IsOk());
  EXPECT_EQ(Head(), head + 1);
}

INSTANTIATE_TEST_SUITE_P(Stores, GroupCommitStoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

class GroupCommitStreamTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::optional<std::string> url = testing::NewStoreUrl(GetParam());
    COVTRACK_REQUIRE_SERVER(url, "PostgreSQL");
    harness_ = testing::IngestionHarness::Start(*url);
    testing::ImportUnits(harness_->stub(), Catalogue(), "units");
  }

  // Sends every message at once (a bulk upload: the server groups what has arrived), closes and
  // returns the status; *committed is the trailer.
  grpc::Status Upload(const std::vector<v1::SubmitReportRequest>& messages,
                      v1::StreamReportsResponse* response, std::string* committed) {
    grpc::ClientContext context;
    auto writer = harness_->stub().StreamReports(&context, response);
    for (const auto& m : messages) {
      if (!writer->Write(m)) {
        break;
      }
    }
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    auto it = context.GetServerTrailingMetadata().find("covtrack-committed-messages");
    committed->clear();
    if (it != context.GetServerTrailingMetadata().end()) {
      *committed = std::string(it->second.data(), it->second.size());
    }
    return status;
  }

  int64_t Head() {
    v1::ChangeHead head;
    grpc::ClientContext context;
    EXPECT_THAT(harness_->stub().GetChangeHead(&context, {}, &head), IsOk());
    return head.seq();
  }

  std::unique_ptr<testing::IngestionHarness> harness_;
};

TEST_P(GroupCommitStreamTest, AMessageRefusedByTheStoreMidStreamChangesNothingAndRetriesCountOnce) {
  constexpr int kMessages = 12;
  constexpr int kBad = 7;
  std::vector<v1::SubmitReportRequest> messages;
  for (int n = 1; n <= kMessages; ++n) {
    messages.push_back(Report(absl::StrCat("m-", n), n, /*unknown=*/n == kBad + 1));
  }
  const int64_t head = Head();
  v1::StreamReportsResponse response;
  std::string committed;
  EXPECT_THAT(
      Upload(messages, &response, &committed),
      StatusIs(grpc::StatusCode::NOT_FOUND,
               ::testing::AllOf(HasSubstr(absl::StrCat("message ", kBad, " (request_id \"m-8\")")),
                                HasSubstr("records[1].unit_code"),
                                HasSubstr(absl::StrCat(kBad, " earlier messages")))));
  EXPECT_EQ(committed, absl::StrCat(kBad));
  EXPECT_EQ(Head(), head + kBad);  // one change per committed message, none for the refused one

  // Corrected, the refused message is new (its request_id was not kept); the first kBad are
  // recognised and add nothing; the rest are written once.
  messages[kBad] = Report("m-8", kBad + 1);
  ASSERT_THAT(Upload(messages, &response, &committed), IsOk());
  EXPECT_EQ(committed, absl::StrCat(kMessages));
  EXPECT_EQ(response.messages_committed(), kMessages);
  EXPECT_EQ(response.messages_replayed(), kBad);
  EXPECT_EQ(response.records_changed(), kMessages - kBad);
  EXPECT_EQ(response.last_request_id(), absl::StrCat("m-", kMessages));
  EXPECT_EQ(Head(), head + kMessages);
  EXPECT_EQ(response.last_change_seq(), Head());
}

INSTANTIATE_TEST_SUITE_P(Stores, GroupCommitStreamTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace covtrack
