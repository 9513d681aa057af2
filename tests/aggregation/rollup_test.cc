// The rollup arithmetic on plain data: no servers.
#include "services/aggregation/rollup.h"

#include <limits>
#include <map>
#include <memory>
#include <optional>

#include "absl/strings/str_format.h"
#include "common/domain.h"
#include "common/hierarchy/hierarchy.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/testing/builders.h"

namespace covtrack::aggregation {
namespace {

using testing::Denominator;
using testing::Record;
using testing::Unit;

const v1::SchemeCoverage& Scheme(const v1::Coverage& c, v1::Scheme s) {
  for (const auto& sc : c.schemes()) {
    if (sc.scheme() == s) {
      return sc;
    }
  }
  ADD_FAILURE() << "no scheme " << s;
  static v1::SchemeCoverage empty;
  return empty;
}

// Province 10 > districts 101, 102 > communes 10101, 10102 (in 101), 10201 (in 102).
std::vector<v1::AdminUnit> SmallTree() {
  return {
      Unit("10", v1::ADMIN_LEVEL_PROVINCE, ""),      Unit("101", v1::ADMIN_LEVEL_DISTRICT, "10"),
      Unit("102", v1::ADMIN_LEVEL_DISTRICT, "10"),   Unit("10101", v1::ADMIN_LEVEL_COMMUNE, "101"),
      Unit("10102", v1::ADMIN_LEVEL_COMMUNE, "101"), Unit("10201", v1::ADMIN_LEVEL_COMMUNE, "102")};
}

Period P(const std::string& text) { return *Period::Parse(text); }

TEST(RollupTest, CommunesSumToDistrictAndProvince) {
  Hierarchy h(SmallTree());
  CoverageData data;
  data.AddRecord(Record("10101", "2023-12", v1::SCHEME_HEALTH, 100));
  data.AddRecord(Record("10102", "2023-12", v1::SCHEME_HEALTH, 200));
  data.AddRecord(Record("10201", "2023-12", v1::SCHEME_HEALTH, 50));
  absl::StatusOr<v1::Coverage> district = RollupCoverage(h, data, "101", P("2023"));
  ASSERT_TRUE(district.ok()) << district.status();
  EXPECT_EQ(Scheme(*district, v1::SCHEME_HEALTH).participants(), 300);
  absl::StatusOr<v1::Coverage> province = RollupCoverage(h, data, "10", P("2023"));
  ASSERT_TRUE(province.ok());
  EXPECT_EQ(Scheme(*province, v1::SCHEME_HEALTH).participants(), 350);
  EXPECT_EQ(Scheme(*province, v1::SCHEME_HEALTH).reporting_units(), 3);
  EXPECT_EQ(Scheme(*province, v1::SCHEME_HEALTH).expected_units(), 3);
  EXPECT_EQ(province->as_of_month(), "2023-12");
  absl::StatusOr<v1::Coverage> nation = RollupCoverage(h, data, "VN", P("2023"));
  ASSERT_TRUE(nation.ok());
  EXPECT_EQ(Scheme(*nation, v1::SCHEME_HEALTH).participants(), 350);
}

TEST(RollupTest, StockIsTheLastMonthNotASum) {
  Hierarchy h(SmallTree());
  CoverageData data;
  for (int m = 1; m <= 12; ++m) {
    data.AddRecord(Record("10101", absl::StrFormat("2023-%02d", m), v1::SCHEME_HEALTH, 1000 + m));
  }
  absl::StatusOr<v1::Coverage> year = RollupCoverage(h, data, "10101", P("2023"));
  ASSERT_TRUE(year.ok());
  EXPECT_EQ(Scheme(*year, v1::SCHEME_HEALTH).participants(), 1012);
  EXPECT_EQ(year->as_of_month(), "2023-12");
  absl::StatusOr<v1::Coverage> h1 = RollupCoverage(h, data, "10", P("2023-H1"));
  ASSERT_TRUE(h1.ok());
  EXPECT_EQ(Scheme(*h1, v1::SCHEME_HEALTH).participants(), 1006);
  EXPECT_EQ(h1->as_of_month(), "2023-06");
  absl::StatusOr<v1::Coverage> q3 = RollupCoverage(h, data, "10", P("2023-Q3"));
  EXPECT_EQ(Scheme(*q3, v1::SCHEME_HEALTH).participants(), 1009);
  absl::StatusOr<v1::Coverage> aug = RollupCoverage(h, data, "10", P("2023-08"));
  EXPECT_EQ(Scheme(*aug, v1::SCHEME_HEALTH).participants(), 1008);
}

TEST(RollupTest, YearInProgressGivesLatestMonthAndCarriesEachUnitForward) {
  Hierarchy h(SmallTree());
  CoverageData data;
  data.AddRecord(Record("10101", "2024-07", v1::SCHEME_HEALTH, 10));
  data.AddRecord(Record("10101", "2024-08", v1::SCHEME_HEALTH, 11));
  data.AddRecord(Record("10201", "2024-07", v1::SCHEME_HEALTH, 20));  // not yet in for August
  absl::StatusOr<v1::Coverage> c = RollupCoverage(h, data, "10", P("2024"));
  ASSERT_TRUE(c.ok());
  const auto& health = Scheme(*c, v1::SCHEME_HEALTH);
  EXPECT_EQ(c->as_of_month(), "2024-08");
  EXPECT_EQ(health.participants(), 31);    // 10101 at August + 10201 at July
  EXPECT_EQ(health.reporting_units(), 1);  // only 10101 reported for August
  EXPECT_EQ(health.expected_units(), 3);
}

TEST(RollupTest, MixedLevelDataIsNeverCountedTwice) {
  Hierarchy h(SmallTree());
  CoverageData data;
  // District 101 reported as a whole (as press releases do) and its communes too.
  data.AddRecord(Record("101", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 500));
  data.AddRecord(Record("10101", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 240));
  data.AddRecord(Record("10102", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 250));
  // District 102 only through its commune.
  data.AddRecord(Record("10201", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 70));
  absl::StatusOr<v1::Coverage> c = RollupCoverage(h, data, "10", P("2023"));
  ASSERT_TRUE(c.ok());
  const auto& sc = Scheme(*c, v1::SCHEME_COMPULSORY_SOCIAL);
  EXPECT_EQ(sc.participants(), 570);  // 101's own 500 + 102 from 10201
  EXPECT_EQ(sc.reporting_units(), 3);
  // A district's own older figure gives way to its communes' newer ones.
  CoverageData later;
  later.AddRecord(Record("101", "2023-06", v1::SCHEME_COMPULSORY_SOCIAL, 500));
  later.AddRecord(Record("10101", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 260));
  later.AddRecord(Record("10102", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 255));
  absl::StatusOr<v1::Coverage> d = RollupCoverage(h, later, "101", P("2023"));
  EXPECT_EQ(Scheme(*d, v1::SCHEME_COMPULSORY_SOCIAL).participants(), 515);
}

TEST(RollupTest, RatesAreSumsOverSumsAndSocialIsDerived) {
  Hierarchy h(SmallTree());
  CoverageData data;
  data.AddRecord(Record("10101", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 30));
  data.AddRecord(Record("10102", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 10));
  data.AddRecord(Record("10201", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 90));
  data.AddRecord(Record("10101", "2023-12", v1::SCHEME_VOLUNTARY_SOCIAL, 5));
  data.AddRecord(Record("10102", "2023-12", v1::SCHEME_VOLUNTARY_SOCIAL, 5));
  data.AddRecord(Record("10201", "2023-12", v1::SCHEME_VOLUNTARY_SOCIAL, 10));
  data.AddDenominator(Denominator("10101", 2023, v1::DENOMINATOR_KIND_LABOR_FORCE, 100));
  data.AddDenominator(Denominator("10102", 2023, v1::DENOMINATOR_KIND_LABOR_FORCE, 100));
  data.AddDenominator(Denominator("10201", 2023, v1::DENOMINATOR_KIND_LABOR_FORCE, 800));
  absl::StatusOr<v1::Coverage> c = RollupCoverage(h, data, "10", P("2023"));
  ASSERT_TRUE(c.ok());
  const auto& compulsory = Scheme(*c, v1::SCHEME_COMPULSORY_SOCIAL);
  ASSERT_TRUE(compulsory.has_coverage_percent());
  // 130 / 1000 = 13%, not the mean of 30%, 10% and 11.25%.
  EXPECT_DOUBLE_EQ(compulsory.coverage_percent(), 13.0);
  EXPECT_EQ(compulsory.denominator(), 1000);
  EXPECT_EQ(compulsory.denominator_kind(), v1::DENOMINATOR_KIND_LABOR_FORCE);
  const auto& social = Scheme(*c, v1::SCHEME_SOCIAL);
  EXPECT_EQ(social.participants(), 150);
  EXPECT_DOUBLE_EQ(social.coverage_percent(), 15.0);
  EXPECT_EQ(social.reporting_units(), 3);
  // Health is measured against population, which nobody reported.
  const auto& health = Scheme(*c, v1::SCHEME_HEALTH);
  EXPECT_EQ(health.denominator_kind(), v1::DENOMINATOR_KIND_POPULATION);
  EXPECT_FALSE(health.has_denominator());
  EXPECT_EQ(health.units_missing_denominator(), 3);
}

// Issue 14: BHXH as a whole is only as complete as its parts.
TEST(RollupTest, SocialIsAbsentWhenOnlyVoluntaryIsReported) {
  Hierarchy h(SmallTree());
  CoverageData data;
  data.AddRecord(Record("10", "2023-12", v1::SCHEME_VOLUNTARY_SOCIAL, 32329, 30000));
  data.AddDenominator(Denominator("10", 2023, v1::DENOMINATOR_KIND_LABOR_FORCE, 700000));
  absl::StatusOr<v1::Coverage> c = RollupCoverage(h, data, "10", P("2023"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(Scheme(*c, v1::SCHEME_VOLUNTARY_SOCIAL).participants(), 32329);
  const auto& social = Scheme(*c, v1::SCHEME_SOCIAL);
  EXPECT_FALSE(social.has_participants());
  EXPECT_EQ(social.as_of_month(), "");
  EXPECT_FALSE(social.has_in_province_participants());
  EXPECT_FALSE(social.has_coverage_percent());
  EXPECT_EQ(social.reporting_units(), 0);
  EXPECT_EQ(social.expected_units(), 3);
  EXPECT_EQ(social.units_missing_part(), 1);
  // The labour force is still the territory's.
  EXPECT_EQ(social.denominator(), 700000);
}

TEST(RollupTest, SocialIsAbsentWhenSomeCommunesLackAPart) {
  Hierarchy h(SmallTree());
  CoverageData data;
  data.AddRecord(Record("10101", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 30));
  data.AddRecord(Record("10101", "2023-12", v1::SCHEME_VOLUNTARY_SOCIAL, 5));
  data.AddRecord(Record("10102", "2023-12", v1::SCHEME_VOLUNTARY_SOCIAL, 7));
  data.AddRecord(Record("10201", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 90));
  data.AddRecord(Record("10201", "2023-12", v1::SCHEME_VOLUNTARY_SOCIAL, 10));
  for (const char* unit : {"10101", "10102", "10201"}) {
    data.AddDenominator(Denominator(unit, 2023, v1::DENOMINATOR_KIND_LABOR_FORCE, 100));
  }
  absl::StatusOr<v1::Coverage> province = RollupCoverage(h, data, "10", P("2023"));
  ASSERT_TRUE(province.ok());
  const auto& social = Scheme(*province, v1::SCHEME_SOCIAL);
  EXPECT_EQ(social.as_of_month(), "");
  EXPECT_EQ(social.participants(), 0);
  EXPECT_FALSE(social.has_coverage_percent());
  EXPECT_EQ(social.units_missing_part(), 1);  // 10102: voluntary only
  EXPECT_EQ(social.reporting_units(), 2);     // 10101 and 10201 reported both
  EXPECT_EQ(social.expected_units(), 3);
  // Where the territory has both parts, the figure is there: district 102, and commune 10101.
  absl::StatusOr<v1::Coverage> district = RollupCoverage(h, data, "102", P("2023"));
  EXPECT_EQ(Scheme(*district, v1::SCHEME_SOCIAL).participants(), 100);
  EXPECT_DOUBLE_EQ(Scheme(*district, v1::SCHEME_SOCIAL).coverage_percent(), 100.0);
  absl::StatusOr<v1::Coverage> district_101 = RollupCoverage(h, data, "101", P("2023"));
  EXPECT_EQ(Scheme(*district_101, v1::SCHEME_SOCIAL).as_of_month(), "");
  EXPECT_EQ(Scheme(*district_101, v1::SCHEME_SOCIAL).reporting_units(), 1);
}

TEST(RollupTest, SocialLeavesOutUnitsThatReportedNeitherPart) {
  Hierarchy h(SmallTree());
  CoverageData data;
  data.AddRecord(Record("10101", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 30, 20));
  data.AddRecord(Record("10101", "2023-12", v1::SCHEME_VOLUNTARY_SOCIAL, 5, 5));
  data.AddRecord(Record("10201", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 90, 80));
  data.AddRecord(Record("10201", "2023-12", v1::SCHEME_VOLUNTARY_SOCIAL, 10, 10));
  data.AddRecord(Record("10102", "2023-12", v1::SCHEME_HEALTH, 400));  // no social figures
  absl::StatusOr<v1::Coverage> c = RollupCoverage(h, data, "10", P("2023"));
  const auto& social = Scheme(*c, v1::SCHEME_SOCIAL);
  // Like every scheme: what was reported, with the reporting count saying it is 2 of 3.
  EXPECT_EQ(social.participants(), 135);
  EXPECT_EQ(social.in_province_participants(), 115);
  EXPECT_EQ(social.as_of_month(), "2023-12");
  EXPECT_EQ(social.reporting_units(), 2);
  EXPECT_EQ(social.units_missing_part(), 0);
  EXPECT_EQ(social.reporting_units(), Scheme(*c, v1::SCHEME_COMPULSORY_SOCIAL).reporting_units());
}

TEST(RollupTest, SocialNeedsBothPartsForTheMonthRead) {
  Hierarchy h(SmallTree());
  CoverageData data;
  // Voluntary reported through November only: December's stock has no voluntary part.
  data.AddRecord(Record("10101", "2023-11", v1::SCHEME_COMPULSORY_SOCIAL, 29));
  data.AddRecord(Record("10101", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 30));
  data.AddRecord(Record("10101", "2023-11", v1::SCHEME_VOLUNTARY_SOCIAL, 5));
  absl::StatusOr<v1::Coverage> year = RollupCoverage(h, data, "10101", P("2023"));
  EXPECT_EQ(Scheme(*year, v1::SCHEME_SOCIAL).as_of_month(), "");
  EXPECT_EQ(Scheme(*year, v1::SCHEME_SOCIAL).units_missing_part(), 1);
  // November itself has both.
  absl::StatusOr<v1::Coverage> november = RollupCoverage(h, data, "10101", P("2023-11"));
  EXPECT_EQ(Scheme(*november, v1::SCHEME_SOCIAL).participants(), 34);
  EXPECT_EQ(Scheme(*november, v1::SCHEME_SOCIAL).as_of_month(), "2023-11");
}

TEST(RollupTest, SocialPairsADistrictFigureWithCommunesOnlyWhenTheyAllReported) {
  Hierarchy h(SmallTree());
  CoverageData data;
  // District 101 reports compulsory for itself; its communes report voluntary.
  data.AddRecord(Record("101", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 500));
  data.AddRecord(Record("10101", "2023-12", v1::SCHEME_VOLUNTARY_SOCIAL, 20));
  absl::StatusOr<v1::Coverage> partial = RollupCoverage(h, data, "101", P("2023"));
  EXPECT_EQ(Scheme(*partial, v1::SCHEME_SOCIAL).as_of_month(), "");  // 10102 has no voluntary
  EXPECT_EQ(Scheme(*partial, v1::SCHEME_SOCIAL).units_missing_part(), 1);
  data.AddRecord(Record("10102", "2023-12", v1::SCHEME_VOLUNTARY_SOCIAL, 30));
  absl::StatusOr<v1::Coverage> whole = RollupCoverage(h, data, "101", P("2023"));
  EXPECT_EQ(Scheme(*whole, v1::SCHEME_SOCIAL).participants(), 550);
  EXPECT_EQ(Scheme(*whole, v1::SCHEME_SOCIAL).reporting_units(), 2);
}

TEST(RollupTest, ComparisonWithoutAFigureNowHasNoChange) {
  v1::SchemeCoverage now;  // SCHEME_SOCIAL with a part missing: no figure
  now.set_scheme(v1::SCHEME_SOCIAL);
  v1::SchemeCoverage then;
  then.set_scheme(v1::SCHEME_SOCIAL);
  then.set_participants(100);
  then.set_as_of_month("2022-12");
  const v1::Comparison c = Compare(now, then, "2022");
  EXPECT_EQ(c.participants(), 100);
  EXPECT_FALSE(c.has_participants_change());
}

TEST(RollupTest, MissingDenominatorIsSaidNotUnderCounted) {
  Hierarchy h(SmallTree());
  CoverageData data;
  data.AddRecord(Record("10101", "2023-12", v1::SCHEME_HEALTH, 90));
  data.AddRecord(Record("10201", "2023-12", v1::SCHEME_HEALTH, 90));
  data.AddDenominator(Denominator("10101", 2023, v1::DENOMINATOR_KIND_POPULATION, 100));
  data.AddDenominator(
      Denominator("102", 2023, v1::DENOMINATOR_KIND_POPULATION, 100));  // district level
  absl::StatusOr<v1::Coverage> c = RollupCoverage(h, data, "10", P("2023"));
  const auto& health = Scheme(*c, v1::SCHEME_HEALTH);
  EXPECT_FALSE(health.has_denominator());  // 10102 has none
  EXPECT_FALSE(health.has_coverage_percent());
  EXPECT_EQ(health.units_missing_denominator(), 1);
  // With the province's own figure the rate is there again.
  data.AddDenominator(Denominator("10", 2023, v1::DENOMINATOR_KIND_POPULATION, 250));
  c = RollupCoverage(h, data, "10", P("2023"));
  EXPECT_EQ(Scheme(*c, v1::SCHEME_HEALTH).denominator(), 250);
  EXPECT_DOUBLE_EQ(Scheme(*c, v1::SCHEME_HEALTH).coverage_percent(), 72.0);
  // District 102's own denominator serves where its commune has none.
  c = RollupCoverage(h, data, "102", P("2023"));
  EXPECT_DOUBLE_EQ(Scheme(*c, v1::SCHEME_HEALTH).coverage_percent(), 90.0);
}

TEST(RollupTest, InProvinceSplitOnlyWhenEveryFigureHasIt) {
  Hierarchy h(SmallTree());
  CoverageData data;
  data.AddRecord(Record("10101", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 100, 60));
  data.AddRecord(Record("10102", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 100, 70));
  data.AddRecord(Record("10201", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 100));
  absl::StatusOr<v1::Coverage> d = RollupCoverage(h, data, "101", P("2023"));
  EXPECT_EQ(Scheme(*d, v1::SCHEME_COMPULSORY_SOCIAL).in_province_participants(), 130);
  EXPECT_EQ(Scheme(*d, v1::SCHEME_COMPULSORY_SOCIAL).units_missing_in_province(), 0);
  absl::StatusOr<v1::Coverage> p = RollupCoverage(h, data, "10", P("2023"));
  const auto& sc = Scheme(*p, v1::SCHEME_COMPULSORY_SOCIAL);
  EXPECT_FALSE(sc.has_in_province_participants());
  EXPECT_EQ(sc.units_missing_in_province(), 1);
  EXPECT_EQ(sc.participants(), 300);
}

// Issue 13's probe: counts and denominators near INT64_MAX wrapped to plausible rollups (a
// district's total of 119,621; a coverage of 112.9 %). A figure out of range, or a sum that
// overflows, is an error, never a number.
TEST(RollupTest, FiguresBeyondWhatACountryHoldsAreAnErrorNotAWrappedSum) {
  constexpr int64_t kHuge = std::numeric_limits<int64_t>::max() - 10;
  Hierarchy h(SmallTree());
  {
    CoverageData data;
    data.AddRecord(Record("10101", "2023-12", v1::SCHEME_HEALTH, kHuge));
    data.AddRecord(Record("10102", "2023-12", v1::SCHEME_HEALTH, 119'632));
    absl::StatusOr<v1::Coverage> c = RollupCoverage(h, data, "101", P("2023"));
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInternal) << c.status();
  }
  {
    CoverageData data;
    data.AddRecord(Record("10101", "2023-12", v1::SCHEME_HEALTH, 90));
    data.AddDenominator(Denominator("10101", 2023, v1::DENOMINATOR_KIND_POPULATION, kHuge));
    data.AddDenominator(Denominator("10102", 2023, v1::DENOMINATOR_KIND_POPULATION, 100));
    absl::StatusOr<v1::Coverage> c = RollupCoverage(h, data, "101", P("2023"));
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInternal) << c.status();
  }
  {
    CoverageData data;  // in-province split, and a negative count
    data.AddRecord(Record("10101", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 100, kHuge));
    data.AddRecord(Record("10102", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 100, 100));
    EXPECT_FALSE(RollupCoverage(h, data, "101", P("2023")).ok());
    CoverageData negative;
    negative.AddRecord(Record("10201", "2023-12", v1::SCHEME_HEALTH, -5));
    EXPECT_FALSE(RollupCoverage(h, negative, "10", P("2023")).ok());
  }
  {
    CoverageData data;  // BHXH as a whole: compulsory + voluntary of one unit
    data.AddRecord(Record("10101", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, kHuge));
    data.AddRecord(Record("10101", "2023-12", v1::SCHEME_VOLUNTARY_SOCIAL, 100));
    EXPECT_FALSE(RollupCoverage(h, data, "10101", P("2023")).ok());
  }
  {
    CoverageData data;  // the largest figures a country holds still roll up exactly
    data.AddRecord(Record("10101", "2023-12", v1::SCHEME_HEALTH, kMaxPeople));
    data.AddRecord(Record("10102", "2023-12", v1::SCHEME_HEALTH, kMaxPeople));
    data.AddRecord(Record("10201", "2023-12", v1::SCHEME_HEALTH, kMaxPeople));
    absl::StatusOr<v1::Coverage> c = RollupCoverage(h, data, "10", P("2023"));
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(Scheme(*c, v1::SCHEME_HEALTH).participants(), 3 * kMaxPeople);
  }
}

TEST(RollupTest, ReusedCodeDoesNotInheritTheOldUnitsFigures) {
  // Code "20" is an old province until 2025-07-01 and a merged one afterwards.
  Hierarchy h({Unit("20", v1::ADMIN_LEVEL_PROVINCE, "", "", "2025-07-01"),
               Unit("201", v1::ADMIN_LEVEL_DISTRICT, "20", "", "2025-07-01"),
               Unit("20001", v1::ADMIN_LEVEL_COMMUNE, "201", "", "2025-07-01"),
               Unit("20", v1::ADMIN_LEVEL_PROVINCE, "", "2025-07-01", ""),
               Unit("20001", v1::ADMIN_LEVEL_COMMUNE, "20", "2025-07-01", ""),
               Unit("20002", v1::ADMIN_LEVEL_COMMUNE, "20", "2025-07-01", "")});
  CoverageData data;
  data.AddRecord(
      Record("20", "2025-06", v1::SCHEME_HEALTH, 999));  // the old province, reported whole
  data.AddRecord(Record("20001", "2025-06", v1::SCHEME_HEALTH, 5));  // the old commune
  data.AddRecord(Record("20002", "2025-07", v1::SCHEME_HEALTH, 7));  // a new commune
  absl::StatusOr<v1::Coverage> c = RollupCoverage(h, data, "20", P("2025"));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->unit().valid_from(), "2025-07-01");
  EXPECT_EQ(Scheme(*c, v1::SCHEME_HEALTH).participants(), 7);
  absl::StatusOr<v1::Coverage> before = RollupCoverage(h, data, "20", P("2025-H1"));
  EXPECT_EQ(before->unit().valid_to(), "2025-07-01");
  EXPECT_EQ(Scheme(*before, v1::SCHEME_HEALTH).participants(), 999);
  EXPECT_EQ(Scheme(*before, v1::SCHEME_HEALTH).expected_units(), 1);
  EXPECT_NE(h.TerritoryFingerprint("20", "2025-06-30"), h.TerritoryFingerprint("20", "2025-12-31"));
  EXPECT_EQ(h.TerritoryFingerprint("20", "2024-12-31"), h.TerritoryFingerprint("20", "2025-06-30"));
  EXPECT_TRUE(absl::IsNotFound(RollupCoverage(h, data, "201", P("2025")).status()));
}

TEST(RollupTest, ComparisonsAreInPointsAndPeriodsAreTheRightOnes) {
  std::vector<Period> periods = ComparisonPeriods(P("2017-H1"), 3);
  ASSERT_EQ(periods.size(), 4u);
  EXPECT_EQ(periods[0].ToString(), "2016-H1");
  EXPECT_EQ(periods[1].ToString(), "2016");
  EXPECT_EQ(periods[3].ToString(), "2014");
  EXPECT_EQ(ComparisonPeriods(P("1901-Q2"), 10).size(), 2u);  // 1900-Q2 and 1900, no earlier
  v1::SchemeCoverage now;
  now.set_participants(1203);
  now.set_coverage_percent(45.96);
  now.set_as_of_month("2017-06");
  v1::SchemeCoverage then;
  then.set_participants(1000);
  then.set_coverage_percent(30.0);
  then.set_as_of_month("2016-12");
  v1::Comparison c = Compare(now, then, "2016");
  EXPECT_EQ(c.participants_change(), 203);
  EXPECT_NEAR(c.coverage_points_change(), 15.96, 1e-9);
  // A period without any figure: no change is claimed against it.
  v1::SchemeCoverage nothing_then;
  v1::Comparison against_nothing = Compare(now, nothing_then, "2015");
  EXPECT_FALSE(against_nothing.has_participants());
  EXPECT_FALSE(against_nothing.has_participants_change());
  EXPECT_FALSE(against_nothing.has_coverage_points_change());
}

// The service's form (TreeIndex) gives exactly the Hierarchy's answers: codes reused by other
// units, a unit moved to another parent, units ending within a year (the yearly figure's holder
// read both ways), a province appearing, and periods before, across and after the changes.
TEST(RollupTest, TreeIndexGivesTheHierarchysAnswers) {
  const std::vector<v1::AdminUnit> units = {
      Unit("10", v1::ADMIN_LEVEL_PROVINCE, ""), Unit("101", v1::ADMIN_LEVEL_DISTRICT, "10"),
      Unit("102", v1::ADMIN_LEVEL_DISTRICT, "10", "", "2023-07-01"),
      Unit("10101", v1::ADMIN_LEVEL_COMMUNE, "101"),
      Unit("10102", v1::ADMIN_LEVEL_COMMUNE, "101", "", "2023-07-01"),
      Unit("10102", v1::ADMIN_LEVEL_COMMUNE, "101", "2023-07-01"),  // the code reused
      Unit("10201", v1::ADMIN_LEVEL_COMMUNE, "102", "", "2023-07-01"),
      Unit("10201", v1::ADMIN_LEVEL_COMMUNE, "101", "2023-07-01"),  // moved to 101
      Unit("20", v1::ADMIN_LEVEL_PROVINCE, "", "2023-07-01"),
      Unit("201", v1::ADMIN_LEVEL_DISTRICT, "20", "2023-07-01"),
      Unit("20101", v1::ADMIN_LEVEL_COMMUNE, "201", "2023-07-01", "2024-03-15"),
      Unit("20102", v1::ADMIN_LEVEL_COMMUNE, "201", "2023-07-01"),
      // Valid from a period's last day and up to, not including, another's.
      Unit("20103", v1::ADMIN_LEVEL_COMMUNE, "201", "2023-09-30", "2024-02-29")};
  CoverageData data;
  int64_t n = 0;
  for (const char* code : {"10", "101", "10101", "10102", "10201", "20101", "20102", "20103"}) {
    for (const char* month : {"2022-12", "2023-05", "2023-06", "2023-07", "2023-12", "2024-02"}) {
      for (v1::Scheme scheme : kReportedSchemes) {
        ++n;
        // Some figures at a higher level, some without the split, one scheme left out here
        // and there: every rule of the rollup has something to read.
        if (std::string(code).size() < 5 && n % 3 != 0) {
          continue;
        }
        if (n % 7 == 0) {
          continue;
        }
        data.AddRecord(Record(code, month, scheme, 100 + n,
                              n % 5 == 0 ? std::nullopt : std::optional<int64_t>(n)));
      }
    }
    for (int year = 2022; year <= 2024; ++year) {
      data.AddDenominator(Denominator(code, year, v1::DENOMINATOR_KIND_POPULATION, 1000 + year));
      if (year != 2023 || std::string(code) != "10201") {
        data.AddDenominator(Denominator(code, year, v1::DENOMINATOR_KIND_LABOR_FORCE, 500 + year));
      }
    }
  }
  auto hierarchy = std::make_shared<const Hierarchy>(units);
  const TreeIndex tree(hierarchy, units);
  int compared = 0;
  for (const char* code : {"VN", "", "10", "101", "102", "10101", "10102", "10201", "20", "201",
                           "20101", "20103", "99"}) {
    for (const char* period : {"2022", "2023", "2023-H1", "2023-H2", "2023-06", "2023-07",
                               "2023-Q3", "2024", "2024-02", "2024-03", "2024-Q1"}) {
      absl::StatusOr<v1::Coverage> want = RollupCoverage(*hierarchy, data, code, P(period));
      absl::StatusOr<v1::Coverage> got = RollupCoverage(tree, data, code, P(period));
      ASSERT_EQ(got.status(), want.status()) << code << " " << period;
      if (want.ok()) {
        EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*got, *want))
            << code << " " << period << "\n got: " << got->ShortDebugString()
            << "\nwant: " << want->ShortDebugString();
        ++compared;
      }
    }
  }
  EXPECT_GT(compared, 80);
}

// A unit's rows are found by binary search (rollup.cc FirstRowFrom): for every period of ten
// years, against the latest month with a figure found by reading every month. Commune 10101
// reports in irregular months (gaps of one to three months, some schemes only some months),
// commune 10102 once, 10201 never: the searches meet rows on both sides of each period, none
// inside some, a single row and an empty unit.
TEST(RollupTest, LatestMonthIsFoundForEveryPeriodOfALongHistory) {
  const std::vector<v1::AdminUnit> units = SmallTree();
  auto hierarchy = std::make_shared<const Hierarchy>(units);
  const TreeIndex tree(hierarchy, units);
  CoverageData data;
  std::map<int, int64_t> health;  // month index -> 10101's figure
  int step = 0;
  for (Month m{2014, 1}; m <= Month{2023, 12};) {
    const int64_t value = 1000 + m.Index();
    data.AddRecord(Record("10101", m.ToString(), v1::SCHEME_HEALTH, value));
    health[m.Index()] = value;
    if (step % 2 == 0) {
      data.AddRecord(Record("10101", m.ToString(), v1::SCHEME_UNEMPLOYMENT, value));
    }
    for (int i = 0; i <= step % 3; ++i) {
      m = m.Next();
    }
    ++step;
  }
  data.AddRecord(Record("10102", "2019-07", v1::SCHEME_HEALTH, 5));
  SummaryMemo memo(1000);
  int checked = 0;
  for (int year = 2013; year <= 2024; ++year) {
    std::vector<std::string> periods = {absl::StrFormat("%d", year)};
    for (int h = 1; h <= 2; ++h) {
      periods.push_back(absl::StrFormat("%d-H%d", year, h));
    }
    for (int q = 1; q <= 4; ++q) {
      periods.push_back(absl::StrFormat("%d-Q%d", year, q));
    }
    for (int month = 1; month <= 12; ++month) {
      periods.push_back(absl::StrFormat("%d-%02d", year, month));
    }
    for (const std::string& text : periods) {
      const Period period = P(text);
      auto latest = health.upper_bound(period.last_month().Index());
      std::optional<std::pair<int, int64_t>> want;
      if (latest != health.begin() && std::prev(latest)->first >= period.first_month().Index()) {
        want = *std::prev(latest);
      }
      const bool july_2019 =
          period.first_month() <= Month{2019, 7} && Month{2019, 7} <= period.last_month();
      for (const char* code : {"10101", "101", "10"}) {
        absl::StatusOr<v1::Coverage> hierarchy_form =
            RollupCoverage(*hierarchy, data, code, period);
        absl::StatusOr<v1::Coverage> tree_form = RollupCoverage(tree, data, code, period, &memo);
        ASSERT_TRUE(hierarchy_form.ok()) << hierarchy_form.status();
        ASSERT_TRUE(tree_form.ok()) << tree_form.status();
        EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*tree_form, *hierarchy_form))
            << code << " " << text;
        const v1::SchemeCoverage& sc = Scheme(*tree_form, v1::SCHEME_HEALTH);
        const int64_t also = std::string(code) != "10101" && july_2019 ? 5 : 0;
        if (want.has_value()) {
          const int as_of = std::max(want->first, also > 0 ? Month{2019, 7}.Index() : -1);
          EXPECT_EQ(sc.participants(), want->second + also) << code << " " << text;
          EXPECT_EQ(sc.as_of_month(), (Month{as_of / 12, as_of % 12 + 1}).ToString())
              << code << " " << text;
        } else if (also > 0) {
          EXPECT_EQ(sc.participants(), also) << code << " " << text;
          EXPECT_EQ(sc.as_of_month(), "2019-07") << code << " " << text;
        } else {
          EXPECT_EQ(sc.as_of_month(), "") << code << " " << text;
        }
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 12 * 19 * 3);
}

// The error of a figure out of range names the unit that holds it (read only then: rollup.cc
// Checked), whichever form of the rollup met it.
TEST(RollupTest, AFigureOutOfRangeIsNamedByItsUnit) {
  const std::vector<v1::AdminUnit> units = SmallTree();
  auto hierarchy = std::make_shared<const Hierarchy>(units);
  const TreeIndex tree(hierarchy, units);
  CoverageData participants;
  participants.AddRecord(Record("10101", "2023-12", v1::SCHEME_HEALTH, 10));
  participants.AddRecord(Record("10201", "2023-12", v1::SCHEME_HEALTH, -5));
  CoverageData denominator;
  denominator.AddRecord(Record("10101", "2023-12", v1::SCHEME_HEALTH, 10));
  denominator.AddDenominator(Denominator("10101", 2023, v1::DENOMINATOR_KIND_POPULATION, 100));
  denominator.AddDenominator(Denominator("10102", 2023, v1::DENOMINATOR_KIND_POPULATION, -7));
  SummaryMemo memo(100);
  for (const char* code : {"10", "VN"}) {
    for (const absl::StatusOr<v1::Coverage>& c :
         {RollupCoverage(tree, participants, code, P("2023")),
          RollupCoverage(tree, participants, code, P("2023"), &memo),
          RollupCoverage(*hierarchy, participants, code, P("2023"))}) {
      EXPECT_EQ(c.status().code(), absl::StatusCode::kInternal) << c.status();
      EXPECT_NE(c.status().message().find("participants of unit 10201"), absl::string_view::npos)
          << c.status();
    }
    for (const absl::StatusOr<v1::Coverage>& c :
         {RollupCoverage(tree, denominator, code, P("2023")),
          RollupCoverage(tree, denominator, code, P("2023"), &memo),
          RollupCoverage(*hierarchy, denominator, code, P("2023"))}) {
      EXPECT_EQ(c.status().code(), absl::StatusCode::kInternal) << c.status();
      EXPECT_NE(c.status().message().find("denominator of unit 10102"), absl::string_view::npos)
          << c.status();
    }
  }
}

}  // namespace
}  // namespace covtrack::aggregation
