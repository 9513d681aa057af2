// Issue 15's retention rule end to end, on real processes: an aggregation replica whose last
// applied change is older than the change feed's retained window reloads its snapshot and then
// answers with the newest figures. The replica is held (SIGSTOP) while ingestion is restarted
// (its stream to the replica ends) and written to; ingestion runs with --feed_retention=0s and
// --feed_retention_min_changes=1, so each write prunes every change but the newest (up to 4 a
// write). Resumed, the replica asks for the changes after its seq, gets the gap and reloads.
// The same steps with --feed_retention=inf keep every change: the replica catches up through
// the feed with no second load, so the reload is the rule's doing, not the restart's.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "covtrack/v1/aggregation_service.grpc.pb.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "tests/integration/processes.h"
#include "tests/testing/builders.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace covtrack {
namespace {

using testing::ChildProcess;
using testing::Eventually;
using testing::FreshChannel;
using testing::IsOk;
using testing::SetDeadline;

constexpr absl::Duration kWait = absl::Seconds(60);  // bound of every wait for progress
constexpr char kLoads[] = "covtrack_aggregation_snapshot_loads_total";

class FeedRetentionReloadTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir();
    ingestion_address_ = absl::StrCat("127.0.0.1:", testing::FreeLoopbackPort());
    replica_address_ = absl::StrCat("127.0.0.1:", testing::FreeLoopbackPort());
    replica_metrics_ = testing::FreeLoopbackPort();
  }

  // Ingestion on its SQLite file and port (the same at every start), with the retention asked.
  void StartIngestion() {
    absl::StatusOr<std::unique_ptr<ChildProcess>> started = ChildProcess::Start(
        {COVTRACK_INGESTION_BINARY, absl::StrCat("--store=sqlite:", dir_, "/ingestion.db"),
         "--listen=" + ingestion_address_,
         absl::StrCat("--metrics_listen=127.0.0.1:", testing::FreeLoopbackPort()),
         "--shutdown_grace=5s", "--feed_retention=" + GetParam(), "--feed_retention_min_changes=1"},
        dir_ + "/ingestion.log");
    ASSERT_THAT(started.status(), IsOk());
    ingestion_ = std::move(*started);
    ASSERT_TRUE(testing::WaitServing(ingestion_address_, kWait));
  }

  // A new value of commune 10101's health participants in 2023-12; the change's seq.
  int64_t Write(const std::string& request_id, int64_t participants) {
    auto stub = v1::IngestionService::NewStub(FreshChannel(ingestion_address_));
    v1::SubmitReportRequest request;
    request.set_request_id(request_id);
    request.set_source("feed retention reload test");
    *request.add_records() = testing::Record("10101", "2023-12", v1::SCHEME_HEALTH, participants);
    v1::SubmitReportResponse response;
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(10));
    EXPECT_THAT(stub->SubmitReport(&context, request, &response), IsOk());
    return response.change_seq();
  }

  // The replica's answer for 10101 in 2023-12, or nullopt while it cannot answer.
  std::optional<int64_t> Participants() {
    auto stub = v1::AggregationService::NewStub(FreshChannel(replica_address_));
    v1::GetCoverageRequest request;
    request.set_unit_code("10101");
    request.set_period("2023-12");
    request.add_schemes(v1::SCHEME_HEALTH);
    v1::Coverage coverage;
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(5));
    if (!stub->GetCoverage(&context, request, &coverage).ok()) {
      return std::nullopt;
    }
    for (const v1::SchemeCoverage& s : coverage.schemes()) {
      if (s.scheme() == v1::SCHEME_HEALTH) {
        return s.participants();
      }
    }
    return std::nullopt;
  }

  std::string dir_;
  std::string ingestion_address_;
  std::string replica_address_;
  int replica_metrics_ = 0;
  std::unique_ptr<ChildProcess> ingestion_;
  std::unique_ptr<ChildProcess> replica_;
};

TEST_P(FeedRetentionReloadTest, AReplicaBehindTheWindowReloadsAndAnswersTheNewestFigures) {
  StartIngestion();
  {
    auto stub = v1::IngestionService::NewStub(FreshChannel(ingestion_address_));
    v1::ImportAdminUnitsRequest request;
    request.set_request_id("units");
    *request.add_units() = testing::Unit("10", v1::ADMIN_LEVEL_PROVINCE, "");
    *request.add_units() = testing::Unit("101", v1::ADMIN_LEVEL_DISTRICT, "10");
    *request.add_units() = testing::Unit("10101", v1::ADMIN_LEVEL_COMMUNE, "101");
    v1::ImportAdminUnitsResponse response;
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(10));
    ASSERT_THAT(stub->ImportAdminUnits(&context, request, &response), IsOk());
  }
  Write("first", 1000);

  absl::StatusOr<std::unique_ptr<ChildProcess>> started =
      ChildProcess::Start({COVTRACK_AGGREGATION_BINARY, "--ingestion_addr=" + ingestion_address_,
                           "--listen=" + replica_address_,
                           absl::StrCat("--metrics_listen=127.0.0.1:", replica_metrics_),
                           "--shutdown_grace=5s", "--default_consistency=applied"},
                          dir_ + "/replica.log");
  ASSERT_THAT(started.status(), IsOk());
  replica_ = std::move(*started);
  ASSERT_TRUE(testing::WaitServing(replica_address_, kWait));
  ASSERT_TRUE(Eventually([&] { return Participants() == 1000; }, kWait));
  ASSERT_EQ(testing::MetricValue(replica_metrics_, kLoads).value_or(-1), 1);

  // Held while ingestion restarts and takes three writes: under the rule every change up to the
  // second of them is pruned, the replica's own (the first write's) with them.
  ASSERT_TRUE(replica_->Signal(SIGSTOP));
  ingestion_->Kill();
  StartIngestion();
  Write("second", 2000);
  Write("third", 3000);
  const int64_t head = Write("fourth", 4000);
  ASSERT_GT(head, 0);
  ASSERT_TRUE(replica_->Signal(SIGCONT));

  EXPECT_TRUE(Eventually([&] { return Participants() == 4000; }, kWait))
      << "the replica answers " << Participants().value_or(-1);
  // A reload, under the rule only: without it the feed still holds every change.
  EXPECT_EQ(testing::MetricValue(replica_metrics_, kLoads).value_or(-1),
            GetParam() == "inf" ? 1 : 2);
}

INSTANTIATE_TEST_SUITE_P(Retention, FeedRetentionReloadTest, ::testing::Values("0s", "inf"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param == "inf" ? std::string("KeepEverything")
                                                      : std::string("PruneAllButTheNewest");
                         });

}  // namespace
}  // namespace covtrack
