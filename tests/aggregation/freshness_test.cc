// Freshness (issue 10): replicas answer from what they have applied (CONSISTENCY_APPLIED, the
// service's default here), a token makes a read reflect a write on any replica, a token from the
// future fails UNAVAILABLE within the deadline, FULL sees a write made by another client, every
// answer says the seq it reflects, and a replica is NOT_SERVING until it has loaded.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/server.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/aggregation/aggregation_harness.h"
#include "tests/testing/builders.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/status_matchers.h"

namespace covtrack::testing {
namespace {

using ::testing::HasSubstr;

grpc::Status Get(AggregationHarness& agg, const std::string& unit, v1::Coverage* out,
                 int64_t at_least_seq = 0,
                 v1::Consistency consistency = v1::CONSISTENCY_UNSPECIFIED,
                 std::chrono::seconds timeout = std::chrono::seconds(30)) {
  v1::GetCoverageRequest request;
  request.set_unit_code(unit);
  request.set_period("2023");
  request.mutable_freshness()->set_at_least_seq(at_least_seq);
  request.mutable_freshness()->set_consistency(consistency);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  return agg.stub().GetCoverage(&context, request, out);
}

int64_t HealthOf(const v1::Coverage& c) {
  for (const v1::SchemeCoverage& sc : c.schemes()) {
    if (sc.scheme() == v1::SCHEME_HEALTH) {
      return sc.participants();
    }
  }
  return -1;
}

class FreshnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ingestion_ = IngestionHarness::Start();
    ImportUnits(
        ingestion_->stub(),
        {Unit("10", v1::ADMIN_LEVEL_PROVINCE, ""), Unit("101", v1::ADMIN_LEVEL_DISTRICT, "10"),
         Unit("10101", v1::ADMIN_LEVEL_COMMUNE, "101")},
        "tree");
    first_ = Start();
    second_ = Start();
  }
  // A replica with the service's own default: APPLIED.
  std::unique_ptr<AggregationHarness> Start() {
    aggregation::AggregationOptions options;
    options.ingestion_addr = ingestion_->address();
    options.stats_log_interval = absl::ZeroDuration();
    options.freshness_wait = absl::Seconds(2);
    return AggregationHarness::Start(options);
  }

  std::unique_ptr<IngestionHarness> ingestion_;
  std::unique_ptr<AggregationHarness> first_;
  std::unique_ptr<AggregationHarness> second_;
};

TEST_F(FreshnessTest, AWriteIsVisibleWithItsTokenOnEveryReplicaAtOnce) {
  int64_t last_reflected[2] = {0, 0};
  for (int round = 1; round <= 20; ++round) {
    const v1::SubmitReportResponse written =
        Submit(ingestion_->stub(), {Record("10101", "2023-12", v1::SCHEME_HEALTH, round)}, {},
               absl::StrCat("w", round));
    ASSERT_GT(written.change_seq(), 0);
    AggregationHarness* replicas[2] = {first_.get(), second_.get()};
    for (int r = 0; r < 2; ++r) {
      v1::Coverage coverage;
      ASSERT_THAT(Get(*replicas[r], "10", &coverage, written.change_seq()), IsOk());
      EXPECT_EQ(HealthOf(coverage), round) << "round " << round << ", replica " << r;
      EXPECT_GE(coverage.reflects_seq(), written.change_seq());
      // Without a token, from what the replica has applied: never older than before.
      v1::Coverage applied;
      ASSERT_THAT(Get(*replicas[r], "101", &applied), IsOk());
      EXPECT_GE(applied.reflects_seq(), last_reflected[r]);
      EXPECT_GE(applied.reflects_seq(), coverage.reflects_seq());
      last_reflected[r] = applied.reflects_seq();
    }
  }
}

TEST_F(FreshnessTest, ATokenFromTheFutureFailsWithinTheDeadline) {
  const v1::SubmitReportResponse written =
      Submit(ingestion_->stub(), {Record("10101", "2023-12", v1::SCHEME_HEALTH, 5)}, {}, "w");
  v1::Coverage coverage;
  EXPECT_THAT(Get(*first_, "10", &coverage, written.change_seq() + 1000,
                  v1::CONSISTENCY_UNSPECIFIED, std::chrono::seconds(1)),
              StatusIs(grpc::StatusCode::UNAVAILABLE,
                       HasSubstr(absl::StrCat("seq ", written.change_seq() + 1000))));
  // The server's own bound (2 s here) ends a wait without a deadline of the caller's too.
  EXPECT_THAT(Get(*first_, "10", &coverage, written.change_seq() + 1000,
                  v1::CONSISTENCY_UNSPECIFIED, std::chrono::seconds(30)),
              StatusIs(grpc::StatusCode::UNAVAILABLE, HasSubstr("applied up to seq")));
}

