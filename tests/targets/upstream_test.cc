// The target service against stub aggregation and ingestion services on loopback (issue 13):
// what it sends them and how it takes what they answer.
//   - Every call it makes gets at most the caller's remaining deadline, however long its own
//     --aggregation_deadline is.
//   - Figures no country can hold (counts near INT64_MAX, whose sums once wrapped to an
//     allocation base total below zero) are refused, not summed.
//   - A failure of another service is told by the service's name and the call, never with the
//     service's address or its raw message (which may hold hosts, ports, SQL).
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/server.h"
#include "common/status/status.h"
#include "covtrack/v1/aggregation_service.grpc.pb.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "covtrack/v1/target_service.grpc.pb.h"
#include "services/targets/target_service.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace covtrack::targets {
namespace {

using ::covtrack::testing::IsOk;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// Far longer than any call of the test: a deadline the service passes on is the caller's.
constexpr absl::Duration kServiceDeadline = absl::Seconds(600);
// gRPC sends a deadline as a timeout, rounded up (in steps of up to 100 ms for long ones), and
// each hop turns it back into a time: two hops may each add a step. Far below the 600 s the
// service would give a call of its own.
constexpr absl::Duration kDeadlineSlack = absl::Seconds(1);

// The latest deadline any call arrived with (absl::InfiniteFuture() for a call without one).
class DeadlineLog {
 public:
  void Record(const grpc::ServerContext& context) {
    const absl::Time deadline = absl::FromChrono(context.deadline());
    absl::MutexLock lock(&mu_);
    latest_ = std::max(latest_, deadline);
    ++calls_;
  }
  absl::Time latest() {
    absl::MutexLock lock(&mu_);
    return latest_;
  }
  int calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  absl::Mutex mu_;
  absl::Time latest_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
};

v1::AdminUnit Unit(const std::string& code, v1::AdminLevel level) {
  v1::AdminUnit unit;
  unit.set_code(code);
  unit.set_name(absl::StrCat("Đơn vị ", code));
  unit.set_level(level);
  unit.set_parent_code(level == v1::ADMIN_LEVEL_PROVINCE ? "VN" : "82");
  return unit;
}

// Every code names one unit, valid at all times; no crosswalk.
class StubIngestion final : public v1::IngestionService::Service {
 public:
  grpc::Status ListAdminUnits(grpc::ServerContext* context,
                              const v1::ListAdminUnitsRequest* request,
                              v1::ListAdminUnitsResponse* response) override {
    deadlines.Record(*context);
    absl::MutexLock lock(&mu_);
    if (failure_.has_value()) {
      return *failure_;
    }
    *response->add_units() =
        Unit(request->code(),
             request->code().size() == 2 ? v1::ADMIN_LEVEL_PROVINCE : v1::ADMIN_LEVEL_COMMUNE);
    return grpc::Status::OK;
  }
  grpc::Status ListCrosswalk(grpc::ServerContext* context, const v1::ListCrosswalkRequest*,
                             v1::ListCrosswalkResponse*) override {
    deadlines.Record(*context);
    return grpc::Status::OK;
  }
  void Fail(grpc::Status status) {
    absl::MutexLock lock(&mu_);
    failure_ = std::move(status);
  }

  DeadlineLog deadlines;

