// Issue 14, through the real services: BHXH as a whole (SCHEME_SOCIAL = compulsory + voluntary)
// has a figure only where both parts do. Ingestion, aggregation and targets run in-process on
// loopback ports over gRPC (SQLite stores); covctl runs as a real process against them.
//
// Tỉnh 82 > huyện 815 (xã 28249, 28252), huyện 816 (xã 28300); labour force 10,000 per commune.
//   2022-12  compulsory and voluntary everywhere
//   2023-11  compulsory and voluntary everywhere
//   2023-12  voluntary only                          -> 2023 has no SCHEME_SOCIAL anywhere
//   2024-12  both in 28249 and 28300, voluntary only in 28252

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/aggregation/aggregation_harness.h"
#include "tests/targets/targets_harness.h"
#include "tests/testing/builders.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/tools/covctl_runner.h"

namespace covtrack {
namespace {

using ::covtrack::testing::AggregationHarness;
using ::covtrack::testing::Denominator;
using ::covtrack::testing::IngestionHarness;
using ::covtrack::testing::IsOk;
using ::covtrack::testing::Record;
using ::covtrack::testing::TargetsHarness;
using ::covtrack::testing::Unit;
using ::testing::HasSubstr;
using ::testing::Not;

const v1::SchemeCoverage& SchemeOf(const v1::Coverage& c, v1::Scheme s) {
  for (const v1::SchemeCoverage& sc : c.schemes()) {
    if (sc.scheme() == s) {
      return sc;
    }
  }
  ADD_FAILURE() << "no scheme " << s << " for " << c.unit().code();
  static const v1::SchemeCoverage empty;
  return empty;
}

const v1::SchemeAchievement& SchemeOf(const v1::Achievement& a, v1::Scheme s) {
  for (const v1::SchemeAchievement& sa : a.schemes()) {
    if (sa.scheme() == s) {
      return sa;
    }
  }
  ADD_FAILURE() << "no scheme " << s;
  static const v1::SchemeAchievement empty;
  return empty;
}

class SocialAsAWholeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ingestion_ = IngestionHarness::Start();
    v1::ImportAdminUnitsRequest units;
    units.set_request_id("units");
    for (const v1::AdminUnit& u :
         {Unit("82", v1::ADMIN_LEVEL_PROVINCE, "", "2020-01-01", "", "Tỉnh Tiền Giang"),
          Unit("815", v1::ADMIN_LEVEL_DISTRICT, "82", "2020-01-01", "", "Thành phố Mỹ Tho"),
          Unit("816", v1::ADMIN_LEVEL_DISTRICT, "82", "2020-01-01", "", "Thị xã Gò Công"),
          Unit("28249", v1::ADMIN_LEVEL_COMMUNE, "815", "2020-01-01", "", "Phường 5"),
          Unit("28252", v1::ADMIN_LEVEL_COMMUNE, "815", "2020-01-01", "", "Phường 4"),
          Unit("28300", v1::ADMIN_LEVEL_COMMUNE, "816", "2020-01-01", "", "Phường 1")}) {
      *units.add_units() = u;
    }
    v1::ImportAdminUnitsResponse imported;
    {
      grpc::ClientContext context;
      ASSERT_THAT(ingestion_->stub().ImportAdminUnits(&context, units, &imported), IsOk());
    }
    v1::SubmitReportRequest report;
    report.set_request_id("figures");
    for (const char* commune : {"28249", "28252", "28300"}) {
      for (int year : {2022, 2023, 2024}) {
        *report.add_denominators() =
            Denominator(commune, year, v1::DENOMINATOR_KIND_LABOR_FORCE, 10000);
      }
      for (const char* month : {"2022-12", "2023-11"}) {
        *report.add_records() = Record(commune, month, v1::SCHEME_COMPULSORY_SOCIAL, 3000);
        *report.add_records() = Record(commune, month, v1::SCHEME_VOLUNTARY_SOCIAL, 200);
      }
      *report.add_records() = Record(commune, "2023-12", v1::SCHEME_VOLUNTARY_SOCIAL, 220);
      *report.add_records() = Record(commune, "2024-12", v1::SCHEME_VOLUNTARY_SOCIAL, 240);
      if (std::string(commune) != "28252") {
        *report.add_records() = Record(commune, "2024-12", v1::SCHEME_COMPULSORY_SOCIAL, 3300);
      }
    }
    v1::SubmitReportResponse submitted;
    {
      grpc::ClientContext context;
      ASSERT_THAT(ingestion_->stub().SubmitReport(&context, report, &submitted), IsOk());
    }
    aggregation_ = AggregationHarness::Start(ingestion_->address());

