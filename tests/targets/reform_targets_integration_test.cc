// Targets across the 2025 reform (issue 9) through the real services: ingestion, aggregation
// and targets in-process on loopback ports over gRPC (SQLite stores). The real catalogue
// (data/vn-admin-units: 63 provinces before 2025-07-01, 34 after) is imported, and the province
// rows of the shipped merger map as crosswalk links (every old province went whole into one new
// one). The expected values are computed here from the figures the test submits, not by the
// services' code.
//
// Figures: old 82 Tiền Giang and old 87 Đồng Tháp at 2024-12 with their 2024 population and
// labour force; the new 82 Đồng Tháp (which reuses the code) at 2025-09 and 2025-12 with its
// 2025 population and labour force; the new 01 Hà Nội at 2025-12.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/server.h"
#include "gmock/gmock.h"
#include "services/targets/target_service.h"
#include "tests/aggregation/aggregation_harness.h"
#include "tests/testing/builders.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tools/sampledata/csv.h"
#include "tools/sampledata/sample_data.h"

namespace covtrack::targets {
namespace {

using ::covtrack::testing::AggregationHarness;
using ::covtrack::testing::Denominator;
using ::covtrack::testing::IngestionHarness;
using ::covtrack::testing::IsOk;
using ::covtrack::testing::Record;
using ::testing::HasSubstr;

// The submitted figures.
constexpr int64_t kHealth82Dec2024 = 1450000;
constexpr int64_t kHealth87Dec2024 = 1400000;
constexpr int64_t kCompulsory82Dec2024 = 230000;
constexpr int64_t kCompulsory87Dec2024 = 210000;
constexpr int64_t kLaborForce82In2024 = 1200000;
constexpr int64_t kLaborForce87In2024 = 900000;
constexpr int64_t kPopulation82In2024 = 1800000;
constexpr int64_t kPopulation87In2024 = 1600000;
constexpr int64_t kHealthNew82Sep2025 = 3000000;
constexpr int64_t kHealthNew82Dec2025 = 3100000;
constexpr int64_t kCompulsoryNew82Dec2025 = 504000;
constexpr int64_t kPopulationNew82In2025 = 3420000;
constexpr int64_t kLaborForceNew82In2025 = 2100000;

// The 2025 targets of the provinces before the reform.
constexpr double kHealthTarget82 = 1700000;  // people
constexpr double kHealthTarget87 = 1500000;
constexpr double kCompulsoryTarget82 = 20.0;  // % of the labour force
constexpr double kCompulsoryTarget87 = 25.0;

class ReformTargetsIntegrationTest : public ::testing::Test {
 protected:
  // One ingestion and aggregation for the suite (importing the catalogue takes seconds); a
  // fresh target store for each test.
  static void SetUpTestSuite() {
    ingestion_ = IngestionHarness::Start().release();
    absl::StatusOr<std::unique_ptr<sampledata::SampleData>> data = sampledata::SampleData::Load();
    ASSERT_THAT(data, IsOk());
    covtrack::testing::ImportUnits(ingestion_->stub(), (*data)->units(), "catalogue");
    // The communes of the new 82 (the 2025-07-01 catalogue places them under the province).
    for (const v1::AdminUnit& unit : (*data)->units()) {
      if (unit.level() == v1::ADMIN_LEVEL_COMMUNE && unit.parent_code() == "82" &&
          unit.valid_from() == "2025-07-01") {
        new_82_communes_.push_back(unit.code());
      }
    }
    std::sort(new_82_communes_.begin(), new_82_communes_.end());
    ASSERT_GT(new_82_communes_.size(), 50u);

    absl::StatusOr<std::string> map =
        sampledata::ReadFileToString(sampledata::DefaultDataDir() + "/merge_map_2025.csv");
    ASSERT_THAT(map, IsOk());
    absl::StatusOr<sampledata::CsvTable> table = sampledata::ParseCsv(*map);
    ASSERT_THAT(table, IsOk());
    v1::ImportCrosswalkRequest crosswalk;
    crosswalk.set_request_id("provinces");
    crosswalk.set_source("Nghị quyết 202/2025/QH15");
    for (const sampledata::CsvRow& row : table->rows) {
      if (row.fields.at(2) != "province") {
        continue;
      }
      v1::CrosswalkLink* link = crosswalk.add_links();
      link->set_from_code(row.fields.at(0));
      link->set_to_code(row.fields.at(1));
      link->set_effective_date("2025-07-01");
      link->set_population_share(1.0);  // all 63 provinces went whole
      predecessors_[row.fields.at(1)].push_back(row.fields.at(0));
    }
    ASSERT_EQ(crosswalk.links_size(), 63);
    ASSERT_EQ(predecessors_.size(), 34u);
    ASSERT_EQ(predecessors_["82"], (std::vector<std::string>{"82", "87"}));
    {
      v1::ImportCrosswalkResponse response;
      grpc::ClientContext context;
      ASSERT_THAT(ingestion_->stub().ImportCrosswalk(&context, crosswalk, &response), IsOk());
    }

    using v1::SCHEME_COMPULSORY_SOCIAL;
    using v1::SCHEME_HEALTH;
    covtrack::testing::Submit(
        ingestion_->stub(),
        {Record("82", "2024-12", SCHEME_HEALTH, kHealth82Dec2024),
         Record("87", "2024-12", SCHEME_HEALTH, kHealth87Dec2024),
         Record("82", "2024-12", SCHEME_COMPULSORY_SOCIAL, kCompulsory82Dec2024),
         Record("87", "2024-12", SCHEME_COMPULSORY_SOCIAL, kCompulsory87Dec2024),
         Record("82", "2025-09", SCHEME_HEALTH, kHealthNew82Sep2025),
         Record("82", "2025-12", SCHEME_HEALTH, kHealthNew82Dec2025),
         Record("82", "2025-12", SCHEME_COMPULSORY_SOCIAL, kCompulsoryNew82Dec2025),
         Record("01", "2025-12", SCHEME_HEALTH, 7000000)},
        {Denominator("82", 2024, v1::DENOMINATOR_KIND_POPULATION, kPopulation82In2024),
         Denominator("87", 2024, v1::DENOMINATOR_KIND_POPULATION, kPopulation87In2024),
         Denominator("82", 2024, v1::DENOMINATOR_KIND_LABOR_FORCE, kLaborForce82In2024),
         Denominator("87", 2024, v1::DENOMINATOR_KIND_LABOR_FORCE, kLaborForce87In2024),
         Denominator("82", 2025, v1::DENOMINATOR_KIND_POPULATION, kPopulationNew82In2025),
         Denominator("82", 2025, v1::DENOMINATOR_KIND_LABOR_FORCE, kLaborForceNew82In2025)},
        "figures");
    // The new communes' 2025 populations: the bases of a 2026 allocation.
    std::vector<v1::DenominatorRecord> populations;
    for (size_t i = 0; i < new_82_communes_.size(); ++i) {
      populations.push_back(Denominator(new_82_communes_[i], 2025, v1::DENOMINATOR_KIND_POPULATION,
                                        CommunePopulation(i)));
    }
    covtrack::testing::Submit(ingestion_->stub(), {}, populations, "commune-populations");
    aggregation_ = AggregationHarness::Start(ingestion_->address()).release();
  }

