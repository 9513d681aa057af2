// The target service against the real ingestion and aggregation services (in-process, on
// loopback ports, over gRPC), fed with DOMAIN.md's worked examples as commune-level data
// (tests/fixtures). Nothing here is faked: a wrong rollup, a wrong basis or a wrong rounding
// shows up as a wrong figure or a wrong paragraph.

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <numeric>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/measures.h"
#include "common/server.h"
#include "services/targets/target_service.h"
#include "tests/aggregation/aggregation_harness.h"
#include "tests/fixtures/coverage_fixtures.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/test_env.h"

namespace covtrack::targets {
namespace {

using ::covtrack::testing::AggregationHarness;
using ::covtrack::testing::IngestionHarness;

v1::Target MakeTarget(const std::string& unit, v1::Scheme scheme, int year, v1::TargetKind kind,
                      double value, v1::TargetBasis basis = v1::TARGET_BASIS_ALL_PARTICIPANTS) {
  v1::Target t;
  t.set_unit_code(unit);
  t.set_scheme(scheme);
  t.set_year(year);
  t.set_kind(kind);
  t.set_value(value);
  t.set_basis(basis);
  t.set_assigned_by("UBND tỉnh");
  return t;
}

class TargetsIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ingestion_ = IngestionHarness::Start();
    ASSERT_TRUE(fixtures::LoadFixture(ingestion_->stub(), fixtures::MyTho2023()).ok());
    ASSERT_TRUE(fixtures::LoadFixture(ingestion_->stub(), fixtures::MaiSon2023()).ok());
    aggregation_ = StartAggregation();