    targets_ =
        TargetsHarness::Start(aggregation_->address(), ingestion_->address(), absl::Seconds(10));
    for (const char* unit : {"815", "816"}) {
      v1::SetTargetRequest set;
      set.set_request_id(absl::StrCat("target-", unit));
      v1::Target* t = set.mutable_target();
      t->set_unit_code(unit);
      t->set_scheme(v1::SCHEME_SOCIAL);
      t->set_year(2023);
      t->set_kind(v1::TARGET_KIND_COVERAGE_PERCENT);
      t->set_value(40.0);
      t->set_assigned_by("UBND tỉnh Tiền Giang");
      v1::Target stored;
      grpc::ClientContext context;
      ASSERT_THAT(targets_->stub().SetTarget(&context, set, &stored), IsOk());
    }
  }

  v1::Coverage Coverage(const std::string& unit, const std::string& period) {
    v1::GetCoverageRequest request;
    request.set_unit_code(unit);
    request.set_period(period);
    request.set_previous_year_ends(1);
    v1::Coverage coverage;
    grpc::ClientContext context;
    EXPECT_THAT(aggregation_->stub().GetCoverage(&context, request, &coverage), IsOk());
    return coverage;
  }

  testing::CovctlRun Covctl(std::vector<std::string> args) {
    args.push_back("--server=" + ingestion_->address());
    args.push_back("--aggregation_server=" + aggregation_->address());
    args.push_back("--targets_server=" + targets_->address());
    args.push_back("--timeout=20s");
    return testing::RunCovctl(args);
  }

  // The CSV row of `scheme` in covctl's output, split into fields.
  static std::vector<std::string> CsvRow(const std::string& csv, const std::string& scheme) {
    for (absl::string_view line : absl::StrSplit(csv, '\n')) {
      std::vector<std::string> fields = absl::StrSplit(line, ',');
      if (!fields.empty() && fields[0] == scheme) {
        return fields;
      }
    }
    ADD_FAILURE() << "no row for " << scheme << " in\n" << csv;
    return {};
  }

  std::unique_ptr<IngestionHarness> ingestion_;
  std::unique_ptr<AggregationHarness> aggregation_;
  std::unique_ptr<TargetsHarness> targets_;  // last: stopped first
};

TEST_F(SocialAsAWholeTest, GetCoverageHasNoSocialFigureWhenCompulsoryIsMissing) {
  const v1::Coverage province = Coverage("82", "2023");
  EXPECT_EQ(SchemeOf(province, v1::SCHEME_VOLUNTARY_SOCIAL).participants(), 660);
  const v1::SchemeCoverage& social = SchemeOf(province, v1::SCHEME_SOCIAL);
  EXPECT_EQ(social.as_of_month(), "");
  EXPECT_FALSE(social.has_participants());
  EXPECT_FALSE(social.has_coverage_percent());
  EXPECT_FALSE(social.has_in_province_participants());
  EXPECT_EQ(social.units_missing_part(), 3);
  EXPECT_EQ(social.reporting_units(), 0);
  EXPECT_EQ(social.expected_units(), 3);
  // Compared with 2022 (both parts then): the earlier figure, but no change from nothing.
  EXPECT_EQ(social.same_period_last_year().participants(), 9600);
  EXPECT_FALSE(social.same_period_last_year().has_participants_change());
  EXPECT_FALSE(social.same_period_last_year().has_coverage_points_change());
  // 2024 compared with 2023 in district 816 (both parts in 2024, not in 2023).
  const v1::SchemeCoverage gocong = SchemeOf(Coverage("816", "2024"), v1::SCHEME_SOCIAL);
  EXPECT_EQ(gocong.participants(), 3540);
  EXPECT_DOUBLE_EQ(gocong.coverage_percent(), 35.4);
  EXPECT_FALSE(gocong.same_period_last_year().has_participants());
  EXPECT_FALSE(gocong.same_period_last_year().has_participants_change());
  EXPECT_FALSE(gocong.same_period_last_year().has_coverage_points_change());
}