 private:
  absl::Mutex mu_;
  std::optional<grpc::Status> failure_ ABSL_GUARDED_BY(mu_);
};

// Figures set by the test: one unit's coverage, and the children ListCoverage gives (in one
// page, or one child a page when the test set each page's reflects_seq). Every request is kept.
class StubAggregation final : public v1::AggregationService::Service {
 public:
  grpc::Status GetCoverage(grpc::ServerContext* context, const v1::GetCoverageRequest* request,
                           v1::Coverage* response) override {
    deadlines.Record(*context);
    absl::MutexLock lock(&mu_);
    coverage_requests_.push_back(*request);
    if (failure_.has_value()) {
      return *failure_;
    }
    *response = coverage_;
    *response->mutable_unit() = Unit(request->unit_code(), v1::ADMIN_LEVEL_PROVINCE);
    return grpc::Status::OK;
  }
  grpc::Status ListCoverage(grpc::ServerContext* context, const v1::ListCoverageRequest* request,
                            v1::ListCoverageResponse* response) override {
    deadlines.Record(*context);
    absl::MutexLock lock(&mu_);
    list_requests_.push_back(*request);
    if (page_seqs_.empty()) {
      for (const v1::Coverage& c : children_) {
        *response->add_coverages() = c;
      }
      return grpc::Status::OK;
    }
    size_t page = 0;
    if (!request->page_token().empty() && !absl::SimpleAtoi(request->page_token(), &page)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "page_token");
    }
    if (page >= children_.size() || page >= page_seqs_.size()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "page_token past the end");
    }
    *response->add_coverages() = children_[page];
    response->set_reflects_seq(page_seqs_[page]);
    if (page + 1 < children_.size()) {
      response->set_next_page_token(absl::StrCat(page + 1));
    }
    return grpc::Status::OK;
  }
  grpc::Status GetCoverageSeries(grpc::ServerContext* context,
                                 const v1::GetCoverageSeriesRequest* request,
                                 v1::CoverageSeries* response) override {
    deadlines.Record(*context);
    absl::MutexLock lock(&mu_);
    series_requests_.push_back(*request);
    *response->mutable_unit() = Unit(request->unit_code(), v1::ADMIN_LEVEL_PROVINCE);
    response->set_scheme(request->scheme());
    response->set_reflects_seq(series_seq_);
    return grpc::Status::OK;
  }

  // The children one a page, page i answering reflects_seq page_seqs[i].
  void SetPages(std::vector<int64_t> page_seqs) {
    absl::MutexLock lock(&mu_);
    page_seqs_ = std::move(page_seqs);
  }
  void SetSeriesSeq(int64_t seq) {
    absl::MutexLock lock(&mu_);
    series_seq_ = seq;
  }
  std::vector<v1::GetCoverageRequest> coverage_requests() {
    absl::MutexLock lock(&mu_);
    return coverage_requests_;
  }
  std::vector<v1::ListCoverageRequest> list_requests() {
    absl::MutexLock lock(&mu_);
    return list_requests_;
  }
  std::vector<v1::GetCoverageSeriesRequest> series_requests() {
    absl::MutexLock lock(&mu_);
    return series_requests_;
  }

  void SetCoverage(v1::Coverage coverage) {
    absl::MutexLock lock(&mu_);
    coverage_ = std::move(coverage);
  }
  void SetChildren(std::vector<v1::Coverage> children) {
    absl::MutexLock lock(&mu_);
    children_ = std::move(children);
  }
  void Fail(grpc::Status status) {
    absl::MutexLock lock(&mu_);
    failure_ = std::move(status);
  }

  DeadlineLog deadlines;

 private:
  absl::Mutex mu_;
  v1::Coverage coverage_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::Coverage> children_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> failure_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> page_seqs_ ABSL_GUARDED_BY(mu_);
  int64_t series_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<v1::GetCoverageRequest> coverage_requests_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::ListCoverageRequest> list_requests_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::GetCoverageSeriesRequest> series_requests_ ABSL_GUARDED_BY(mu_);
};

v1::Freshness Token(int64_t at_least_seq, v1::Consistency consistency) {
  v1::Freshness freshness;
  freshness.set_at_least_seq(at_least_seq);
  freshness.set_consistency(consistency);
  return freshness;
}

MATCHER_P(FreshnessIs, expected, "") {
  return arg.at_least_seq() == expected.at_least_seq() &&
         arg.consistency() == expected.consistency();
}

v1::SchemeCoverage Health(int64_t participants, int64_t denominator, const std::string& month) {
  v1::SchemeCoverage c;
  c.set_scheme(v1::SCHEME_HEALTH);
  c.set_participants(participants);
  c.set_denominator_kind(v1::DENOMINATOR_KIND_POPULATION);
  c.set_denominator(denominator);
  c.set_reporting_units(1);
  c.set_expected_units(1);
  c.set_as_of_month(month);
  return c;
}

class UpstreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &stubs_port_);
    builder.RegisterService(&ingestion_);
    builder.RegisterService(&aggregation_);
    stubs_ = builder.BuildAndStart();
    ASSERT_NE(stubs_, nullptr);
    stubs_address_ = absl::StrCat("127.0.0.1:", stubs_port_);

    TargetOptions options;
    options.store_url = covtrack::testing::SqliteStoreUrl();
    options.aggregation_addr = stubs_address_;
    options.ingestion_addr = stubs_address_;
    options.aggregation_deadline = kServiceDeadline;
    absl::StatusOr<std::unique_ptr<TargetServiceImpl>> service = TargetServiceImpl::Create(options);
    ASSERT_THAT(service, IsOk());
    service_ = std::move(*service);
    ServerOptions server_options;
    server_options.service_name = "targets";
    server_options.shutdown_grace = absl::Seconds(2);
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::Start(server_options, {service_.get()});
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
    targets_ = v1::TargetService::NewStub(
        grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown();
    }
    if (stubs_ != nullptr) {
      stubs_->Shutdown(std::chrono::system_clock::now());
    }
  }

  grpc::Status SetTarget(const std::string& code, int year, double value,
                         absl::Time deadline = absl::Now() + absl::Seconds(30)) {
    v1::SetTargetRequest request;
    request.set_request_id(absl::StrCat("set-", code, "-", year, "-", value));
    v1::Target* t = request.mutable_target();
    t->set_unit_code(code);
    t->set_scheme(v1::SCHEME_HEALTH);
    t->set_year(year);
    t->set_kind(v1::TARGET_KIND_PARTICIPANTS);
    t->set_value(value);
    v1::Target stored;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(deadline));
    return targets_->SetTarget(&context, request, &stored);
  }

  grpc::Status GetAchievement(const std::string& code, absl::Time deadline,
                              v1::Achievement* answer) {
    v1::GetAchievementRequest request;
    request.set_unit_code(code);
    request.set_period("2025");
    request.add_schemes(v1::SCHEME_HEALTH);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(deadline));
    return targets_->GetAchievement(&context, request, answer);
  }

  StubIngestion ingestion_;
  StubAggregation aggregation_;
  int stubs_port_ = 0;
  std::string stubs_address_;
  std::unique_ptr<grpc::Server> stubs_;
  std::unique_ptr<TargetServiceImpl> service_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::TargetService::Stub> targets_;
};

TEST_F(UpstreamTest, OutgoingCallsNeverOutliveTheCallersDeadline) {
  const absl::Time write_deadline = absl::Now() + absl::Seconds(20);
  ASSERT_THAT(SetTarget("82", 2025, 900, write_deadline), IsOk());
  ASSERT_GT(ingestion_.deadlines.calls(), 0);
  EXPECT_LE(ingestion_.deadlines.latest(), write_deadline + kDeadlineSlack)
      << "ingestion was called with a deadline past the caller's";

  // Behind the target at June: GetCoverage and then the months since December.
  v1::Coverage coverage;
  *coverage.add_schemes() = Health(500, 2000, "2025-06");
  coverage.set_as_of_month("2025-06");
  aggregation_.SetCoverage(coverage);
  const absl::Time read_deadline = absl::Now() + absl::Seconds(20);
  v1::Achievement answer;
  ASSERT_THAT(GetAchievement("82", read_deadline, &answer), IsOk());
  ASSERT_GE(aggregation_.deadlines.calls(), 2) << "GetCoverage and GetCoverageSeries";
  EXPECT_LE(aggregation_.deadlines.latest(), read_deadline + kDeadlineSlack)
      << "aggregation was called with a deadline past the caller's";
  EXPECT_LE(ingestion_.deadlines.latest(), read_deadline + kDeadlineSlack);
}