    TargetOptions options;
    options.store_url = covtrack::testing::SqliteStoreUrl();
    options.aggregation_addr = aggregation_->address();
    options.ingestion_addr = ingestion_->address();
    options.aggregation_deadline = absl::Seconds(10);
    options.clock = [this] { return now_; };
    absl::StatusOr<std::unique_ptr<TargetServiceImpl>> service = TargetServiceImpl::Create(options);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = std::move(*service);
    ServerOptions server_options;
    server_options.service_name = "targets";
    server_options.shutdown_grace = absl::Seconds(2);
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::Start(server_options, {service_.get()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = v1::TargetService::NewStub(
        grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown();
    }
  }

  // The harness's default: reads without a token are fully consistent (read-your-writes).
  virtual std::unique_ptr<AggregationHarness> StartAggregation() {
    return AggregationHarness::Start(ingestion_->address());
  }

  v1::Target Set(const v1::Target& target, const std::string& request_id) {
    v1::SetTargetRequest request;
    *request.mutable_target() = target;
    request.set_request_id(request_id);
    v1::Target stored;
    grpc::ClientContext context;
    grpc::Status status = stub_->SetTarget(&context, request, &stored);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return stored;
  }

  // The published DOMAIN.md targets.
  void SetPublishedTargets() {
    Set(MakeTarget("125", v1::SCHEME_COMPULSORY_SOCIAL, 2023, v1::TARGET_KIND_PARTICIPANTS, 11136),
        "mai-son-compulsory");
    Set(MakeTarget("125", v1::SCHEME_HEALTH, 2023, v1::TARGET_KIND_PARTICIPANTS, 147821,
                   v1::TARGET_BASIS_IN_PROVINCE),
        "mai-son-health");
    Set(MakeTarget("815", v1::SCHEME_HEALTH, 2023, v1::TARGET_KIND_COVERAGE_PERCENT, 89.0),
        "my-tho-health");
    Set(MakeTarget("815", v1::SCHEME_SOCIAL, 2023, v1::TARGET_KIND_COVERAGE_PERCENT, 28.9),
        "my-tho-social");
  }

  grpc::Status Achievement(const std::string& unit, const std::string& period,
                           v1::Achievement* out) {
    v1::GetAchievementRequest request;
    request.set_unit_code(unit);
    request.set_period(period);
    grpc::ClientContext context;
    return stub_->GetAchievement(&context, request, out);
  }

  static const v1::SchemeAchievement& SchemeOf(const v1::Achievement& a, v1::Scheme scheme) {
    for (const v1::SchemeAchievement& s : a.schemes()) {
      if (s.scheme() == scheme) {
        return s;
      }
    }
    static v1::SchemeAchievement empty;
    ADD_FAILURE() << "scheme " << scheme << " missing";
    return empty;
  }

  static double OneDecimal(double x) { return std::round(x * 10.0) / 10.0; }

  absl::Time now_ = absl::FromCivil(absl::CivilSecond(2024, 1, 20, 9, 0, 0), absl::UTCTimeZone());
  std::unique_ptr<IngestionHarness> ingestion_;
  std::unique_ptr<AggregationHarness> aggregation_;
  std::unique_ptr<TargetServiceImpl> service_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::TargetService::Stub> stub_;
};

TEST_F(TargetsIntegrationTest, MaiSon2023ReproducesThePublishedAchievement) {
  SetPublishedTargets();
  v1::Achievement a;
  grpc::Status status = Achievement("125", "2023", &a);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(a.as_of_month(), "2023-12");
  EXPECT_EQ(a.unit().code(), "125");

  const v1::SchemeAchievement& compulsory = SchemeOf(a, v1::SCHEME_COMPULSORY_SOCIAL);
  EXPECT_EQ(compulsory.actual_participants(), 11661);
  EXPECT_EQ(OneDecimal(compulsory.achievement_percent()), 104.7);  // "đạt 104,7% kế hoạch"
  EXPECT_EQ(compulsory.status(), v1::ACHIEVEMENT_STATUS_MET);

  const v1::SchemeAchievement& health = SchemeOf(a, v1::SCHEME_HEALTH);
  EXPECT_EQ(health.coverage().participants(), 154621);
  EXPECT_EQ(health.actual_participants(), 148722);  // in the province only
  EXPECT_EQ(OneDecimal(health.achievement_percent()), 100.6);
  EXPECT_EQ(health.status(), v1::ACHIEVEMENT_STATUS_MET);
}

TEST_F(TargetsIntegrationTest, MyTho2023ReproducesThePointsAboveTarget) {
  SetPublishedTargets();
  v1::Achievement a;
  grpc::Status status = Achievement("815", "2023", &a);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const v1::SchemeAchievement& health = SchemeOf(a, v1::SCHEME_HEALTH);
  EXPECT_EQ(health.actual_participants(), 207717);
  EXPECT_EQ(OneDecimal(health.actual_coverage_percent()), 89.9);
  EXPECT_EQ(OneDecimal(health.points_vs_target()), 0.9);
  EXPECT_EQ(health.status(), v1::ACHIEVEMENT_STATUS_MET);
  const v1::SchemeAchievement& social = SchemeOf(a, v1::SCHEME_SOCIAL);
  EXPECT_EQ(social.actual_participants(), 37489);
  EXPECT_EQ(OneDecimal(social.actual_coverage_percent()), 30.2);
  EXPECT_EQ(OneDecimal(social.points_vs_target()), 1.3);
  EXPECT_EQ(social.status(), v1::ACHIEVEMENT_STATUS_MET);
  EXPECT_EQ(SchemeOf(a, v1::SCHEME_UNEMPLOYMENT).status(), v1::ACHIEVEMENT_STATUS_NO_TARGET);
}

TEST_F(TargetsIntegrationTest, ReportParagraphs) {
  SetPublishedTargets();
  v1::GetReportRequest request;
  request.set_unit_code("815");
  request.set_period("2023");
  v1::Report report;
  grpc::ClientContext context;
  grpc::Status status = stub_->GetReport(&context, request, &report);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(report.text(),
            "Tính đến 31/12/2023, thành phố Mỹ Tho có "
            "37.489 người tham gia BHXH, bằng 30,2% lực lượng lao động trong độ tuổi, "
            "vượt 1,3% chỉ tiêu (chỉ tiêu 28,9%); "
            "35.458 người tham gia BHXH bắt buộc, bằng 28,6% lực lượng lao động trong độ tuổi; "
            "2.031 người tham gia BHXH tự nguyện, bằng 1,6% lực lượng lao động trong độ tuổi; "
            "207.717 người tham gia BHYT, đạt tỷ lệ bao phủ 89,9% dân số, "
            "vượt 0,9% chỉ tiêu (chỉ tiêu 89,0%).");

  request.set_unit_code("125");
  grpc::ClientContext context2;
  status = stub_->GetReport(&context2, request, &report);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(report.text(),
            "Tính đến 31/12/2023, huyện Mai Sơn có "
            "11.661 người tham gia BHXH bắt buộc, đạt 104,7% kế hoạch (chỉ tiêu 11.136 người); "
            "154.621 người tham gia BHYT, trong đó 148.722 người tham gia tại tỉnh, "
            "đạt 100,6% kế hoạch (chỉ tiêu 147.821 người tham gia tại tỉnh).");
}

TEST_F(TargetsIntegrationTest, RevisionsChangeTheAchievementAndStayListed) {
  SetPublishedTargets();
  Set(MakeTarget("125", v1::SCHEME_COMPULSORY_SOCIAL, 2023, v1::TARGET_KIND_PARTICIPANTS, 12000),
      "mai-son-compulsory-revised");
  v1::Achievement a;
  ASSERT_TRUE(Achievement("125", "2023", &a).ok());
  const v1::SchemeAchievement& compulsory = SchemeOf(a, v1::SCHEME_COMPULSORY_SOCIAL);
  EXPECT_EQ(compulsory.target().revision(), 2);
  EXPECT_EQ(compulsory.status(), v1::ACHIEVEMENT_STATUS_BEHIND);
  EXPECT_EQ(compulsory.participants_to_target(), 12000 - 11661);

  v1::ListTargetsRequest list;
  list.set_unit_code("125");
  list.set_scheme(v1::SCHEME_COMPULSORY_SOCIAL);
  list.set_include_revisions(true);
  v1::ListTargetsResponse listed;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->ListTargets(&context, list, &listed).ok());
  ASSERT_EQ(listed.targets_size(), 2);
  EXPECT_EQ(listed.targets(0).value(), 11136);
  EXPECT_EQ(listed.targets(1).value(), 12000);
}

TEST_F(TargetsIntegrationTest, AllocationOverCommunesSumsExactlyAndValidates) {
  // Mỹ Tho's 2024 health target split over its 14 communes by their end-2023 participants.
  Set(MakeTarget("815", v1::SCHEME_HEALTH, 2024, v1::TARGET_KIND_PARTICIPANTS, 212345), "parent");
  v1::AllocateTargetRequest request;
  request.set_parent_code("815");
  request.set_scheme(v1::SCHEME_HEALTH);
  request.set_year(2024);
  request.set_method(v1::ALLOCATION_METHOD_LAST_YEAR_PARTICIPANTS);
  request.set_request_id("alloc-my-tho-2024");
  v1::AllocateTargetResponse response;
  grpc::ClientContext context;
  grpc::Status status = stub_->AllocateTarget(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.parts_size(), fixtures::my_tho_2023::kCommunes);
  EXPECT_EQ(response.base_total(), fixtures::my_tho_2023::kHealth);
  int64_t sum = 0;
  for (const v1::AllocationPart& part : response.parts()) {
    sum += static_cast<int64_t>(part.target().value());
    EXPECT_EQ(part.target().revision(), 1);
    // Each part is within one person of its exact proportional share.
    const double exact = 212345.0 * static_cast<double>(part.base()) /
                         static_cast<double>(fixtures::my_tho_2023::kHealth);
    EXPECT_LT(std::abs(part.target().value() - exact), 1.0) << part.unit().code();
  }
  EXPECT_EQ(sum, 212345);

  // A retry returns the first answer.
  v1::AllocateTargetResponse again;
  grpc::ClientContext retry_context;
  ASSERT_TRUE(stub_->AllocateTarget(&retry_context, request, &again).ok());
  EXPECT_EQ(again.SerializeAsString(), response.SerializeAsString());

  // A preview by population (the communes' 2023 population sums to 231,000) stores nothing.
  request.set_method(v1::ALLOCATION_METHOD_POPULATION);
  request.set_preview(true);
  request.clear_request_id();
  v1::AllocateTargetResponse preview;
  grpc::ClientContext population_context;
  status = stub_->AllocateTarget(&population_context, request, &preview);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(preview.stored());
  EXPECT_EQ(preview.base_total(), fixtures::my_tho_2023::kPopulation);
  EXPECT_EQ(preview.allocated_total(), 212345);

  // The stored allocation adds up to the parent; the Mai Sơn communes (no 2024 targets) are
  // not under Mỹ Tho and do not count.
  v1::ValidateAllocationRequest validate;
  validate.set_parent_code("815");
  validate.set_scheme(v1::SCHEME_HEALTH);
  validate.set_year(2024);
  v1::ValidateAllocationResponse validated;
  grpc::ClientContext validate_context;
  status = stub_->ValidateAllocation(&validate_context, validate, &validated);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(validated.consistent());
  EXPECT_EQ(validated.children_total(), 212345);
  EXPECT_EQ(validated.child_targets_size(), fixtures::my_tho_2023::kCommunes);
}

TEST_F(TargetsIntegrationTest, ValidateAllocationAtYearEnd) {
  // 2023 targets for Mỹ Tho's communes that add up to one person less than the district's.
  const fixtures::Fixture fixture = fixtures::MyTho2023();
  int64_t total = 0;
  std::vector<std::string> communes;
  for (const v1::ParticipationRecord& r : fixture.records) {
    if (r.scheme() == v1::SCHEME_HEALTH) {
      Set(MakeTarget(r.unit_code(), v1::SCHEME_HEALTH, 2023, v1::TARGET_KIND_PARTICIPANTS,
                     static_cast<double>(r.participants())),
          "c" + r.unit_code());
      total += r.participants();
      communes.push_back(r.unit_code());
    }
  }
  Set(MakeTarget("815", v1::SCHEME_HEALTH, 2023, v1::TARGET_KIND_PARTICIPANTS,
                 static_cast<double>(total + 1)),
      "district");
  v1::ValidateAllocationRequest request;
  request.set_parent_code("815");
  request.set_scheme(v1::SCHEME_HEALTH);
  request.set_year(2023);
  v1::ValidateAllocationResponse response;
  grpc::ClientContext context;
  grpc::Status status = stub_->ValidateAllocation(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.child_targets_size(), static_cast<int>(communes.size()));
  EXPECT_EQ(response.difference(), -1);
  EXPECT_FALSE(response.consistent());
  EXPECT_EQ(response.units_without_target_size(), 0);
}

TEST_F(TargetsIntegrationTest, LaggingCommunesWorstFirst) {
  // Targets for Mai Sơn's communes at year end 2023: the first three fall short by 10%, 5% and
  // 20%; the rest are met.
  const fixtures::Fixture fixture = fixtures::MaiSon2023();
  std::map<std::string, int64_t> compulsory;
  for (const v1::ParticipationRecord& r : fixture.records) {
    if (r.scheme() == v1::SCHEME_COMPULSORY_SOCIAL) {
      compulsory[r.unit_code()] = r.participants();
    }
  }
  ASSERT_GE(compulsory.size(), 3u);
  const std::vector<double> shortfall = {0.90, 0.95, 0.80};
  std::vector<std::string> codes;
  int i = 0;
  for (const auto& [code, people] : compulsory) {
    double target = static_cast<double>(people);
    if (i < 3) {
      target = std::ceil(static_cast<double>(people) / shortfall[i]);
      codes.push_back(code);
    }
    Set(MakeTarget(code, v1::SCHEME_COMPULSORY_SOCIAL, 2023, v1::TARGET_KIND_PARTICIPANTS, target),
        "lag-" + code);
    ++i;
  }
  v1::ListLaggingUnitsRequest request;
  request.set_parent_code("125");
  request.set_period("2023");
  request.set_scheme(v1::SCHEME_COMPULSORY_SOCIAL);
  request.set_page_size(2);
  std::vector<std::string> order;
  for (int page = 0; page < 5; ++page) {
    v1::ListLaggingUnitsResponse response;
    grpc::ClientContext context;
    grpc::Status status = stub_->ListLaggingUnits(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.total_size(), 3);
    EXPECT_EQ(response.units_with_target(), static_cast<int>(compulsory.size()));
    for (const v1::LaggingUnit& unit : response.units()) {
      order.push_back(unit.unit().code());
      EXPECT_EQ(unit.achievement().status(), v1::ACHIEVEMENT_STATUS_BEHIND);
    }
    if (response.next_page_token().empty()) {
      break;
    }
    request.set_page_token(response.next_page_token());
  }
  // Worst first: 80%, 90%, 95%.
  EXPECT_EQ(order, (std::vector<std::string>{codes[2], codes[0], codes[1]}));
}

TEST_F(TargetsIntegrationTest, StatusDuringTheYearFromTheClock) {
  // One Mai Sơn commune reports compulsory SI during 2024: +50 by May, +200 by August, against
  // a 2024 target of +400 on its end-2023 figure. Pace at August: +266.7, so it is behind; the
  // trend since May (+50 a month) reaches +400 in December, so it is AT_RISK.
  const fixtures::Fixture fixture = fixtures::MaiSon2023();
  std::string commune;
  int64_t december = 0;
  for (const v1::ParticipationRecord& r : fixture.records) {
    if (r.scheme() == v1::SCHEME_COMPULSORY_SOCIAL) {
      commune = r.unit_code();
      december = r.participants();
      break;
    }
  }
  ASSERT_FALSE(commune.empty());
  covtrack::testing::Submit(
      ingestion_->stub(),
      {covtrack::testing::Record(commune, "2024-05", v1::SCHEME_COMPULSORY_SOCIAL, december + 50),
       covtrack::testing::Record(commune, "2024-08", v1::SCHEME_COMPULSORY_SOCIAL, december + 200)},
      {}, "commune-2024");
  Set(MakeTarget(commune, v1::SCHEME_COMPULSORY_SOCIAL, 2024, v1::TARGET_KIND_PARTICIPANTS,
                 static_cast<double>(december + 400)),
      "commune-target-2024");
  now_ = absl::FromCivil(absl::CivilSecond(2024, 9, 12, 10, 0, 0), absl::UTCTimeZone());

  v1::GetAchievementRequest request;
  request.set_unit_code(commune);  // no period: the clock's year, 2024
  request.add_schemes(v1::SCHEME_COMPULSORY_SOCIAL);
  v1::Achievement a;
  grpc::ClientContext context;
  grpc::Status status = stub_->GetAchievement(&context, request, &a);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(a.period(), "2024");
  EXPECT_EQ(a.as_of_month(), "2024-08");
  const v1::SchemeAchievement& s = a.schemes(0);
  EXPECT_EQ(s.actual_participants(), december + 200);
  EXPECT_NEAR(s.baseline_value(), static_cast<double>(december), 1e-9);
  EXPECT_NEAR(s.pace_value(), december + 400.0 * 8 / 12, 1e-6);
  EXPECT_EQ(s.projected_year_end_participants(), december + 400);
  EXPECT_EQ(s.status(), v1::ACHIEVEMENT_STATUS_AT_RISK);

  // A correction of August to +300 puts it ahead of the pace.
  covtrack::testing::Submit(
      ingestion_->stub(),
      {covtrack::testing::Record(commune, "2024-08", v1::SCHEME_COMPULSORY_SOCIAL, december + 300)},
      {}, "commune-2024-correction");
  grpc::ClientContext context2;
  status = stub_->GetAchievement(&context2, request, &a);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(a.schemes(0).status(), v1::ACHIEVEMENT_STATUS_ON_TRACK);
}

// Issue 11, through the real services: Mỹ Tho's 2023 measures reported by two of its communes
// (the others report none), rolled up by aggregation, each against its target on 815 — a ratio
// ceiling read the right way round, a flow's year summed and compared with 2022 — and the
// paragraph carrying them at two decimals.
TEST_F(TargetsIntegrationTest, MeasuresAgainstTheirTargetsAndInTheReport) {
  const fixtures::Fixture fixture = fixtures::MyTho2023();
  std::vector<std::string> communes;
  for (const v1::ParticipationRecord& r : fixture.records) {
    if (r.scheme() == v1::SCHEME_HEALTH && communes.size() < 2) {
      communes.push_back(r.unit_code());
    }
  }
  ASSERT_EQ(communes.size(), 2u);
  v1::SubmitReportRequest submit;
  submit.set_request_id("measures-2022-2023");
  submit.set_source("test");
  const int64_t distinct[] = {10000, 5000};
  const int64_t joined[] = {100, 50};  // a month in 2023; commune 0 also 80 a month in 2022
  const int64_t due[] = {1000000, 500000};
  const int64_t owed[] = {200000, 130000};
  for (int c = 0; c < 2; ++c) {
    *submit.add_measures() =
        MakeMeasureRecord(communes[c], "2023-12", v1::MEASURE_DISTINCT_PARTICIPANTS, distinct[c]);
    *submit.add_measures() =
        MakeMeasureRecord(communes[c], "2023-12", v1::MEASURE_ARREARS_OWED_VND, owed[c]);
    for (int m = 1; m <= 12; ++m) {
      const std::string month = absl::StrFormat("2023-%02d", m);
      *submit.add_measures() = MakeMeasureRecord(communes[c], month, v1::MEASURE_NEW_PARTICIPANTS,
                                                 joined[c], v1::SCHEME_HEALTH);
      *submit.add_measures() =
          MakeMeasureRecord(communes[c], month, v1::MEASURE_CONTRIBUTIONS_DUE_VND, due[c]);
    }
  }
  for (int m = 1; m <= 12; ++m) {
    *submit.add_measures() = MakeMeasureRecord(communes[0], absl::StrFormat("2022-%02d", m),
                                               v1::MEASURE_NEW_PARTICIPANTS, 80, v1::SCHEME_HEALTH);
  }
  v1::SubmitReportResponse submitted;
  grpc::ClientContext submit_context;
  grpc::Status status = ingestion_->stub().SubmitReport(&submit_context, submit, &submitted);
  ASSERT_TRUE(status.ok()) << status.error_message();

  SetPublishedTargets();
  auto measure_target = [](v1::Measure measure, double value, v1::Scheme scheme) {
    v1::Target t;
    t.set_unit_code("815");
    t.set_year(2023);
    t.set_measure(measure);
    t.set_scheme(scheme);
    t.set_value(value);
    t.set_assigned_by("UBND tỉnh Tiền Giang");
    return t;
  };
  Set(measure_target(v1::MEASURE_ARREARS_RATIO, 2.1, v1::SCHEME_UNSPECIFIED), "ratio-ceiling");
  Set(measure_target(v1::MEASURE_NEW_PARTICIPANTS, 1500, v1::SCHEME_HEALTH), "new-health");
  Set(measure_target(v1::MEASURE_DISTINCT_PARTICIPANTS, 16000, v1::SCHEME_UNSPECIFIED), "distinct");

  v1::Achievement a;
  status = Achievement("815", "2023", &a);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(a.measures_size(), 3);
  std::map<v1::Measure, v1::MeasureAchievement> by_measure;
  for (const v1::MeasureAchievement& m : a.measures()) {
    by_measure[m.measure()] = m;
  }
  // 330,000 owed over 18,000,000 due: the ratio of the sums, under the ceiling of 2.1 %.
  const v1::MeasureAchievement& ratio = by_measure[v1::MEASURE_ARREARS_RATIO];
  EXPECT_NEAR(ratio.actual(), 330000.0 * 100 / 18000000, 1e-9);
  EXPECT_TRUE(ratio.lower_is_better());
  EXPECT_LT(ratio.points_vs_target(), 0);
  EXPECT_EQ(ratio.status(), v1::ACHIEVEMENT_STATUS_MET);
  // 12 months × 150 joined: the year's sum, over the target of 1,500.
  EXPECT_EQ(by_measure[v1::MEASURE_NEW_PARTICIPANTS].actual(), 1800);
  EXPECT_EQ(by_measure[v1::MEASURE_NEW_PARTICIPANTS].status(), v1::ACHIEVEMENT_STATUS_MET);
  // 15,000 distinct participants: never derived from the schemes, short of 16,000.
  EXPECT_EQ(by_measure[v1::MEASURE_DISTINCT_PARTICIPANTS].actual(), 15000);
  EXPECT_EQ(by_measure[v1::MEASURE_DISTINCT_PARTICIPANTS].status(), v1::ACHIEVEMENT_STATUS_BEHIND);

  v1::GetReportRequest request;
  request.set_unit_code("815");
  request.set_period("2023");
  request.set_percent_decimals(2);
  v1::Report report;
  grpc::ClientContext report_context;
  status = stub_->GetReport(&report_context, request, &report);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(absl::StartsWith(
      report.text(),
      "Tính đến 31/12/2023, thành phố Mỹ Tho có 15.000 người tham gia BHXH, BHYT, BHTN, đạt "
      "93,75% kế hoạch (chỉ tiêu 16.000 người); 37.489 người tham gia BHXH, bằng 30,21% lực "
      "lượng lao động trong độ tuổi, vượt 1,31% chỉ tiêu (chỉ tiêu 28,90%);"))
      << report.text();
  EXPECT_TRUE(absl::EndsWith(
      report.text(),
      "vượt 0,92% chỉ tiêu (chỉ tiêu 89,00%). Trong năm 2023, phát triển mới 1.800 người tham "
      "gia BHYT, tăng 840 người so với cùng kỳ năm 2022, đạt 120,00% kế hoạch (chỉ tiêu 1.500 "
      "người); tỷ lệ nợ 1,83%, dưới mức trần 2,10%."))
      << report.text();
}

// Issue 10: a client that writes to ingestion and then reads through the target service
// carries its write's change_seq as freshness.at_least_seq. The aggregation replica here answers
// reads without a token from what it has applied (CONSISTENCY_APPLIED, the deployed default),
// so only the token promises that the read sees the write.
class TargetsTokenIntegrationTest : public TargetsIntegrationTest {
 protected:
  std::unique_ptr<AggregationHarness> StartAggregation() override {
    aggregation::AggregationOptions options;
    options.ingestion_addr = ingestion_->address();
    options.default_consistency = v1::CONSISTENCY_APPLIED;
    options.stats_log_interval = absl::ZeroDuration();
    return AggregationHarness::Start(options);
  }