TEST_F(SocialAsAWholeTest, SomeCommunesWithBothGiveTheExactReportingCount) {
  const v1::SchemeCoverage province = SchemeOf(Coverage("82", "2024"), v1::SCHEME_SOCIAL);
  EXPECT_EQ(province.as_of_month(), "");
  EXPECT_FALSE(province.has_coverage_percent());
  EXPECT_EQ(province.units_missing_part(), 1);  // 28252
  EXPECT_EQ(province.reporting_units(), 2);     // 28249 and 28300 reported both
  EXPECT_EQ(province.expected_units(), 3);
  const v1::SchemeCoverage commune = SchemeOf(Coverage("28249", "2024"), v1::SCHEME_SOCIAL);
  EXPECT_EQ(commune.participants(), 3540);
  // Both parts everywhere (2022): the sum, as always.
  const v1::SchemeCoverage whole = SchemeOf(Coverage("82", "2022"), v1::SCHEME_SOCIAL);
  EXPECT_EQ(whole.participants(), 9600);
  EXPECT_DOUBLE_EQ(whole.coverage_percent(), 32.0);
  EXPECT_EQ(whole.reporting_units(), 3);
  EXPECT_EQ(whole.units_missing_part(), 0);
}

TEST_F(SocialAsAWholeTest, ListCoverageAndSeriesShowNoFigureAndOrderItLast) {
  v1::ListCoverageRequest request;
  request.set_parent_code("82");
  request.set_period("2024");
  request.set_scheme(v1::SCHEME_SOCIAL);
  for (v1::CoverageOrder order :
       {v1::COVERAGE_ORDER_PARTICIPANTS_DESCENDING, v1::COVERAGE_ORDER_COVERAGE_ASCENDING,
        v1::COVERAGE_ORDER_COVERAGE_DESCENDING}) {
    request.set_order_by(order);
    v1::ListCoverageResponse response;
    grpc::ClientContext context;
    ASSERT_THAT(aggregation_->stub().ListCoverage(&context, request, &response), IsOk());
    ASSERT_EQ(response.coverages_size(), 2);
    // 816 has both parts; 815 lacks compulsory in 28252 and comes last whatever the order.
    EXPECT_EQ(response.coverages(0).unit().code(), "816") << order;
    EXPECT_EQ(SchemeOf(response.coverages(0), v1::SCHEME_SOCIAL).participants(), 3540);
    EXPECT_EQ(response.coverages(1).unit().code(), "815") << order;
    const v1::SchemeCoverage& mytho = SchemeOf(response.coverages(1), v1::SCHEME_SOCIAL);
    EXPECT_EQ(mytho.as_of_month(), "");
    EXPECT_EQ(mytho.participants(), 0);
    EXPECT_FALSE(mytho.has_coverage_percent());
  }

  v1::GetCoverageSeriesRequest series_request;
  series_request.set_unit_code("815");
  series_request.set_scheme(v1::SCHEME_SOCIAL);
  series_request.set_from_month("2023-11");
  series_request.set_to_month("2023-12");
  v1::CoverageSeries series;
  grpc::ClientContext context;
  ASSERT_THAT(aggregation_->stub().GetCoverageSeries(&context, series_request, &series), IsOk());
  ASSERT_EQ(series.months_size(), 2);
  EXPECT_EQ(series.months(0).coverage().participants(), 6400);  // November: both parts
  EXPECT_EQ(series.months(1).coverage().as_of_month(), "");     // December: voluntary only
  EXPECT_EQ(series.months(1).coverage().participants(), 0);
  EXPECT_FALSE(series.months(1).coverage().has_coverage_percent());
  EXPECT_EQ(series.months(1).coverage().units_missing_part(), 2);
}

