// StreamReports' group commit (issue 15) on the real covtrack-ingestion process, SQLite and
// PostgreSQL: what the call acknowledges (the count of committed messages, in the trailer
// "covtrack-committed-messages") is exactly what is durable. A bulk upload sent faster than the
// store writes (so that its messages are grouped in transactions):
//  - killed (SIGKILL) mid-stream: nothing was acknowledged; what was committed is a prefix of
//    the messages, each whole; sending everything again stores each message once;
//  - stopped (SIGTERM) mid-stream: the trailer names exactly the messages the store holds after
//    the restart (whether the drain came while a group was open or after the backlog was
//    written), and resuming from there (one message earlier) stores the rest once.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "tests/integration/processes.h"
#include "tests/testing/builders.h"
#include "tests/testing/eventually.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace covtrack {
namespace {

using testing::ChildProcess;
using testing::Eventually;
using testing::FreshChannel;
using testing::IsOk;

constexpr absl::Duration kWait = absl::Seconds(60);  // bound of every wait for progress
constexpr int kMessages = 400;
constexpr int kRecordsPerMessage = 4;  // the four schemes of one month

// Message k: commune 28249's four schemes in month k (counted from 1990-01).
v1::SubmitReportRequest Message(int k) {
  v1::SubmitReportRequest request;
  request.set_request_id(absl::StrCat("bulk-", k));
  request.set_source("stream group commit test");
  const std::string month = absl::StrFormat("%d-%02d", 1990 + k / 12, k % 12 + 1);
  for (v1::Scheme scheme : {v1::SCHEME_COMPULSORY_SOCIAL, v1::SCHEME_VOLUNTARY_SOCIAL,
                            v1::SCHEME_HEALTH, v1::SCHEME_UNEMPLOYMENT}) {
    *request.add_records() = testing::Record("28249", month, scheme, 1000 + k);
  }
  return request;
}

class StreamGroupCommitTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir();
    std::optional<std::string> url = testing::NewStoreUrl(GetParam());
    COVTRACK_REQUIRE_SERVER(url, "PostgreSQL");
    store_ = *url;
    address_ = absl::StrCat("127.0.0.1:", testing::FreeLoopbackPort());
    ASSERT_NO_FATAL_FAILURE(Start());
    testing::ImportUnits(*stub_,
                         {testing::Unit("82", v1::ADMIN_LEVEL_PROVINCE, ""),
                          testing::Unit("815", v1::ADMIN_LEVEL_DISTRICT, "82"),
                          testing::Unit("28249", v1::ADMIN_LEVEL_COMMUNE, "815")},
                         "units");
    head_before_ = Head();
  }

  // Ingestion on the test's store and port (the same at every start).
  void Start() {
    absl::StatusOr<std::unique_ptr<ChildProcess>> started =
        ChildProcess::Start({COVTRACK_INGESTION_BINARY, "--store=" + store_, "--listen=" + address_,
                             "--shutdown_grace=4s"},
                            dir_ + "/ingestion.log");
    ASSERT_THAT(started.status(), IsOk());
    ingestion_ = std::move(*started);
    ASSERT_TRUE(testing::WaitServing(address_, kWait));
    stub_ = v1::IngestionService::NewStub(FreshChannel(address_));
  }

  int64_t Head() {
    v1::ChangeHead head;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    EXPECT_THAT(stub_->GetChangeHead(&context, {}, &head), IsOk());
    return head.seq();
  }

  // The request ids of the changes after the units' import, in commit order.
  std::vector<std::string> CommittedIds() {
    std::vector<std::string> ids;
    v1::ListChangesRequest request;
    request.set_after_seq(head_before_);
    request.set_page_size(1000);
    v1::ListChangesResponse response;
    grpc::ClientContext context;
    EXPECT_THAT(stub_->ListChanges(&context, request, &response), IsOk());
    for (const v1::Change& change : response.changes()) {
      ids.push_back(change.request_id());
    }
    return ids;
  }

  // Sends messages from..kMessages-1 in one call and checks every one is committed.
  v1::StreamReportsResponse SendTheRest(int from) {
    grpc::ClientContext context;
    v1::StreamReportsResponse summary;
    auto stream = stub_->StreamReports(&context, &summary);
    for (int k = from; k < kMessages; ++k) {
      EXPECT_TRUE(stream->Write(Message(k)));
    }
    stream->WritesDone();
    EXPECT_THAT(stream->Finish(), IsOk());
    EXPECT_EQ(summary.messages_committed(), kMessages - from);
    return summary;
  }

  std::string dir_;
  std::string store_;
  std::string address_;
  std::unique_ptr<ChildProcess> ingestion_;
  std::unique_ptr<v1::IngestionService::Stub> stub_;
  int64_t head_before_ = 0;
};