  // Mai Sơn's first commune with a compulsory figure at the end of 2023, and that figure.
  void SetUp() override {
    TargetsIntegrationTest::SetUp();
    for (const v1::ParticipationRecord& r : fixtures::MaiSon2023().records) {
      if (r.scheme() == v1::SCHEME_COMPULSORY_SOCIAL && r.month() == "2023-12") {
        commune_ = r;
        break;
      }
    }
    ASSERT_FALSE(commune_.unit_code().empty());
  }

  // Adds `more` people to the commune's compulsory figure of December 2023; the write's token.
  v1::Freshness Correct(int64_t more, const std::string& request_id) {
    v1::ParticipationRecord record = commune_;
    record.set_participants(commune_.participants() + more);
    const v1::SubmitReportResponse written =
        covtrack::testing::Submit(ingestion_->stub(), {record}, {}, request_id);
    EXPECT_GT(written.change_seq(), 0);
    v1::Freshness token;
    token.set_at_least_seq(written.change_seq());
    return token;
  }

  grpc::Status AchievementWith(const v1::Freshness& token, v1::Achievement* out) {
    v1::GetAchievementRequest request;
    request.set_unit_code(fixtures::mai_son_2023::kDistrictCode);
    request.set_period("2023");
    request.add_schemes(v1::SCHEME_COMPULSORY_SOCIAL);
    *request.mutable_freshness() = token;
    grpc::ClientContext context;
    return stub_->GetAchievement(&context, request, out);
  }