TEST_F(SocialAsAWholeTest, TargetsAchievementLaggingAndReportSayNothingOfIt) {
  v1::GetAchievementRequest request;
  request.set_unit_code("815");
  request.set_period("2023");
  v1::Achievement achievement;
  {
    grpc::ClientContext context;
    ASSERT_THAT(targets_->stub().GetAchievement(&context, request, &achievement), IsOk());
  }
  const v1::SchemeAchievement& social = SchemeOf(achievement, v1::SCHEME_SOCIAL);
  EXPECT_EQ(social.status(), v1::ACHIEVEMENT_STATUS_NO_DATA);
  EXPECT_EQ(social.actual_participants(), 0);
  EXPECT_FALSE(social.has_actual_coverage_percent());
  EXPECT_FALSE(social.has_points_vs_target());
  EXPECT_THAT(social.note(), HasSubstr("only one of them"));
  EXPECT_EQ(SchemeOf(achievement, v1::SCHEME_VOLUNTARY_SOCIAL).actual_participants(), 440);

  v1::ListLaggingUnitsRequest lagging_request;
  lagging_request.set_parent_code("82");
  lagging_request.set_period("2023");
  lagging_request.set_scheme(v1::SCHEME_SOCIAL);
  v1::ListLaggingUnitsResponse lagging;
  {
    grpc::ClientContext context;
    ASSERT_THAT(targets_->stub().ListLaggingUnits(&context, lagging_request, &lagging), IsOk());
  }
  ASSERT_EQ(lagging.units_size(), 2);
  for (const v1::LaggingUnit& unit : lagging.units()) {
    EXPECT_EQ(unit.achievement().status(), v1::ACHIEVEMENT_STATUS_NO_DATA) << unit.unit().code();
    EXPECT_EQ(unit.achievement().actual_participants(), 0);
    EXPECT_EQ(unit.achievement().achievement_percent(), 0);
  }

  v1::GetReportRequest report_request;
  report_request.set_unit_code("815");
  report_request.set_period("2023");
  v1::Report report;
  {
    grpc::ClientContext context;
    ASSERT_THAT(targets_->stub().GetReport(&context, report_request, &report), IsOk());
  }
  // Each part is said on its own (compulsory as of November, its latest month in 2023); BHXH as
  // a whole ("... người tham gia BHXH, bằng ...") is not, having no figure.
  EXPECT_THAT(report.text(), HasSubstr("6.000 người tham gia BHXH bắt buộc"));
  EXPECT_THAT(report.text(), HasSubstr("440 người tham gia BHXH tự nguyện"));
  EXPECT_THAT(report.text(), Not(HasSubstr("tham gia BHXH,")));
  EXPECT_THAT(report.text(), Not(HasSubstr("6.440")));
}

TEST_F(SocialAsAWholeTest, CovctlPrintsNoFigureWhereThereIsNone) {
  testing::CovctlRun coverage = Covctl({"coverage", "82", "2023", "--format=csv"});
  ASSERT_EQ(coverage.exit_code, 0) << coverage.err;
  const std::vector<std::string> social = CsvRow(coverage.out, "social");
  const std::vector<std::string> voluntary = CsvRow(coverage.out, "voluntary_social");
  ASSERT_GE(social.size(), 6u);
  EXPECT_EQ(social[1], "");  // participants
  EXPECT_EQ(social[5], "");  // coverage_%
  EXPECT_EQ(voluntary[1], "660");
  EXPECT_THAT(coverage.out, HasSubstr("3 units reported only one of compulsory and voluntary"));

  testing::CovctlRun achievement =
      Covctl({"targets", "achievement", "815", "2023", "--format=csv"});
  ASSERT_EQ(achievement.exit_code, 0) << achievement.err;
  const std::vector<std::string> row = CsvRow(achievement.out, "social");
  ASSERT_GE(row.size(), 10u);
  EXPECT_EQ(row[3], "");  // actual
  EXPECT_EQ(row[5], "");  // achieved_%
  EXPECT_EQ(row[8], "no_data");
  EXPECT_EQ(row[9], "");  // projected_dec

  testing::CovctlRun json = Covctl({"coverage", "82", "2023", "--format=json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_THAT(json.out, HasSubstr("\"units_missing_part\": 3"));
}

}  // namespace
}  // namespace covtrack