TEST_P(StreamGroupCommitTest, AKilledUploadLosesNothingAcknowledgedAndAResendStoresEachOnce) {
  grpc::ClientContext context;
  v1::StreamReportsResponse summary;
  auto stream = stub_->StreamReports(&context, &summary);
  // Half the upload at once; the kill once some of it is committed (and more is arriving).
  for (int k = 0; k < kMessages / 2; ++k) {
    ASSERT_TRUE(stream->Write(Message(k)));
  }
  ASSERT_TRUE(Eventually([&] { return Head() >= head_before_ + 10; }, kWait));
  ingestion_->Kill();
  stream->WritesDone();
  EXPECT_FALSE(stream->Finish().ok());
  // Nothing was acknowledged: the process never ended the call.
  EXPECT_EQ(context.GetServerTrailingMetadata().count("covtrack-committed-messages"), 0u);

  ASSERT_NO_FATAL_FAILURE(Start());
  const int committed = static_cast<int>(Head() - head_before_);  // one change per message
  ASSERT_GT(committed, 0);
  ASSERT_LE(committed, kMessages / 2);
  // What was committed is the first `committed` messages, in order.
  std::vector<std::string> ids = CommittedIds();
  ASSERT_EQ(ids.size(), static_cast<size_t>(committed));
  for (int k = 0; k < committed; ++k) {
    EXPECT_EQ(ids[k], absl::StrCat("bulk-", k));
  }

  // Everything again: the committed messages are recognised (each was whole: its four records
  // are not written again), the others are written once.
  v1::StreamReportsResponse resent = SendTheRest(0);
  EXPECT_EQ(resent.messages_replayed(), committed);
  EXPECT_EQ(resent.records_changed(), (kMessages - committed) * kRecordsPerMessage);
  EXPECT_EQ(Head(), head_before_ + kMessages);
}

TEST_P(StreamGroupCommitTest, AStoppedUploadAcknowledgesExactlyWhatIsStored) {
  grpc::ClientContext context;
  v1::StreamReportsResponse summary;
  auto stream = stub_->StreamReports(&context, &summary);
  for (int k = 0; k < kMessages / 2; ++k) {
    ASSERT_TRUE(stream->Write(Message(k)));
  }
  ASSERT_TRUE(Eventually([&] { return Head() >= head_before_ + 10; }, kWait));
  ASSERT_TRUE(ingestion_->Signal(SIGTERM));
  // Past half the grace (2 s), before its end (4 s): the upload has stopped taking messages.
  // One more message only: a client still writing when the drained process closes its
  // connection may see the reset before the status (shutdown_test).
  absl::SleepFor(absl::Seconds(3));
  ASSERT_TRUE(stream->Write(Message(kMessages / 2)));
  stream->WritesDone();
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  auto trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find("covtrack-committed-messages");
  ASSERT_NE(it, trailers.end()) << status.error_message();
  const int acknowledged = std::stoi(std::string(it->second.data(), it->second.size()));
  std::optional<int> exit_status = ingestion_->Wait(absl::Seconds(30));
  ASSERT_TRUE(exit_status.has_value());
  EXPECT_TRUE(WIFEXITED(*exit_status) && WEXITSTATUS(*exit_status) == 0) << *exit_status;

  ASSERT_NO_FATAL_FAILURE(Start());
  // Every acknowledged message is stored, and nothing the call did not acknowledge.
  EXPECT_EQ(Head(), head_before_ + acknowledged);
  EXPECT_EQ(CommittedIds().size(), static_cast<size_t>(acknowledged));
  // Resumed from one message before: that one is recognised, the rest are written once.
  ASSERT_GT(acknowledged, 0);
  v1::StreamReportsResponse resumed = SendTheRest(acknowledged - 1);
  EXPECT_EQ(resumed.messages_replayed(), 1);
  EXPECT_EQ(resumed.records_changed(), (kMessages - acknowledged) * kRecordsPerMessage);
  EXPECT_EQ(Head(), head_before_ + kMessages);
}

INSTANTIATE_TEST_SUITE_P(Stores, StreamGroupCommitTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace covtrack