TEST_F(UpstreamTest, FiguresNoCountryHoldsAreRefusedNotSummed) {
  ASSERT_THAT(SetTarget("82", 2026, 1000000), IsOk());
  // Two populations whose sum wraps int64 (the probe saw a base total below zero).
  const int64_t half = std::numeric_limits<int64_t>::max() / 2 + 1;
  std::vector<v1::Coverage> children;
  for (const std::string code : {"82001", "82002"}) {
    v1::Coverage c;
    *c.mutable_unit() = Unit(code, v1::ADMIN_LEVEL_COMMUNE);
    *c.add_schemes() = Health(1000, half, "2025-12");
    children.push_back(c);
  }
  aggregation_.SetChildren(children);
  v1::AllocateTargetRequest allocate;
  allocate.set_parent_code("82");
  allocate.set_scheme(v1::SCHEME_HEALTH);
  allocate.set_year(2026);
  allocate.set_level(v1::ADMIN_LEVEL_COMMUNE);
  allocate.set_method(v1::ALLOCATION_METHOD_POPULATION);
  allocate.set_preview(true);
  v1::AllocateTargetResponse allocation;
  grpc::ClientContext allocate_context;
  const grpc::Status allocated = targets_->AllocateTarget(&allocate_context, allocate, &allocation);
  EXPECT_EQ(allocated.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << allocated.error_message() << "; base_total " << allocation.base_total();
  EXPECT_THAT(allocated.error_message(), AllOf(HasSubstr("82001"), HasSubstr("population")));

  // A unit's own count: never compared, never wrapped into a projection.
  v1::Coverage coverage;
  *coverage.add_schemes() =
      Health(std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::max(), "2025-06");
  coverage.set_as_of_month("2025-06");
  aggregation_.SetCoverage(coverage);
  v1::Achievement answer;
  const grpc::Status read = GetAchievement("82", absl::Now() + absl::Seconds(20), &answer);
  EXPECT_EQ(read.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << read.error_message();
  EXPECT_THAT(read.error_message(), HasSubstr("participants"));
}

// Issue 10: the token a caller gives reaches aggregation on every call the served call makes,
// as given; a list's pages after the first ask to be at least as fresh as the page before
// (aggregation_service.proto); the answer says the oldest seq of the answers it combined.
TEST_F(UpstreamTest, TheCallersTokenReachesAggregationAndTheAnswerSaysWhatItReflects) {
  ASSERT_THAT(SetTarget("82", 2026, 1000), IsOk());
  std::vector<v1::Coverage> children;
  for (const std::string code : {"82001", "82002"}) {
    v1::Coverage c;
    *c.mutable_unit() = Unit(code, v1::ADMIN_LEVEL_COMMUNE);
    *c.add_schemes() = Health(1000, 5000, "2025-12");
    children.push_back(c);
  }
  aggregation_.SetChildren(children);
  aggregation_.SetPages({120, 130});
  v1::AllocateTargetRequest allocate;
  allocate.set_parent_code("82");
  allocate.set_scheme(v1::SCHEME_HEALTH);
  allocate.set_year(2026);
  allocate.set_level(v1::ADMIN_LEVEL_COMMUNE);
  allocate.set_method(v1::ALLOCATION_METHOD_POPULATION);
  allocate.set_preview(true);
  *allocate.mutable_freshness() = Token(100, v1::CONSISTENCY_FULL);
  v1::AllocateTargetResponse allocation;
  grpc::ClientContext allocate_context;
  ASSERT_THAT(FromGrpcStatus(targets_->AllocateTarget(&allocate_context, allocate, &allocation)),
              IsOk());
  EXPECT_EQ(allocation.parts_size(), 2);
  EXPECT_EQ(allocation.reflects_seq(), 120) << "the first page's, the older";
  const std::vector<v1::ListCoverageRequest> pages = aggregation_.list_requests();
  ASSERT_EQ(pages.size(), 2u);
  EXPECT_THAT(pages[0].freshness(), FreshnessIs(Token(100, v1::CONSISTENCY_FULL)));
  EXPECT_THAT(pages[1].freshness(), FreshnessIs(Token(120, v1::CONSISTENCY_FULL)));
  EXPECT_EQ(pages[1].page_token(), "1");

  // Behind the target in June: the unit's figures, then the months since December.
  ASSERT_THAT(SetTarget("82", 2025, 900), IsOk());
  v1::Coverage coverage;
  *coverage.add_schemes() = Health(500, 1000, "2025-06");
  coverage.set_as_of_month("2025-06");
  coverage.set_reflects_seq(140);
  aggregation_.SetCoverage(coverage);
  aggregation_.SetSeriesSeq(135);
  v1::GetAchievementRequest request;
  request.set_unit_code("82");
  request.set_period("2025");
  request.add_schemes(v1::SCHEME_HEALTH);
  *request.mutable_freshness() = Token(100, v1::CONSISTENCY_APPLIED);
  v1::Achievement achievement;
  grpc::ClientContext achievement_context;
  ASSERT_THAT(FromGrpcStatus(targets_->GetAchievement(&achievement_context, request, &achievement)),
              IsOk());
  EXPECT_EQ(achievement.reflects_seq(), 135) << "the older of the two answers";
  ASSERT_EQ(aggregation_.coverage_requests().size(), 1u);
  EXPECT_THAT(aggregation_.coverage_requests()[0].freshness(),
              FreshnessIs(Token(100, v1::CONSISTENCY_APPLIED)));
  ASSERT_EQ(aggregation_.series_requests().size(), 1u);
  EXPECT_THAT(aggregation_.series_requests()[0].freshness(),
              FreshnessIs(Token(100, v1::CONSISTENCY_APPLIED)));
}

TEST_F(UpstreamTest, FailuresNameTheServiceNeverItsAddressOrRawMessage) {
  ASSERT_THAT(SetTarget("82", 2025, 900), IsOk());
  // What a broken service may say about itself.
  const std::string raw = "could not connect to 10.0.0.7:5432; SELECT unit FROM rollups";
  aggregation_.Fail(grpc::Status(grpc::StatusCode::INTERNAL, raw));
  v1::Achievement answer;
  const grpc::Status read = GetAchievement("82", absl::Now() + absl::Seconds(20), &answer);
  EXPECT_EQ(read.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_THAT(read.error_message(),
              AllOf(HasSubstr("aggregation service"), HasSubstr("GetCoverage"),
                    Not(HasSubstr("10.0.0.7")), Not(HasSubstr("SELECT"))));

  aggregation_.Fail(grpc::Status(grpc::StatusCode::UNAVAILABLE, raw));
  const grpc::Status unavailable = GetAchievement("82", absl::Now() + absl::Seconds(20), &answer);
  EXPECT_EQ(unavailable.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(unavailable.error_message(),
              AllOf(HasSubstr("aggregation service is unavailable"), Not(HasSubstr("10.0.0.7")),
                    Not(HasSubstr(stubs_address_))));

  ingestion_.Fail(grpc::Status(grpc::StatusCode::UNAVAILABLE, raw));
  const grpc::Status write = SetTarget("82", 2025, 950);
  EXPECT_EQ(write.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(write.error_message(),
              AllOf(HasSubstr("ingestion service is unavailable"), Not(HasSubstr("10.0.0.7")),
                    Not(HasSubstr(stubs_address_))));
}

TEST_F(UpstreamTest, AServiceThatCannotBeReachedIsNamedWithoutItsAddress) {
  // Nothing listens there any more: gRPC's own message names the address.
  stubs_->Shutdown(std::chrono::system_clock::now());
  stubs_->Wait();
  stubs_.reset();
  const grpc::Status write = SetTarget("82", 2025, 900);
  EXPECT_EQ(write.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(write.error_message(),
              AllOf(HasSubstr("ingestion service"), Not(HasSubstr(stubs_address_)),
                    Not(HasSubstr(absl::StrCat(stubs_port_)))));
}

}  // namespace
}  // namespace covtrack::targets