TEST_F(FreshnessTest, FullSeesAWriteMadeByAnotherClient) {
  for (int round = 1; round <= 10; ++round) {
    Submit(ingestion_->stub(), {Record("10101", "2023-12", v1::SCHEME_HEALTH, 100 + round)}, {},
           absl::StrCat("other-", round));
    v1::Coverage coverage;
    ASSERT_THAT(Get(*second_, "10", &coverage, 0, v1::CONSISTENCY_FULL), IsOk());
    EXPECT_EQ(HealthOf(coverage), 100 + round);
  }
}

TEST_F(FreshnessTest, BadFreshnessNamesTheField) {
  v1::Coverage coverage;
  EXPECT_THAT(Get(*first_, "10", &coverage, -1),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("freshness.at_least_seq")));
  EXPECT_THAT(Get(*first_, "10", &coverage, 0, static_cast<v1::Consistency>(7)),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("freshness.consistency")));
}

TEST_F(FreshnessTest, ListAndSeriesSayTheSeqTheyReflect) {
  const v1::SubmitReportResponse written =
      Submit(ingestion_->stub(), {Record("10101", "2023-12", v1::SCHEME_HEALTH, 9)}, {}, "w");
  v1::ListCoverageRequest list;
  list.set_parent_code("10");
  list.set_period("2023");
  list.mutable_freshness()->set_at_least_seq(written.change_seq());
  v1::ListCoverageResponse listed;
  grpc::ClientContext list_context;
  ASSERT_THAT(first_->stub().ListCoverage(&list_context, list, &listed), IsOk());
  EXPECT_GE(listed.reflects_seq(), written.change_seq());
  ASSERT_EQ(listed.coverages_size(), 1);
  v1::GetCoverageSeriesRequest series;
  series.set_unit_code("10");
  series.set_scheme(v1::SCHEME_HEALTH);
  series.set_from_month("2023-11");
  series.set_to_month("2023-12");
  series.mutable_freshness()->set_at_least_seq(written.change_seq());
  v1::CoverageSeries months;
  grpc::ClientContext series_context;
  ASSERT_THAT(second_->stub().GetCoverageSeries(&series_context, series, &months), IsOk());
  EXPECT_GE(months.reflects_seq(), written.change_seq());
  ASSERT_EQ(months.months_size(), 2);
  EXPECT_EQ(months.months(1).coverage().participants(), 9);
}

// Until it has loaded, a replica is NOT_SERVING on health and reads are UNAVAILABLE saying so.
TEST(FreshnessLoadingTest, NotServingUntilLoaded) {
  aggregation::AggregationOptions options;
  options.ingestion_addr = "127.0.0.1:1";  // nothing listens: the snapshot cannot load
  options.stats_log_interval = absl::ZeroDuration();
  auto service = aggregation::AggregationServiceImpl::Create(options);
  ASSERT_THAT(service.status(), IsOk());
  ServerOptions server_options;
  server_options.service_name = "aggregation";
  server_options.listen = "127.0.0.1:0";
  server_options.serving_at_start = false;
  auto server = Server::Start(server_options, {service->get()});
  ASSERT_THAT(server.status(), IsOk());
  Server* serving = server->get();
  (*service)->OnLoaded([serving] { serving->SetServing(true); });
  EXPECT_FALSE((*service)->WaitUntilLoaded(absl::Milliseconds(300)));
  auto channel = grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials());
  grpc::health::v1::HealthCheckRequest check;
  grpc::health::v1::HealthCheckResponse health;
  grpc::ClientContext health_context;
  auto health_stub = grpc::health::v1::Health::NewStub(channel);
  ASSERT_THAT(health_stub->Check(&health_context, check, &health), IsOk());
  EXPECT_EQ(health.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  auto stub = v1::AggregationService::NewStub(channel);
  v1::GetCoverageRequest request;
  request.set_unit_code("10");
  request.set_period("2023");
  v1::Coverage coverage;
  grpc::ClientContext context;
  EXPECT_THAT(stub->GetCoverage(&context, request, &coverage),
              StatusIs(grpc::StatusCode::UNAVAILABLE, HasSubstr("loading")));
  (*server)->Shutdown();
}

}  // namespace
}  // namespace covtrack::testing