  grpc::Status ReportWith(const v1::Freshness& token, v1::Report* out) {
    v1::GetReportRequest request;
    request.set_unit_code(fixtures::mai_son_2023::kDistrictCode);
    request.set_period("2023");
    *request.mutable_freshness() = token;
    grpc::ClientContext context;
    return stub_->GetReport(&context, request, out);
  }

  // The communes of Mai Sơn behind their compulsory target at the end of 2023 (one page).
  grpc::Status LaggingWith(const v1::Freshness& token, v1::ListLaggingUnitsResponse* out) {
    v1::ListLaggingUnitsRequest request;
    request.set_parent_code(fixtures::mai_son_2023::kDistrictCode);
    request.set_period("2023");
    request.set_scheme(v1::SCHEME_COMPULSORY_SOCIAL);
    request.set_page_size(500);
    *request.mutable_freshness() = token;
    grpc::ClientContext context;
    return stub_->ListLaggingUnits(&context, request, out);
  }

  // A preview of Mai Sơn's 2024 compulsory target split by the communes' 2023 participants.
  grpc::Status AllocationWith(const v1::Freshness& token, v1::AllocateTargetResponse* out) {
    v1::AllocateTargetRequest request;
    request.set_parent_code(fixtures::mai_son_2023::kDistrictCode);
    request.set_scheme(v1::SCHEME_COMPULSORY_SOCIAL);
    request.set_year(2024);
    request.set_method(v1::ALLOCATION_METHOD_LAST_YEAR_PARTICIPANTS);
    request.set_preview(true);
    *request.mutable_freshness() = token;
    grpc::ClientContext context;
    return stub_->AllocateTarget(&context, request, out);
  }

