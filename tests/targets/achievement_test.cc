#include "services/targets/achievement.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <numeric>

namespace covtrack::targets {
namespace {

v1::Target ParticipantsTarget(double value,
                              v1::TargetBasis basis = v1::TARGET_BASIS_ALL_PARTICIPANTS) {
  v1::Target t;
  t.set_unit_code("125");
  t.set_scheme(v1::SCHEME_COMPULSORY_SOCIAL);
  t.set_year(2023);
  t.set_kind(v1::TARGET_KIND_PARTICIPANTS);
  t.set_value(value);
  t.set_basis(basis);
  return t;
}

v1::Target CoverageTarget(double percent) {
  v1::Target t = ParticipantsTarget(0);
  t.set_scheme(v1::SCHEME_HEALTH);
  t.set_kind(v1::TARGET_KIND_COVERAGE_PERCENT);
  t.set_value(percent);
  return t;
}

v1::SchemeCoverage Figure(int64_t participants, std::optional<int64_t> in_province = std::nullopt,
                          std::optional<int64_t> denominator = std::nullopt) {
  v1::SchemeCoverage c;
  c.set_participants(participants);
  if (in_province) {
    c.set_in_province_participants(*in_province);
  }
  if (denominator) {
    c.set_denominator(*denominator);
  }
  c.set_reporting_units(1);
  c.set_expected_units(1);
  c.set_as_of_month("2023-12");
  return c;
}

SchemeInputs AtYearEnd(std::optional<v1::Target> target, v1::SchemeCoverage current) {
  SchemeInputs in;
  in.scheme = target ? target->scheme() : v1::SCHEME_HEALTH;
  in.target = std::move(target);
  in.current = std::move(current);
  in.as_of = Month{2023, 12};
  return in;
}

// Issue 13: counts up to INT64_MAX made differences wrap to plausible figures. A count no unit
// can hold (common/domain.h kMaxPeople) is not compared, and a month holding one is no trend.
TEST(EvaluateSchemeTest, CountsBeyondAnyUnitAreNoData) {
  const int64_t huge = std::numeric_limits<int64_t>::max();
  v1::SchemeAchievement a = EvaluateScheme(AtYearEnd(ParticipantsTarget(11136), Figure(huge)));
  EXPECT_EQ(a.status(), v1::ACHIEVEMENT_STATUS_NO_DATA);
  EXPECT_THAT(a.note(), ::testing::HasSubstr("beyond any unit"));
  a = EvaluateScheme(AtYearEnd(CoverageTarget(90), Figure(1000, std::nullopt, huge)));
  EXPECT_EQ(a.status(), v1::ACHIEVEMENT_STATUS_NO_DATA);

  // June's 6,000 against an earlier month of -INT64_MAX: that month is no trend.
  SchemeInputs in = AtYearEnd(ParticipantsTarget(20000), Figure(6000));
  in.as_of = Month{2024, 6};
  in.current.set_as_of_month("2024-06");
  v1::SchemeCoverage wrong = Figure(-huge);
  wrong.set_as_of_month("2024-05");
  in.history.push_back({Month{2024, 5}, wrong});
  a = EvaluateScheme(in);
  EXPECT_EQ(a.projected_year_end_participants(), 6000);
  EXPECT_EQ(a.status(), v1::ACHIEVEMENT_STATUS_AT_RISK);  // from the projection only
}

// DOMAIN.md: Mai Sơn 2023, compulsory SI: 11,661 / 11,136 people = 104.7% of plan.
TEST(EvaluateSchemeTest, ParticipantsTargetMaiSonCompulsory) {
  v1::SchemeAchievement a =
      EvaluateScheme(AtYearEnd(ParticipantsTarget(11136), Figure(11661, 6569)));
  EXPECT_EQ(a.actual_participants(), 11661);
  EXPECT_NEAR(a.achievement_percent(), 104.714, 0.001);
  EXPECT_EQ(a.status(), v1::ACHIEVEMENT_STATUS_MET);
  EXPECT_EQ(a.participants_to_target(), 0);
  EXPECT_FALSE(a.has_points_vs_target());
  EXPECT_EQ(a.projected_year_end_participants(), 11661);
}

// DOMAIN.md: Mai Sơn 2023 health insurance on the in-province basis: 148,722 / 147,821 = 100.6%,
// not the total 154,621.
TEST(EvaluateSchemeTest, InProvinceBasisCountsOnlyInProvince) {
  v1::Target target = ParticipantsTarget(147821, v1::TARGET_BASIS_IN_PROVINCE);
  target.set_scheme(v1::SCHEME_HEALTH);
  v1::SchemeAchievement a = EvaluateScheme(AtYearEnd(target, Figure(154621, 148722)));
  EXPECT_EQ(a.actual_participants(), 148722);
  EXPECT_NEAR(a.achievement_percent(), 100.609, 0.001);
  EXPECT_EQ(a.status(), v1::ACHIEVEMENT_STATUS_MET);
}

TEST(EvaluateSchemeTest, InProvinceBasisWithoutSplitIsNoData) {
  v1::SchemeAchievement a = EvaluateScheme(
      AtYearEnd(ParticipantsTarget(100, v1::TARGET_BASIS_IN_PROVINCE), Figure(154621)));
  EXPECT_EQ(a.status(), v1::ACHIEVEMENT_STATUS_NO_DATA);
  EXPECT_NE(a.note().find("in_province_participants"), std::string::npos);
}

// DOMAIN.md: Mỹ Tho 2023: 207,717 of 231,000 = 89.9% against 89.0%: +0.9 points.
TEST(EvaluateSchemeTest, CoverageTargetComparedInPoints) {
  v1::SchemeAchievement a =
      EvaluateScheme(AtYearEnd(CoverageTarget(89.0), Figure(207717, std::nullopt, 231000)));
  ASSERT_TRUE(a.has_actual_coverage_percent());
  EXPECT_NEAR(a.actual_coverage_percent(), 89.92, 0.01);
  ASSERT_TRUE(a.has_points_vs_target());
  EXPECT_NEAR(a.points_vs_target(), 0.92, 0.01);
  EXPECT_NEAR(a.achievement_percent(), 89.92 / 89.0 * 100, 0.01);
  EXPECT_EQ(a.status(), v1::ACHIEVEMENT_STATUS_MET);
  EXPECT_EQ(a.participants_to_target(), 0);
}

TEST(EvaluateSchemeTest, CoverageTargetMissedAtYearEndIsBehindWithPeopleNeeded) {
  // 95% of 231,000 = 219,450 people; 207,717 reached: 11,733 short.
  v1::SchemeAchievement a =
      EvaluateScheme(AtYearEnd(CoverageTarget(95.0), Figure(207717, std::nullopt, 231000)));
  EXPECT_EQ(a.status(), v1::ACHIEVEMENT_STATUS_BEHIND);
  EXPECT_EQ(a.participants_to_target(), 219450 - 207717);
  EXPECT_NEAR(a.points_vs_target(), 89.92 - 95.0, 0.01);
}

TEST(EvaluateSchemeTest, CoverageTargetWithoutDenominatorIsNoData) {
  v1::SchemeAchievement a = EvaluateScheme(AtYearEnd(CoverageTarget(89.0), Figure(207717)));
  EXPECT_EQ(a.status(), v1::ACHIEVEMENT_STATUS_NO_DATA);
  EXPECT_NE(a.note().find("denominator"), std::string::npos);
}

TEST(EvaluateSchemeTest, NoTargetKeepsTheFigures) {
  v1::SchemeAchievement a = EvaluateScheme(AtYearEnd(std::nullopt, Figure(500, 400, 1000)));
  EXPECT_EQ(a.status(), v1::ACHIEVEMENT_STATUS_NO_TARGET);
  EXPECT_EQ(a.actual_participants(), 500);
  EXPECT_NEAR(a.actual_coverage_percent(), 50.0, 1e-9);
}

TEST(EvaluateSchemeTest, NothingReportedIsNoData) {
  SchemeInputs in = AtYearEnd(ParticipantsTarget(100), v1::SchemeCoverage());
  in.as_of.reset();
  EXPECT_EQ(EvaluateScheme(in).status(), v1::ACHIEVEMENT_STATUS_NO_DATA);
}

TEST(EvaluateSchemeTest, MissedAtYearEndIsBehind) {
  v1::SchemeAchievement a = EvaluateScheme(AtYearEnd(ParticipantsTarget(12000), Figure(11661)));
  EXPECT_EQ(a.status(), v1::ACHIEVEMENT_STATUS_BEHIND);
  EXPECT_EQ(a.participants_to_target(), 339);
  EXPECT_NEAR(a.achievement_percent(), 97.175, 0.001);
}

TEST(EvaluateSchemeTest, IncompleteReportingIsNoted) {
  v1::SchemeCoverage c = Figure(11661);
  c.set_reporting_units(20);
  c.set_expected_units(22);
  v1::SchemeAchievement a = EvaluateScheme(AtYearEnd(ParticipantsTarget(11136), c));
  EXPECT_NE(a.note().find("20 of 22"), std::string::npos);
}

// During the year: baseline B = 10,000 last December, target T = 12,400, so the pace needed is
// +200 a month. At the end of August (m = 8) the pace line is at 11,600.
class DuringYearTest : public ::testing::Test {
 protected:
  SchemeInputs Inputs(int64_t may, int64_t august) {
    SchemeInputs in;
    in.scheme = v1::SCHEME_COMPULSORY_SOCIAL;
    in.target = ParticipantsTarget(12400);
    in.target->set_year(2024);
    in.as_of = Month{2024, 8};
    in.current = Figure(august);
    in.history.push_back({Month{2023, 12}, Figure(10000)});
    in.history.push_back({Month{2024, 5}, Figure(may)});
    in.history.push_back({Month{2024, 8}, Figure(august)});
    return in;
  }
};

TEST_F(DuringYearTest, AheadOfPaceIsOnTrack) {
  v1::SchemeAchievement a = EvaluateScheme(Inputs(11000, 11700));
  EXPECT_EQ(a.status(), v1::ACHIEVEMENT_STATUS_ON_TRACK);
  EXPECT_NEAR(a.pace_value(), 11600, 1e-9);
  EXPECT_NEAR(a.baseline_value(), 10000, 1e-9);
  // Trend (11,700 − 11,000) / 3 a month for 4 more months: 11,700 + 933.3 = 12,633.
  EXPECT_EQ(a.projected_year_end_participants(), 12633);
  EXPECT_NEAR(a.achievement_percent(), 11700.0 / 12400 * 100, 1e-9);
}

TEST_F(DuringYearTest, BehindPaceButFastRecentTrendIsAtRisk) {
  // 11,400 < 11,600, but +300 a month since May reaches 12,600 >= 12,400.
  v1::SchemeAchievement a = EvaluateScheme(Inputs(10500, 11400));
  EXPECT_EQ(a.status(), v1::ACHIEVEMENT_STATUS_AT_RISK);
  EXPECT_EQ(a.projected_year_end_participants(), 12600);
}

TEST_F(DuringYearTest, BehindPaceAndSlowTrendIsBehind) {
  // 11,400 < 11,600 and +100 a month since May reaches only 11,800.
  v1::SchemeAchievement a = EvaluateScheme(Inputs(11100, 11400));
  EXPECT_EQ(a.status(), v1::ACHIEVEMENT_STATUS_BEHIND);
  EXPECT_EQ(a.projected_year_end_participants(), 11800);
  EXPECT_EQ(a.participants_to_target(), 1000);
}

TEST_F(DuringYearTest, AlreadyAboveTargetIsMet) {
  EXPECT_EQ(EvaluateScheme(Inputs(12000, 12500)).status(), v1::ACHIEVEMENT_STATUS_MET);
}

TEST_F(DuringYearTest, TrendFallsBackToFewerMonthsWhenEarlierOnesAreMissing) {
  SchemeInputs in = Inputs(11000, 11400);
  in.history.erase(in.history.begin() + 1);  // no May
  in.history.push_back({Month{2024, 7}, Figure(11350)});
  // k = 1: +50 a month -> 11,600 in December.
  EXPECT_EQ(EvaluateScheme(in).projected_year_end_participants(), 11600);
}

TEST_F(DuringYearTest, WithoutBaselineStatusComesFromProjection) {
  SchemeInputs in = Inputs(10500, 11400);
  in.history.erase(in.history.begin());  // no December figure
  v1::SchemeAchievement a = EvaluateScheme(in);
  EXPECT_FALSE(a.has_baseline_value());
  EXPECT_FALSE(a.has_pace_value());
  EXPECT_EQ(a.status(), v1::ACHIEVEMENT_STATUS_ON_TRACK);  // projection 12,600 >= 12,400
  in.history[0].coverage = Figure(11300);                  // May: +33 a month -> 11,533
  EXPECT_EQ(EvaluateScheme(in).status(), v1::ACHIEVEMENT_STATUS_AT_RISK);
}

TEST(EvaluateSchemeTest, CoverageTargetDuringYearUsesPointsAndEachMonthsDenominator) {
  SchemeInputs in;
  in.scheme = v1::SCHEME_HEALTH;
  in.target = CoverageTarget(92.0);
  in.target->set_year(2024);
  in.as_of = Month{2024, 6};
  // December: 88% of 100,000. June: 89,000 of 100,000 = 89%; pace at June: 88 + 4 × 6/12 = 90.
  in.history.push_back({Month{2023, 12}, Figure(88000, std::nullopt, 100000)});
  in.history.push_back({Month{2024, 3}, Figure(88300, std::nullopt, 100000)});
  in.current = Figure(89000, std::nullopt, 100000);
  v1::SchemeAchievement a = EvaluateScheme(in);
  EXPECT_NEAR(a.baseline_value(), 88.0, 1e-9);
  EXPECT_NEAR(a.pace_value(), 90.0, 1e-9);
  EXPECT_NEAR(a.points_vs_target(), -3.0, 1e-9);
  // Trend +233.3 a month for 6 months: 90,400 = 90.4% < 92%.
  EXPECT_EQ(a.projected_year_end_participants(), 90400);
  EXPECT_NEAR(a.projected_year_end_coverage_percent(), 90.4, 1e-9);
  EXPECT_EQ(a.status(), v1::ACHIEVEMENT_STATUS_BEHIND);
  EXPECT_EQ(a.participants_to_target(), 3000);
}

TEST(LaggingRankTest, WorstFirst) {
  EXPECT_LT(LaggingRank(v1::ACHIEVEMENT_STATUS_BEHIND),
            LaggingRank(v1::ACHIEVEMENT_STATUS_AT_RISK));
  EXPECT_LT(LaggingRank(v1::ACHIEVEMENT_STATUS_AT_RISK),
            LaggingRank(v1::ACHIEVEMENT_STATUS_NO_DATA));
  EXPECT_LT(LaggingRank(v1::ACHIEVEMENT_STATUS_NO_DATA),
            LaggingRank(v1::ACHIEVEMENT_STATUS_ON_TRACK));
  EXPECT_EQ(LaggingRank(v1::ACHIEVEMENT_STATUS_ON_TRACK), LaggingRank(v1::ACHIEVEMENT_STATUS_MET));
}

TEST(AllocateLargestRemainderTest, PartsSumExactlyAndFollowLargestRemainders) {
  // 100 over 1:1:1 -> 33.33 each; one leftover goes to the first (ties to the lower index).
  EXPECT_EQ(*AllocateLargestRemainder(100, {1, 1, 1}), (std::vector<int64_t>{34, 33, 33}));
  // 10 over 5:3:2 splits exactly.
  EXPECT_EQ(*AllocateLargestRemainder(10, {5, 3, 2}), (std::vector<int64_t>{5, 3, 2}));
  // 7 over 10:20:30:40 = 0.7, 1.4, 2.1, 2.8: floors 0,1,2,2 (5), leftovers to .8 and .7.
  EXPECT_EQ(*AllocateLargestRemainder(7, {10, 20, 30, 40}), (std::vector<int64_t>{1, 1, 2, 3}));
}

TEST(AllocateLargestRemainderTest, SumsExactlyOverManyUnevenBases) {
  std::vector<int64_t> bases;
  for (int i = 0; i < 37; ++i) {
    bases.push_back(1000 + (i * 7919) % 9973);
  }
  for (int64_t total : {0L, 1L, 36L, 37L, 147821L, 999999937L}) {
    absl::StatusOr<std::vector<int64_t>> parts = AllocateLargestRemainder(total, bases);
    ASSERT_TRUE(parts.ok());
    EXPECT_EQ(std::accumulate(parts->begin(), parts->end(), int64_t{0}), total) << total;
  }
}

TEST(AllocateLargestRemainderTest, LargeNumbersDoNotOverflow) {
  absl::StatusOr<std::vector<int64_t>> parts =
      AllocateLargestRemainder(1000000000, {8000000000000LL, 1000000000000LL, 1});
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ((*parts)[0] + (*parts)[1] + (*parts)[2], 1000000000);
  EXPECT_EQ((*parts)[0], 888888889);
}

TEST(AllocateLargestRemainderTest, RejectsNoUnitsZeroOrNegativeBases) {
  EXPECT_EQ(AllocateLargestRemainder(10, {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(AllocateLargestRemainder(10, {0, 0}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(AllocateLargestRemainder(10, {5, -1}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(AllocateLargestRemainder(-1, {5}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace covtrack::targets