  static void TearDownTestSuite() {
    delete aggregation_;
    delete ingestion_;
  }

  void SetUp() override {
    TargetOptions options;
    options.store_url = covtrack::testing::SqliteStoreUrl();
    options.aggregation_addr = aggregation_->address();
    options.ingestion_addr = ingestion_->address();
    options.aggregation_deadline = absl::Seconds(30);
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
    stub_ = v1::TargetService::NewStub(
        grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown();
    }
  }

  v1::Target Set(const std::string& code, const std::string& unit_as_of, v1::Scheme scheme,
                 v1::TargetKind kind, double value, const std::string& decision) {
    v1::SetTargetRequest request;
    request.set_request_id(absl::StrCat(code, unit_as_of, scheme, decision));
    v1::Target* t = request.mutable_target();
    t->set_unit_code(code);
    t->set_unit_as_of(unit_as_of);
    t->set_scheme(scheme);
    t->set_year(2025);
    t->set_kind(kind);
    t->set_value(value);
    t->set_assigned_by("UBND tỉnh");
    t->set_decision_ref(decision);
    v1::Target stored;
    grpc::ClientContext context;
    EXPECT_THAT(stub_->SetTarget(&context, request, &stored), IsOk()) << code;
    return stored;
  }

  // Old 82 Tiền Giang named on its last day (82 names the new Đồng Tháp at the end of 2025);
  // old 87 under "" (no unit took 87 after it: it is the code's holder for 2025).
  void SetOldProvinceTargets() {
    EXPECT_EQ(Set("82", "2025-06-30", v1::SCHEME_HEALTH, v1::TARGET_KIND_PARTICIPANTS,
                  kHealthTarget82, "QĐ 82/QĐ-UBND")
                  .unit_as_of(),
              "2025-06-30");
    EXPECT_EQ(Set("87", "2025-06-30", v1::SCHEME_HEALTH, v1::TARGET_KIND_PARTICIPANTS,
                  kHealthTarget87, "QĐ 87/QĐ-UBND")
                  .unit_as_of(),
              "");
    Set("82", "2025-06-30", v1::SCHEME_COMPULSORY_SOCIAL, v1::TARGET_KIND_COVERAGE_PERCENT,
        kCompulsoryTarget82, "QĐ 82/QĐ-UBND");
    Set("87", "", v1::SCHEME_COMPULSORY_SOCIAL, v1::TARGET_KIND_COVERAGE_PERCENT,
        kCompulsoryTarget87, "QĐ 87/QĐ-UBND");
  }