  // The commune's figure in an answer: its lagging entry, or its allocation base.
  int64_t LaggingActual(const v1::ListLaggingUnitsResponse& lagging) {
    for (const v1::LaggingUnit& unit : lagging.units()) {
      if (unit.unit().code() == commune_.unit_code()) {
        return unit.achievement().actual_participants();
      }
    }
    ADD_FAILURE() << "commune " << commune_.unit_code() << " is not listed as lagging";
    return -1;
  }
  int64_t AllocationBase(const v1::AllocateTargetResponse& allocation) {
    for (const v1::AllocationPart& part : allocation.parts()) {
      if (part.unit().code() == commune_.unit_code()) {
        return part.base();
      }
    }
    ADD_FAILURE() << "commune " << commune_.unit_code() << " has no part";
    return -1;
  }

  void SetTargets() {
    // Mai Sơn behind its target, the commune behind its own whatever the corrections add.
    Set(MakeTarget(fixtures::mai_son_2023::kDistrictCode, v1::SCHEME_COMPULSORY_SOCIAL, 2023,
                   v1::TARGET_KIND_PARTICIPANTS, 20000),
        "token-district");
    Set(MakeTarget(commune_.unit_code(), v1::SCHEME_COMPULSORY_SOCIAL, 2023,
                   v1::TARGET_KIND_PARTICIPANTS,
                   static_cast<double>(commune_.participants() + 5000)),
        "token-commune");
    Set(MakeTarget(fixtures::mai_son_2023::kDistrictCode, v1::SCHEME_COMPULSORY_SOCIAL, 2024,
                   v1::TARGET_KIND_PARTICIPANTS, 12000),
        "token-district-2024");
  }

