// The aggregation service takes the crosswalk from a change on the feed that carries links, also
// when following the feed failed half-way: against a fake ingestion service on loopback whose
// ListChanges and WatchChanges fail on demand (the real one cannot be made to fail so).
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/aggregation/aggregation_harness.h"
#include "tests/testing/builders.h"
#include "tests/testing/status_matchers.h"

namespace covtrack::testing {
namespace {

constexpr char kReform[] = "2025-07-01";

// Old provinces 20 and 21 until the reform, the new 20 after it; each old one reported 100 and
// 50 at 2024-12. The feed and the crosswalk are set by the test; ListChanges answers one change
// per page and fails while `fail_list_changes` is set.
class FakeIngestion final : public v1::IngestionService::Service {
 public:
  grpc::Status GetChangeHead(grpc::ServerContext*, const v1::GetChangeHeadRequest*,
                             v1::ChangeHead* head) override {
    absl::MutexLock lock(&mu_);
    head->set_seq(static_cast<int64_t>(changes_.size()));
    return grpc::Status::OK;
  }

  grpc::Status ListChanges(grpc::ServerContext*, const v1::ListChangesRequest* request,
                           v1::ListChangesResponse* response) override {
    absl::MutexLock lock(&mu_);
    response->set_head_seq(static_cast<int64_t>(changes_.size()));
    if (request->after_seq() < static_cast<int64_t>(changes_.size())) {
      if (fail_list_changes_ && request->after_seq() > 0) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "store restarting");
      }
      *response->add_changes() = changes_[request->after_seq()];
    }
    return grpc::Status::OK;
  }

  // The changes after after_seq as they come (polled), failing like ListChanges.
  grpc::Status WatchChanges(grpc::ServerContext* context, const v1::WatchChangesRequest* request,
                            grpc::ServerWriter<v1::Change>* writer) override {
    int64_t sent = request->after_seq();
    while (!context->IsCancelled()) {
      std::vector<v1::Change> next;
      {
        absl::MutexLock lock(&mu_);
        if (fail_list_changes_) {
          return grpc::Status(grpc::StatusCode::UNAVAILABLE, "store restarting");
        }
        for (int64_t seq = sent + 1; seq <= static_cast<int64_t>(changes_.size()); ++seq) {
          next.push_back(changes_[seq - 1]);
        }
      }
      for (const v1::Change& change : next) {
        if (!writer->Write(change)) {
          return grpc::Status::OK;
        }
        sent = change.seq();
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    return grpc::Status::OK;
  }

  grpc::Status ListAdminUnits(grpc::ServerContext*, const v1::ListAdminUnitsRequest*,
                              v1::ListAdminUnitsResponse* response) override {
    for (const v1::AdminUnit& unit :
         {Unit("20", v1::ADMIN_LEVEL_PROVINCE, "", "", kReform, "Old 20"),
          Unit("21", v1::ADMIN_LEVEL_PROVINCE, "", "", kReform, "Old 21"),
          Unit("20", v1::ADMIN_LEVEL_PROVINCE, "", kReform, "", "New 20")}) {
      *response->add_units() = unit;
    }
    return grpc::Status::OK;
  }

  grpc::Status ListCrosswalk(grpc::ServerContext*, const v1::ListCrosswalkRequest*,
                             v1::ListCrosswalkResponse* response) override {
    absl::MutexLock lock(&mu_);
    for (const v1::CrosswalkLink& link : links_) {
      *response->add_links() = link;
    }
    return grpc::Status::OK;
  }

  grpc::Status ExportData(grpc::ServerContext*, const v1::ExportDataRequest* request,
                          grpc::ServerWriter<v1::ExportDataResponse>* writer) override {
    v1::ExportDataResponse chunk;
    {
      absl::MutexLock lock(&mu_);
      chunk.set_snapshot_seq(static_cast<int64_t>(changes_.size()));
    }
    if (request->from_month() <= "2024-12" && "2024-12" <= request->to_month()) {
      *chunk.add_records() = Record("20", "2024-12", v1::SCHEME_HEALTH, 100);
      *chunk.add_records() = Record("21", "2024-12", v1::SCHEME_HEALTH, 50);
    }
    writer->Write(chunk);
    return grpc::Status::OK;
  }

  // Appends a change; with `links`, the crosswalk becomes them.
  void Change(std::vector<v1::CrosswalkLink> links) {
    absl::MutexLock lock(&mu_);
    v1::Change change;
    change.set_seq(static_cast<int64_t>(changes_.size()) + 1);
    for (const v1::CrosswalkLink& link : links) {
      *change.add_crosswalk_links() = link;
    }
    if (!links.empty()) {
      links_ = std::move(links);
    }
    changes_.push_back(std::move(change));
  }
  void FailListChanges(bool fail) {
    absl::MutexLock lock(&mu_);
    fail_list_changes_ = fail;
  }

 private:
  absl::Mutex mu_;
  std::vector<v1::Change> changes_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::CrosswalkLink> links_ ABSL_GUARDED_BY(mu_);
  bool fail_list_changes_ ABSL_GUARDED_BY(mu_) = false;
};

v1::CrosswalkLink Whole(const std::string& from) {
  v1::CrosswalkLink link;
  link.set_from_code(from);
  link.set_to_code("20");
  link.set_effective_date(kReform);
  link.set_to_valid_from(kReform);
  link.set_population_share(1);
  return link;
}

TEST(CrosswalkReloadTest, LinksSeenBeforeACatchUpFailedAreLoadedByTheNextRequest) {
  FakeIngestion ingestion;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&ingestion);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto agg = AggregationHarness::Start(absl::StrCat("127.0.0.1:", port));
  auto read = [&](v1::Coverage* coverage, absl::Duration timeout = absl::Seconds(30)) {
    v1::GetCoverageRequest request;
    request.set_unit_code("20");
    request.set_period("2024");
    request.set_territory_date(kReform);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    return agg->stub().GetCoverage(&context, request, coverage);
  };
  v1::Coverage coverage;
  ASSERT_THAT(read(&coverage), IsOk());  // starts following the feed: no crosswalk yet
  EXPECT_EQ(coverage.schemes(2).reexpression().kind(), v1::REEXPRESSION_KIND_ABSENT);

  // The feed fails; two changes come, the first carrying the links. A read that needs them
  // (FULL, as the harness reads) cannot be answered before its deadline.
  ingestion.FailListChanges(true);
  ingestion.Change({Whole("20"), Whole("21")});
  ingestion.Change({});
  EXPECT_THAT(read(&coverage, absl::Seconds(1)), StatusIs(grpc::StatusCode::UNAVAILABLE));
  // The feed is back: the replica follows it again and combines with the links.
  ingestion.FailListChanges(false);
  ASSERT_THAT(read(&coverage), IsOk());
  const v1::SchemeCoverage& health = coverage.schemes(2);
  EXPECT_EQ(health.scheme(), v1::SCHEME_HEALTH);
  EXPECT_EQ(health.reexpression().kind(), v1::REEXPRESSION_KIND_EXACT);
  EXPECT_EQ(health.participants(), 150);
  agg.reset();  // ends its WatchChanges stream, which the fake's shutdown would wait for
  server->Shutdown();
}

}  // namespace
}  // namespace covtrack::testing