  v1::Achievement Achievement(const std::string& code, const std::string& period) {
    v1::GetAchievementRequest request;
    request.set_unit_code(code);
    request.set_period(period);
    request.add_schemes(v1::SCHEME_HEALTH);
    request.add_schemes(v1::SCHEME_COMPULSORY_SOCIAL);
    v1::Achievement achievement;
    grpc::ClientContext context;
    EXPECT_THAT(stub_->GetAchievement(&context, request, &achievement), IsOk());
    return achievement;
  }

  static const v1::SchemeAchievement& SchemeOf(const v1::Achievement& a, v1::Scheme scheme) {
    for (const v1::SchemeAchievement& s : a.schemes()) {
      if (s.scheme() == scheme) {
        return s;
      }
    }
    ADD_FAILURE() << "scheme " << scheme << " missing";
    static const v1::SchemeAchievement empty;
    return empty;
  }

  static int64_t CommunePopulation(size_t i) { return 20000 + static_cast<int64_t>(i) * 377; }

  static IngestionHarness* ingestion_;
  static AggregationHarness* aggregation_;
  static std::vector<std::string> new_82_communes_;
  // new province code -> its predecessors' codes, from the map file.
  static std::map<std::string, std::vector<std::string>> predecessors_;
  std::unique_ptr<TargetServiceImpl> service_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::TargetService::Stub> stub_;
};

IngestionHarness* ReformTargetsIntegrationTest::ingestion_ = nullptr;
AggregationHarness* ReformTargetsIntegrationTest::aggregation_ = nullptr;
std::map<std::string, std::vector<std::string>> ReformTargetsIntegrationTest::predecessors_;
std::vector<std::string> ReformTargetsIntegrationTest::new_82_communes_;

TEST_F(ReformTargetsIntegrationTest, TheNew82IsMeasuredAgainstTheOldProvincesTargets) {
  SetOldProvinceTargets();
  const v1::Achievement a = Achievement("82", "2025-12");
  EXPECT_EQ(a.unit().name(), "Tỉnh Đồng Tháp");
  EXPECT_EQ(a.unit().valid_from(), "2025-07-01");
  EXPECT_EQ(a.as_of_month(), "2025-12");

  // Participants: every share is 1, so the sum of the two targets.
  const v1::SchemeAchievement& health = SchemeOf(a, v1::SCHEME_HEALTH);
  EXPECT_TRUE(health.target_reexpressed()) << health.note();
  EXPECT_EQ(health.target().unit_code(), "82");
  EXPECT_EQ(health.target().unit_as_of(), "");
  EXPECT_EQ(health.target().revision(), 0);
  EXPECT_EQ(health.target().kind(), v1::TARGET_KIND_PARTICIPANTS);
  EXPECT_EQ(health.target().value(), kHealthTarget82 + kHealthTarget87);
  EXPECT_EQ(health.target().decision_ref(), "QĐ 82/QĐ-UBND; QĐ 87/QĐ-UBND");
  ASSERT_EQ(health.source_targets_size(), 2);
  EXPECT_EQ(health.source_targets(0).unit_code(), "82");
  EXPECT_EQ(health.source_targets(0).unit_as_of(), "2025-06-30");
  EXPECT_EQ(health.source_targets(1).unit_code(), "87");
  EXPECT_EQ(health.actual_participants(), kHealthNew82Dec2025);
  EXPECT_EQ(health.status(), v1::ACHIEVEMENT_STATUS_BEHIND);
  EXPECT_EQ(health.participants_to_target(),
            static_cast<int64_t>(kHealthTarget82 + kHealthTarget87) - kHealthNew82Dec2025);
  EXPECT_NEAR(health.achievement_percent(),
              100.0 * kHealthNew82Dec2025 / (kHealthTarget82 + kHealthTarget87), 1e-9);

  // Coverage: weighted by the labour forces of 2024, since the old 82 has none for 2025 (the
  // code's 2025 figure is the new 82's).
  const double expected =
      (kCompulsoryTarget82 * kLaborForce82In2024 + kCompulsoryTarget87 * kLaborForce87In2024) /
      static_cast<double>(kLaborForce82In2024 + kLaborForce87In2024);
  const v1::SchemeAchievement& compulsory = SchemeOf(a, v1::SCHEME_COMPULSORY_SOCIAL);
  EXPECT_TRUE(compulsory.target_reexpressed()) << compulsory.note();
  EXPECT_EQ(compulsory.target().kind(), v1::TARGET_KIND_COVERAGE_PERCENT);
  EXPECT_NEAR(compulsory.target().value(), expected, 1e-9);
  const double actual = 100.0 * kCompulsoryNew82Dec2025 / kLaborForceNew82In2025;
  EXPECT_NEAR(compulsory.actual_coverage_percent(), actual, 1e-9);
  EXPECT_NEAR(compulsory.points_vs_target(), actual - expected, 1e-9);
  EXPECT_EQ(compulsory.status(), v1::ACHIEVEMENT_STATUS_MET);

  // The old 82, read on a day it existed, is measured against its own target.
  v1::GetAchievementRequest old_request;
  old_request.set_unit_code("82");
  old_request.set_period("2025-06");
  old_request.add_schemes(v1::SCHEME_HEALTH);
  v1::Achievement old;
  grpc::ClientContext context;
  ASSERT_THAT(stub_->GetAchievement(&context, old_request, &old), IsOk());
  EXPECT_EQ(old.unit().name(), "Tỉnh Tiền Giang");
  EXPECT_FALSE(SchemeOf(old, v1::SCHEME_HEALTH).target_reexpressed());
  EXPECT_EQ(SchemeOf(old, v1::SCHEME_HEALTH).target().value(), kHealthTarget82);
}

TEST_F(ReformTargetsIntegrationTest, DuringTheYearTheBaselineIsLastDecemberInTheNewTerritory) {
  SetOldProvinceTargets();
  const v1::Achievement a = Achievement("82", "2025-09");
  const v1::SchemeAchievement& health = SchemeOf(a, v1::SCHEME_HEALTH);
  EXPECT_TRUE(health.target_reexpressed());
  // December 2024 of the new 82 is old 82 + old 87 (aggregation re-expresses it).
  const double baseline = kHealth82Dec2024 + kHealth87Dec2024;
  const double target = kHealthTarget82 + kHealthTarget87;
  ASSERT_TRUE(health.has_baseline_value()) << health.note();
  EXPECT_EQ(health.baseline_value(), baseline);
  ASSERT_TRUE(health.has_pace_value());
  EXPECT_NEAR(health.pace_value(), baseline + (target - baseline) * 9 / 12, 1e-6);
  EXPECT_EQ(health.status(), v1::ACHIEVEMENT_STATUS_BEHIND);
}

TEST_F(ReformTargetsIntegrationTest, ATargetSetOnTheNewUnitWins) {
  SetOldProvinceTargets();
  Set("82", "", v1::SCHEME_HEALTH, v1::TARGET_KIND_PARTICIPANTS, 3050000, "QĐ mới");
  const v1::SchemeAchievement health = SchemeOf(Achievement("82", "2025-12"), v1::SCHEME_HEALTH);
  EXPECT_FALSE(health.target_reexpressed());
  EXPECT_EQ(health.target().value(), 3050000);
  EXPECT_EQ(health.target().revision(), 1);
  EXPECT_EQ(health.source_targets_size(), 0);
  EXPECT_EQ(health.status(), v1::ACHIEVEMENT_STATUS_MET);
}

TEST_F(ReformTargetsIntegrationTest, LaggingProvincesSayWhichTargetsAreReexpressed) {
  SetOldProvinceTargets();
  Set("01", "", v1::SCHEME_HEALTH, v1::TARGET_KIND_PARTICIPANTS, 8000000, "QĐ 01");
  v1::ListLaggingUnitsRequest request;
  request.set_parent_code("VN");
  request.set_period("2025");
  request.set_scheme(v1::SCHEME_HEALTH);
  v1::ListLaggingUnitsResponse response;
  grpc::ClientContext context;
  ASSERT_THAT(stub_->ListLaggingUnits(&context, request, &response), IsOk());
  // Of the 34 provinces, Hà Nội has its own target and Đồng Tháp one from its predecessors; the
  // others have none (their predecessors have no health target).
  EXPECT_EQ(response.units_with_target(), 2);
  ASSERT_EQ(response.units_size(), 2);
  std::map<std::string, bool> reexpressed;
  for (const v1::LaggingUnit& unit : response.units()) {
    EXPECT_EQ(unit.achievement().status(), v1::ACHIEVEMENT_STATUS_BEHIND) << unit.unit().code();
    reexpressed[unit.unit().code()] = unit.achievement().target_reexpressed();
  }
  EXPECT_EQ(reexpressed, (std::map<std::string, bool>{{"01", false}, {"82", true}}));
}

TEST_F(ReformTargetsIntegrationTest, TheReportSaysOnceThatItIsInTheNewBoundaries) {
  SetOldProvinceTargets();
  v1::GetReportRequest request;
  request.set_unit_code("82");
  request.set_period("2025");
  v1::Report report;
  grpc::ClientContext context;
  ASSERT_THAT(stub_->GetReport(&context, request, &report), IsOk());
  const std::string& text = report.text();
  constexpr char kNew[] = "theo địa giới hành chính mới";
  ASSERT_NE(text.find(kNew), std::string::npos) << text;
  EXPECT_EQ(text.find(kNew), text.rfind(kNew)) << text;
  EXPECT_THAT(text, HasSubstr("Tính đến 31/12/2025, tỉnh Đồng Tháp (theo địa giới hành chính "
                              "mới) có "));
  // Against 2024 re-expressed (old 82 + 87): the same territory, so a change.
  EXPECT_THAT(text, HasSubstr("3.100.000 người tham gia BHYT, đạt tỷ lệ bao phủ 90,6% dân số, "
                              "tăng 250.000 người so với cùng kỳ năm 2024"));
  EXPECT_THAT(text, HasSubstr("(chỉ tiêu giao cho các đơn vị trước sắp xếp: 3.200.000 người)"));
}

// 2026 is the first year wholly in the new hierarchy: the new 82's target is split among its
// new communes by their 2025 populations (the base year's figures are theirs) and the parts add
// up; ValidateAllocation agrees.
TEST_F(ReformTargetsIntegrationTest, A2026TargetIsAllocatedAmongTheNewCommunes) {
  v1::SetTargetRequest set;
  set.set_request_id("82-2026");
  v1::Target* t = set.mutable_target();
  t->set_unit_code("82");
  t->set_scheme(v1::SCHEME_HEALTH);
  t->set_year(2026);
  t->set_kind(v1::TARGET_KIND_PARTICIPANTS);
  t->set_value(3300001);
  {
    v1::Target stored;
    grpc::ClientContext context;
    ASSERT_THAT(stub_->SetTarget(&context, set, &stored), IsOk());
  }
  v1::AllocateTargetRequest request;
  request.set_parent_code("82");
  request.set_scheme(v1::SCHEME_HEALTH);
  request.set_year(2026);
  request.set_level(v1::ADMIN_LEVEL_COMMUNE);
  request.set_method(v1::ALLOCATION_METHOD_POPULATION);
  request.set_request_id("allocate-82-2026");
  v1::AllocateTargetResponse response;
  {
    grpc::ClientContext context;
    ASSERT_THAT(stub_->AllocateTarget(&context, request, &response), IsOk());
  }
  ASSERT_EQ(response.parts_size(), static_cast<int>(new_82_communes_.size()));
  int64_t base_total = 0;
  for (size_t i = 0; i < new_82_communes_.size(); ++i) {
    base_total += CommunePopulation(i);
  }
  EXPECT_EQ(response.base_total(), base_total);
  EXPECT_EQ(response.allocated_total(), 3300001);
  int64_t sum = 0;
  for (int i = 0; i < response.parts_size(); ++i) {
    const v1::AllocationPart& part = response.parts(i);
    EXPECT_EQ(part.unit().code(), new_82_communes_[i]);
    EXPECT_EQ(part.unit().valid_from(), "2025-07-01");
    EXPECT_EQ(part.base(), CommunePopulation(i));
    EXPECT_EQ(part.target().unit_as_of(), "");  // the new communes hold their codes in 2026
    // Within one person of the exact share.
    EXPECT_NEAR(part.target().value(),
                3300001.0 * static_cast<double>(CommunePopulation(i)) / base_total, 1.0);
    sum += static_cast<int64_t>(part.target().value());
  }
  EXPECT_EQ(sum, 3300001);

  v1::ValidateAllocationRequest validate;
  validate.set_parent_code("82");
  validate.set_scheme(v1::SCHEME_HEALTH);
  validate.set_year(2026);
  validate.set_level(v1::ADMIN_LEVEL_COMMUNE);
  v1::ValidateAllocationResponse checked;
  grpc::ClientContext context;
  ASSERT_THAT(stub_->ValidateAllocation(&context, validate, &checked), IsOk());
  EXPECT_TRUE(checked.consistent()) << checked.problems_size();
  EXPECT_EQ(checked.child_targets_size(), static_cast<int>(new_82_communes_.size()));
  EXPECT_EQ(checked.difference(), 0);
}

}  // namespace
}  // namespace covtrack::targets