  v1::ParticipationRecord commune_;
};

// Every read right after a write, carrying the write's token, has the write in its figures.
TEST_F(TargetsTokenIntegrationTest, ReadsCarryingAWritesTokenSeeTheWrite) {
  SetTargets();
  const v1::Freshness first = Correct(1000, "token-correction-1");
  v1::Achievement achievement;
  grpc::Status status = AchievementWith(first, &achievement);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(achievement.schemes_size(), 1);
  EXPECT_EQ(achievement.schemes(0).actual_participants(),
            fixtures::mai_son_2023::kCompulsory + 1000);

  const v1::Freshness second = Correct(2000, "token-correction-2");
  v1::Report report;
  status = ReportWith(second, &report);
  ASSERT_TRUE(status.ok()) << status.error_message();
  bool found = false;
  for (const v1::SchemeAchievement& s : report.achievement().schemes()) {
    if (s.scheme() == v1::SCHEME_COMPULSORY_SOCIAL) {
      found = true;
      EXPECT_EQ(s.actual_participants(), fixtures::mai_son_2023::kCompulsory + 2000);
    }
  }
  EXPECT_TRUE(found);

  const v1::Freshness third = Correct(3000, "token-correction-3");
  v1::ListLaggingUnitsResponse lagging;
  status = LaggingWith(third, &lagging);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(LaggingActual(lagging), commune_.participants() + 3000);

  const v1::Freshness fourth = Correct(4000, "token-correction-4");
  v1::AllocateTargetResponse allocation;
  status = AllocationWith(fourth, &allocation);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(AllocationBase(allocation), commune_.participants() + 4000);
  EXPECT_EQ(allocation.allocated_total(), 12000);
}

// Every answer says the seq its figures reflect: at least the token it was given, which a
// client may pass on to its next read. Needs the aggregation service to fill reflects_seq
// (issue 10, part 2).
TEST_F(TargetsTokenIntegrationTest, AnswersSayASeqAtLeastTheirToken) {
  SetTargets();
  const v1::Freshness token = Correct(1000, "token-reflects");
  v1::Achievement achievement;
  grpc::Status status = AchievementWith(token, &achievement);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_GE(achievement.reflects_seq(), token.at_least_seq());
  v1::Report report;
  status = ReportWith(token, &report);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_GE(report.achievement().reflects_seq(), token.at_least_seq());
  v1::ListLaggingUnitsResponse lagging;
  status = LaggingWith(token, &lagging);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_GE(lagging.reflects_seq(), token.at_least_seq());
  v1::AllocateTargetResponse allocation;
  status = AllocationWith(token, &allocation);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_GE(allocation.reflects_seq(), token.at_least_seq());

  // A reflects_seq passed on as the next read's token is honoured like a write's.
  v1::Freshness passed_on;
  passed_on.set_at_least_seq(achievement.reflects_seq());
  v1::Achievement next;
  status = AchievementWith(passed_on, &next);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_GE(next.reflects_seq(), achievement.reflects_seq());
  ASSERT_EQ(next.schemes_size(), 1);
  EXPECT_EQ(next.schemes(0).actual_participants(), fixtures::mai_son_2023::kCompulsory + 1000);
}

TEST_F(TargetsIntegrationTest, AggregationDownIsUnavailable) {
  SetPublishedTargets();
  v1::Achievement a;
  ASSERT_TRUE(Achievement("815", "2023", &a).ok());
  aggregation_->Stop();
  v1::Achievement after;
  grpc::Status status = Achievement("815", "2023", &after);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  // The service is named; its address is for the log only (issue 13: errors that say too much).
  EXPECT_TRUE(absl::StrContains(status.error_message(), "aggregation service is unavailable"))
      << status.error_message();
  EXPECT_FALSE(absl::StrContains(status.error_message(), aggregation_->address()))
      << status.error_message();
  EXPECT_EQ(after.schemes_size(), 0);
  // Targets stay readable.
  v1::ListTargetsRequest list;
  list.set_unit_code("815");
  v1::ListTargetsResponse listed;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->ListTargets(&context, list, &listed).ok());
  EXPECT_EQ(listed.targets_size(), 2);
}

}  // namespace
}  // namespace covtrack::targets
