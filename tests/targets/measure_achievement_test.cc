// Targets on measures (issue 11): the year to date, floors and ceilings, pacing.
#include "services/targets/measure_achievement.h"

#include <gtest/gtest.h>

#include <limits>

#include "absl/strings/str_format.h"

namespace covtrack::targets {
namespace {

v1::Target MeasureTarget(v1::Measure measure, double value,
                         v1::Scheme scheme = v1::SCHEME_UNSPECIFIED) {
  v1::Target t;
  t.set_unit_code("815");
  t.set_year(2024);
  t.set_measure(measure);
  t.set_scheme(scheme);
  t.set_value(value);
  return t;
}

MeasureInputs Inputs(v1::Target target, int month, std::optional<double> actual,
                     std::optional<double> baseline = std::nullopt) {
  MeasureInputs in;
  in.target = std::move(target);
  in.month = month;
  in.actual.value = actual;
  in.actual.as_of_month = absl::StrFormat("2024-%02d", month);
  in.baseline = baseline;
  return in;
}

v1::MeasureValue Value(v1::Measure measure, int64_t value, const std::string& as_of,
                       v1::Scheme scheme = v1::SCHEME_UNSPECIFIED) {
  v1::MeasureValue v;
  v.set_measure(measure);
  v.set_scheme(scheme);
  v.set_value(value);
  v.set_as_of_month(as_of);
  return v;
}

TEST(YearToDatePeriodsTest, FewestPeriodsCoveringJanuaryToTheMonth) {
  EXPECT_EQ(YearToDatePeriods(2024, 12), std::vector<std::string>({"2024"}));
  EXPECT_EQ(YearToDatePeriods(2024, 1), std::vector<std::string>({"2024-01"}));
  EXPECT_EQ(YearToDatePeriods(2024, 2), std::vector<std::string>({"2024-01", "2024-02"}));
  EXPECT_EQ(YearToDatePeriods(2024, 3), std::vector<std::string>({"2024-Q1"}));
  EXPECT_EQ(YearToDatePeriods(2024, 5),
            std::vector<std::string>({"2024-Q1", "2024-04", "2024-05"}));
  EXPECT_EQ(YearToDatePeriods(2024, 6), std::vector<std::string>({"2024-H1"}));
  EXPECT_EQ(YearToDatePeriods(2024, 8),
            std::vector<std::string>({"2024-H1", "2024-07", "2024-08"}));
  EXPECT_EQ(YearToDatePeriods(2024, 9), std::vector<std::string>({"2024-H1", "2024-Q3"}));
  EXPECT_EQ(YearToDatePeriods(2024, 11),
            std::vector<std::string>({"2024-H1", "2024-Q3", "2024-10", "2024-11"}));
}

// A flow is the sum of its pieces, a stock the latest piece's, the ratio Σ owed-latest over
// Σ due: never the average of the pieces' ratios.
TEST(MeasureOverPeriodsTest, FlowsSumStocksTakeTheLatestRatioFromSums) {
  std::vector<v1::MeasureSummary> pieces(2);
  *pieces[0].add_values() = Value(v1::MEASURE_NEW_PARTICIPANTS, 600, "2024-06", v1::SCHEME_HEALTH);
  *pieces[0].add_values() = Value(v1::MEASURE_ARREARS_OWED_VND, 50, "2024-06");
  *pieces[0].add_values() = Value(v1::MEASURE_CONTRIBUTIONS_DUE_VND, 1000, "2024-06");
  *pieces[1].add_values() = Value(v1::MEASURE_NEW_PARTICIPANTS, 250, "2024-08", v1::SCHEME_HEALTH);
  *pieces[1].add_values() = Value(v1::MEASURE_ARREARS_OWED_VND, 30, "2024-08");
  *pieces[1].add_values() = Value(v1::MEASURE_CONTRIBUTIONS_DUE_VND, 500, "2024-08");

  absl::StatusOr<MeasureFigure> flow =
      MeasureOverPeriods(*FindMeasure(v1::MEASURE_NEW_PARTICIPANTS), v1::SCHEME_HEALTH,
                         v1::PAYER_GROUP_UNSPECIFIED, pieces);
  ASSERT_TRUE(flow.ok()) << flow.status();
  EXPECT_EQ(flow->value, 850);
  EXPECT_EQ(flow->as_of_month, "2024-08");

  absl::StatusOr<MeasureFigure> stock =
      MeasureOverPeriods(*FindMeasure(v1::MEASURE_ARREARS_OWED_VND), v1::SCHEME_UNSPECIFIED,
                         v1::PAYER_GROUP_UNSPECIFIED, pieces);
  ASSERT_TRUE(stock.ok());
  EXPECT_EQ(stock->value, 30);

  absl::StatusOr<MeasureFigure> ratio =
      MeasureOverPeriods(*FindMeasure(v1::MEASURE_ARREARS_RATIO), v1::SCHEME_UNSPECIFIED,
                         v1::PAYER_GROUP_UNSPECIFIED, pieces);
  ASSERT_TRUE(ratio.ok());
  ASSERT_TRUE(ratio->value.has_value());
  EXPECT_DOUBLE_EQ(*ratio->value, 2.0);  // 30 / 1500; the pieces' ratios were 5 % and 6 %

  // Another scheme's flow, or nothing due, is no figure.
  absl::StatusOr<MeasureFigure> other =
      MeasureOverPeriods(*FindMeasure(v1::MEASURE_NEW_PARTICIPANTS), v1::SCHEME_UNEMPLOYMENT,
                         v1::PAYER_GROUP_UNSPECIFIED, pieces);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->value.has_value());
  std::vector<v1::MeasureSummary> nothing_due(1);
  *nothing_due[0].add_values() = Value(v1::MEASURE_ARREARS_OWED_VND, 30, "2024-08");
  *nothing_due[0].add_values() = Value(v1::MEASURE_CONTRIBUTIONS_DUE_VND, 0, "2024-08");
  EXPECT_FALSE(MeasureOverPeriods(*FindMeasure(v1::MEASURE_ARREARS_RATIO), v1::SCHEME_UNSPECIFIED,
                                  v1::PAYER_GROUP_UNSPECIFIED, nothing_due)
                   ->value.has_value());
}

TEST(MeasureOverPeriodsTest, AnOverflowingSumIsRefused) {
  std::vector<v1::MeasureSummary> pieces(2);
  for (v1::MeasureSummary& piece : pieces) {
    *piece.add_values() = Value(v1::MEASURE_CONTRIBUTIONS_DUE_VND,
                                std::numeric_limits<int64_t>::max() - 1, "2024-06");
  }
  EXPECT_EQ(MeasureOverPeriods(*FindMeasure(v1::MEASURE_CONTRIBUTIONS_DUE_VND),
                               v1::SCHEME_UNSPECIFIED, v1::PAYER_GROUP_UNSPECIFIED, pieces)
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

// "Nợ có lãi dưới 2,1%": a ratio of 1.8 % is under its ceiling (MET), 2.4 % is over it at the
// year's end (BEHIND); both compared in percentage points.
TEST(EvaluateMeasureTest, ARatioCeilingMetAndMissed) {
  const v1::Target ceiling = MeasureTarget(v1::MEASURE_ARREARS_RATIO, 2.1);
  v1::MeasureAchievement met = EvaluateMeasure(Inputs(ceiling, 12, 1.8));
  EXPECT_EQ(met.status(), v1::ACHIEVEMENT_STATUS_MET);
  EXPECT_TRUE(met.lower_is_better());
  EXPECT_NEAR(met.points_vs_target(), -0.3, 1e-9);
  EXPECT_EQ(met.gap(), 0);
  EXPECT_NEAR(met.percent_of_target(), 1.8 / 2.1 * 100, 1e-9);

  v1::MeasureAchievement missed = EvaluateMeasure(Inputs(ceiling, 12, 2.4));
  EXPECT_EQ(missed.status(), v1::ACHIEVEMENT_STATUS_BEHIND);
  EXPECT_NEAR(missed.points_vs_target(), 0.3, 1e-9);
  EXPECT_NEAR(missed.gap(), 0.3, 1e-9);

  // Exactly at the ceiling is within it.
  EXPECT_EQ(EvaluateMeasure(Inputs(ceiling, 12, 2.1)).status(), v1::ACHIEVEMENT_STATUS_MET);
}

// A floor of people reads the other way round: at or above is met.
TEST(EvaluateMeasureTest, AFloorOfDistinctParticipants) {
  const v1::Target floor = MeasureTarget(v1::MEASURE_DISTINCT_PARTICIPANTS, 250000);
  v1::MeasureAchievement met = EvaluateMeasure(Inputs(floor, 12, 251000));
  EXPECT_EQ(met.status(), v1::ACHIEVEMENT_STATUS_MET);
  EXPECT_FALSE(met.lower_is_better());
  EXPECT_FALSE(met.has_points_vs_target());
  v1::MeasureAchievement missed = EvaluateMeasure(Inputs(floor, 12, 240000));
  EXPECT_EQ(missed.status(), v1::ACHIEVEMENT_STATUS_BEHIND);
  EXPECT_EQ(missed.gap(), 10000);
  EXPECT_NEAR(missed.percent_of_target(), 96.0, 1e-9);
}

// A stock's ceiling during the year: from last December's 3.0 % down to 2.1 %, the pace at
// month 6 is 2.55 %. Under the pace is on track, over it behind; a unit already under its
// ceiling in December only has to stay under it (the pace never drops below the ceiling).
TEST(EvaluateMeasureTest, PacingOfACeiling) {
  const v1::Target owed = MeasureTarget(v1::MEASURE_ARREARS_OWED_VND, 2100);
  v1::MeasureAchievement on_track = EvaluateMeasure(Inputs(owed, 6, 2500, 3000));
  EXPECT_EQ(on_track.status(), v1::ACHIEVEMENT_STATUS_ON_TRACK);
  EXPECT_DOUBLE_EQ(on_track.pace_value(), 2550);
  EXPECT_DOUBLE_EQ(on_track.baseline_value(), 3000);

  v1::MeasureAchievement behind = EvaluateMeasure(Inputs(owed, 6, 2900, 3000));
  EXPECT_EQ(behind.status(), v1::ACHIEVEMENT_STATUS_BEHIND);
  // The line from 3000 through 2900 at June reaches 2800 in December: over the ceiling.
  EXPECT_DOUBLE_EQ(behind.projected_year_end(), 2800);

  // Under the ceiling already: met, whatever December was.
  EXPECT_EQ(EvaluateMeasure(Inputs(owed, 6, 2000, 3000)).status(), v1::ACHIEVEMENT_STATUS_MET);
  // December at 1500, June at 2300: over the ceiling of 2100, and the pace is the ceiling itself
  // (not the line from 1500 up to 2100); the line from 1500 through 2300 misses it: BEHIND.
  v1::MeasureAchievement rising = EvaluateMeasure(Inputs(owed, 6, 2300, 1500));
  EXPECT_DOUBLE_EQ(rising.pace_value(), 2100);
  EXPECT_EQ(rising.status(), v1::ACHIEVEMENT_STATUS_BEHIND);
}

// Flows are cumulative through the year: the pace of 12,000 new participants at August is
// 8,000; the year-to-date sum is compared with it, and its monthly average × 12 is the
// projection. A flow's floor reached early is met.
TEST(EvaluateMeasureTest, PacingOfAFlow) {
  const v1::Target joined = MeasureTarget(v1::MEASURE_NEW_PARTICIPANTS, 12000, v1::SCHEME_HEALTH);
  v1::MeasureAchievement ahead = EvaluateMeasure(Inputs(joined, 8, 8800));
  EXPECT_EQ(ahead.status(), v1::ACHIEVEMENT_STATUS_ON_TRACK);
  EXPECT_DOUBLE_EQ(ahead.pace_value(), 8000);
  EXPECT_DOUBLE_EQ(ahead.baseline_value(), 0);
  EXPECT_DOUBLE_EQ(ahead.projected_year_end(), 13200);

  v1::MeasureAchievement behind = EvaluateMeasure(Inputs(joined, 8, 6000));
  EXPECT_EQ(behind.status(), v1::ACHIEVEMENT_STATUS_BEHIND);
  EXPECT_DOUBLE_EQ(behind.projected_year_end(), 9000);
  EXPECT_EQ(behind.gap(), 6000);

  EXPECT_EQ(EvaluateMeasure(Inputs(joined, 8, 12500)).status(), v1::ACHIEVEMENT_STATUS_MET);
}

// A ceiling on a flow (people lost): under it during the year is only on track (the sum can
// still grow past it); over it is behind at once (a sum does not fall); under it in December is
// met.
TEST(EvaluateMeasureTest, ACeilingOnAFlow) {
  const v1::Target lost = MeasureTarget(v1::MEASURE_LOST_PARTICIPANTS, 1200, v1::SCHEME_HEALTH);
  EXPECT_EQ(EvaluateMeasure(Inputs(lost, 6, 500)).status(), v1::ACHIEVEMENT_STATUS_ON_TRACK);
  EXPECT_EQ(EvaluateMeasure(Inputs(lost, 6, 700)).status(), v1::ACHIEVEMENT_STATUS_BEHIND);
  EXPECT_EQ(EvaluateMeasure(Inputs(lost, 6, 1300)).status(), v1::ACHIEVEMENT_STATUS_BEHIND);
  EXPECT_EQ(EvaluateMeasure(Inputs(lost, 12, 1100)).status(), v1::ACHIEVEMENT_STATUS_MET);
  EXPECT_EQ(EvaluateMeasure(Inputs(lost, 12, 1300)).status(), v1::ACHIEVEMENT_STATUS_BEHIND);
}

TEST(EvaluateMeasureTest, NothingReportedIsNoData) {
  v1::MeasureAchievement none =
      EvaluateMeasure(Inputs(MeasureTarget(v1::MEASURE_ARREARS_RATIO, 2.1), 12, std::nullopt));
  EXPECT_EQ(none.status(), v1::ACHIEVEMENT_STATUS_NO_DATA);
  EXPECT_FALSE(none.has_actual());
  EXPECT_FALSE(none.note().empty());
}

// Worst first within a status: a floor's lowest share, a ceiling's highest.
TEST(MeasureLaggingKeyTest, CeilingsFurthestOverComeFirst) {
  const v1::Target ceiling = MeasureTarget(v1::MEASURE_ARREARS_RATIO, 2.0);
  EXPECT_LT(MeasureLaggingKey(EvaluateMeasure(Inputs(ceiling, 12, 3.0))),
            MeasureLaggingKey(EvaluateMeasure(Inputs(ceiling, 12, 2.5))));
  const v1::Target floor = MeasureTarget(v1::MEASURE_DISTINCT_PARTICIPANTS, 100);
  EXPECT_LT(MeasureLaggingKey(EvaluateMeasure(Inputs(floor, 12, 50))),
            MeasureLaggingKey(EvaluateMeasure(Inputs(floor, 12, 90))));
}

}  // namespace
}  // namespace covtrack::targets
