#include "services/targets/reexpression.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace covtrack::targets {
namespace {

v1::Target MakeTarget(const std::string& code, v1::TargetKind kind, double value,
                      const std::string& assigned_by, const std::string& decision_ref) {
  v1::Target t;
  t.set_unit_code(code);
  t.set_scheme(v1::SCHEME_HEALTH);
  t.set_year(2025);
  t.set_kind(kind);
  t.set_value(value);
  t.set_basis(v1::TARGET_BASIS_ALL_PARTICIPANTS);
  t.set_assigned_by(assigned_by);
  t.set_decision_ref(decision_ref);
  t.set_revision(3);
  return t;
}

PredecessorTarget Pred(const std::string& code, double share, v1::Target target,
                       std::optional<int64_t> d = std::nullopt,
                       std::optional<int64_t> d_before = std::nullopt) {
  PredecessorTarget p;
  p.unit.set_code(code);
  p.share = share;
  p.target = std::move(target);
  p.denominator = d;
  p.denominator_year_before = d_before;
  return p;
}

TEST(ReexpressTargetTest, ParticipantsAreTheSharedSumRoundedToPeople) {
  // Old 82 whole, a third of 87: 1.000.001 + 1/3 × 500.000 = 1.166.667,67 -> 1.166.668.
  const ReexpressedTarget r = ReexpressTarget(
      "82", "", v1::SCHEME_HEALTH, 2025,
      {Pred(
           "82", 1.0,
           MakeTarget("82", v1::TARGET_KIND_PARTICIPANTS, 1000001, "UBND tỉnh Tiền Giang", "QĐ 1")),
       Pred(
           "87", 1.0 / 3,
           MakeTarget("87", v1::TARGET_KIND_PARTICIPANTS, 500000, "UBND tỉnh Đồng Tháp", "QĐ 2"))});
  ASSERT_TRUE(r.target.has_value()) << r.note;
  EXPECT_EQ(r.target->value(), 1166668);
  EXPECT_EQ(r.target->unit_code(), "82");
  EXPECT_EQ(r.target->unit_as_of(), "");
  EXPECT_EQ(r.target->kind(), v1::TARGET_KIND_PARTICIPANTS);
  EXPECT_EQ(r.target->revision(), 0);
  EXPECT_EQ(r.target->assigned_by(), "UBND tỉnh Tiền Giang; UBND tỉnh Đồng Tháp");
  EXPECT_EQ(r.target->decision_ref(), "QĐ 1; QĐ 2");
}

TEST(ReexpressTargetTest, CoverageIsWeightedByTheYearsDenominators) {
  // (1 × 90 × 1.000 + 0,5 × 80 × 3.000) / (1 × 1.000 + 0,5 × 3.000) = 210.000 / 2.500 = 84.
  const ReexpressedTarget r = ReexpressTarget(
      "82", "", v1::SCHEME_HEALTH, 2025,
      {Pred("82", 1.0, MakeTarget("82", v1::TARGET_KIND_COVERAGE_PERCENT, 90, "A", ""), 1000, 7),
       Pred("87", 0.5, MakeTarget("87", v1::TARGET_KIND_COVERAGE_PERCENT, 80, "A", ""), 3000, 9)});
  ASSERT_TRUE(r.target.has_value()) << r.note;
  EXPECT_DOUBLE_EQ(r.target->value(), 84.0);
  EXPECT_EQ(r.target->assigned_by(), "A");  // the same authority once
}

TEST(ReexpressTargetTest, OneMissingDenominatorOfTheYearTakesTheYearBeforeForAll) {
  // Old 82's 2025 population belongs to the new 82: both weights are 2024's.
  const ReexpressedTarget r = ReexpressTarget(
      "82", "", v1::SCHEME_HEALTH, 2025,
      {Pred("82", 1.0, MakeTarget("82", v1::TARGET_KIND_COVERAGE_PERCENT, 90, "", ""), std::nullopt,
            3000),
       Pred("87", 1.0, MakeTarget("87", v1::TARGET_KIND_COVERAGE_PERCENT, 80, "", ""), 999999,
            1000)});
  ASSERT_TRUE(r.target.has_value()) << r.note;
  EXPECT_DOUBLE_EQ(r.target->value(), (90.0 * 3000 + 80.0 * 1000) / 4000);
}

TEST(ReexpressTargetTest, NoDenominatorInEitherYearIsNoTarget) {
  const ReexpressedTarget r = ReexpressTarget(
      "82", "", v1::SCHEME_HEALTH, 2025,
      {Pred("82", 1.0, MakeTarget("82", v1::TARGET_KIND_COVERAGE_PERCENT, 90, "", ""), std::nullopt,
            3000),
       Pred("87", 1.0, MakeTarget("87", v1::TARGET_KIND_COVERAGE_PERCENT, 80, "", ""), 1000,
            std::nullopt)});
  EXPECT_FALSE(r.target.has_value());
  EXPECT_NE(r.note.find("population is unknown for 2025 and 2024"), std::string::npos) << r.note;
}

TEST(ReexpressTargetTest, DifferentKindsOrBasesAreNoTarget) {
  v1::Target in_province = MakeTarget("87", v1::TARGET_KIND_PARTICIPANTS, 10, "", "");
  in_province.set_basis(v1::TARGET_BASIS_IN_PROVINCE);
  const ReexpressedTarget basis =
      ReexpressTarget("82", "", v1::SCHEME_HEALTH, 2025,
                      {Pred("82", 1.0, MakeTarget("82", v1::TARGET_KIND_PARTICIPANTS, 10, "", "")),
                       Pred("87", 1.0, in_province)});
  EXPECT_FALSE(basis.target.has_value());
  EXPECT_NE(basis.note.find("differ in kind or basis"), std::string::npos) << basis.note;
  const ReexpressedTarget kind = ReexpressTarget(
      "82", "", v1::SCHEME_HEALTH, 2025,
      {Pred("82", 1.0, MakeTarget("82", v1::TARGET_KIND_PARTICIPANTS, 10, "", "")),
       Pred("87", 1.0, MakeTarget("87", v1::TARGET_KIND_COVERAGE_PERCENT, 10, "", ""), 5, 5)});
  EXPECT_FALSE(kind.target.has_value());
}

TEST(ReexpressTargetTest, JoinedAuthoritiesStayWithinTheFieldsBound) {
  std::vector<PredecessorTarget> preds;
  for (int i = 0; i < 20; ++i) {
    preds.push_back(Pred(absl::StrCat(10000 + i), 0.05,
                         MakeTarget(absl::StrCat(10000 + i), v1::TARGET_KIND_PARTICIPANTS, 100,
                                    absl::StrCat("UBND xã số ", i, " thuộc huyện"), "")));
  }
  const ReexpressedTarget r = ReexpressTarget("10000", "", v1::SCHEME_HEALTH, 2025, preds);
  ASSERT_TRUE(r.target.has_value()) << r.note;
  EXPECT_LE(r.target->assigned_by().size(), 200u);
  EXPECT_NE(r.target->assigned_by().find("; …"), std::string::npos);
  EXPECT_EQ(r.target->value(), 100);
}

TEST(ShareForTest, HealthTakesPopulationOthersLabourForceElsePopulation) {
  v1::CrosswalkLink link;
  EXPECT_FALSE(ShareFor(link, v1::SCHEME_HEALTH).has_value());
  link.set_population_share(0.4);
  EXPECT_EQ(ShareFor(link, v1::SCHEME_HEALTH), 0.4);
  EXPECT_EQ(ShareFor(link, v1::SCHEME_COMPULSORY_SOCIAL), 0.4);
  link.set_labor_force_share(0.3);
  EXPECT_EQ(ShareFor(link, v1::SCHEME_HEALTH), 0.4);
  EXPECT_EQ(ShareFor(link, v1::SCHEME_SOCIAL), 0.3);
  EXPECT_EQ(ShareFor(link, v1::SCHEME_UNEMPLOYMENT), 0.3);
}

TEST(LastDayInYearTest, TheYearsEndOrTheDayBeforeTheEnd) {
  v1::AdminUnit old_82;
  old_82.set_code("82");
  old_82.set_valid_to("2025-07-01");
  EXPECT_EQ(LastDayInYear(old_82, 2025), "2025-06-30");
  EXPECT_EQ(LastDayInYear(old_82, 2024), "2024-12-31");
  EXPECT_EQ(LastDayInYear(old_82, 2026), "");
  v1::AdminUnit new_82;
  new_82.set_code("82");
  new_82.set_valid_from("2025-07-01");
  EXPECT_EQ(LastDayInYear(new_82, 2025), "2025-12-31");
  EXPECT_EQ(LastDayInYear(new_82, 2024), "");
  EXPECT_EQ(DayBefore("2024-03-01"), "2024-02-29");
}

// ---- Targets on measures (ReexpressMeasureTarget) ----

v1::Target OnMeasure(const std::string& code, v1::Measure measure, double value,
                     v1::Scheme scheme = v1::SCHEME_UNSPECIFIED) {
  v1::Target t;
  t.set_unit_code(code);
  t.set_year(2025);
  t.set_measure(measure);
  t.set_scheme(scheme);
  t.set_value(value);
  t.set_assigned_by(absl::StrCat("UBND ", code));
  return t;
}

TEST(ReexpressMeasureTargetTest, AnAmountIsTheSharedSumRoundedToAWholeNumber) {
  // Old 82 whole, 0.4 of 87: 5.000 + 0,4 × 3.001 = 6.200,4 -> 6.200.
  const ReexpressedTarget r = ReexpressMeasureTarget(
      "82", 2025,
      {Pred("82", 1.0, OnMeasure("82", v1::MEASURE_DISTINCT_PARTICIPANTS, 5000)),
       Pred("87", 0.4, OnMeasure("87", v1::MEASURE_DISTINCT_PARTICIPANTS, 3001))});
  ASSERT_TRUE(r.target.has_value()) << r.note;
  EXPECT_EQ(r.target->value(), 6200);
  EXPECT_EQ(r.target->measure(), v1::MEASURE_DISTINCT_PARTICIPANTS);
  EXPECT_EQ(r.target->unit_code(), "82");
  EXPECT_EQ(r.target->year(), 2025);
  EXPECT_EQ(r.target->kind(), v1::TARGET_KIND_UNSPECIFIED);
  EXPECT_EQ(r.target->assigned_by(), "UBND 82; UBND 87");
  // A flow of a scheme and a ceiling alike: the sum.
  const ReexpressedTarget lost = ReexpressMeasureTarget(
      "82", 2025,
      {Pred("82", 1.0, OnMeasure("82", v1::MEASURE_LOST_PARTICIPANTS, 100, v1::SCHEME_HEALTH)),
       Pred("87", 1.0, OnMeasure("87", v1::MEASURE_LOST_PARTICIPANTS, 50, v1::SCHEME_HEALTH))});
  ASSERT_TRUE(lost.target.has_value()) << lost.note;
  EXPECT_EQ(lost.target->value(), 150);
  EXPECT_EQ(lost.target->scheme(), v1::SCHEME_HEALTH);
}

TEST(ReexpressMeasureTargetTest, ARatioCeilingIsWeightedByWhatWasDue) {
  // 2,5 % over 1.000 due and 4 % over 3.000 × 0,5: (2,5 × 1.000 + 4 × 1.500) / 2.500 = 3,4.
  const ReexpressedTarget r = ReexpressMeasureTarget(
      "82", 2025,
      {Pred("82", 1.0, OnMeasure("82", v1::MEASURE_ARREARS_RATIO, 2.5), 1000),
       Pred("87", 0.5, OnMeasure("87", v1::MEASURE_ARREARS_RATIO, 4.0), 3000)});
  ASSERT_TRUE(r.target.has_value()) << r.note;
  EXPECT_DOUBLE_EQ(r.target->value(), 3.4);
  // Without what one was due, or with nothing due at all, no ceiling.
  EXPECT_FALSE(ReexpressMeasureTarget(
                   "82", 2025,
                   {Pred("82", 1.0, OnMeasure("82", v1::MEASURE_ARREARS_RATIO, 2.5), 1000),
                    Pred("87", 1.0, OnMeasure("87", v1::MEASURE_ARREARS_RATIO, 4.0))})
                   .target.has_value());
  const ReexpressedTarget none =
      ReexpressMeasureTarget("82", 2025,
                             {Pred("82", 1.0, OnMeasure("82", v1::MEASURE_ARREARS_RATIO, 2.5), 0),
                              Pred("87", 1.0, OnMeasure("87", v1::MEASURE_ARREARS_RATIO, 4.0), 0)});
  EXPECT_FALSE(none.target.has_value());
  EXPECT_NE(none.note.find("nothing was due"), std::string::npos) << none.note;
}

TEST(ReexpressMeasureTargetTest, DifferentKeysOrBadTargetsAreNoTarget) {
  EXPECT_FALSE(ReexpressMeasureTarget(
                   "82", 2025,
                   {Pred("82", 1.0, OnMeasure("82", v1::MEASURE_DISTINCT_PARTICIPANTS, 10)),
                    Pred("87", 1.0, OnMeasure("87", v1::MEASURE_EMPLOYERS_OWING, 10))})
                   .target.has_value());
  EXPECT_FALSE(
      ReexpressMeasureTarget("82", 2025,
                             {Pred("82", 1.0, OnMeasure("82", v1::MEASURE_ARREARS_RATIO, 101), 5)})
          .target.has_value());
  EXPECT_FALSE(ReexpressMeasureTarget(
                   "82", 2025, {Pred("82", 0, OnMeasure("82", v1::MEASURE_EMPLOYERS_OWING, 3))})
                   .target.has_value());
  EXPECT_FALSE(ReexpressMeasureTarget("82", 2025, {}).target.has_value());
}

TEST(ShareForTest, AMeasuresKindChoosesTheShare) {
  v1::CrosswalkLink link;
  link.set_population_share(0.6);
  link.set_labor_force_share(0.5);
  EXPECT_EQ(ShareFor(link, v1::DENOMINATOR_KIND_POPULATION), 0.6);
  EXPECT_EQ(ShareFor(link, v1::DENOMINATOR_KIND_LABOR_FORCE), 0.5);
  link.clear_labor_force_share();
  EXPECT_EQ(ShareFor(link, v1::DENOMINATOR_KIND_LABOR_FORCE), 0.6);
}

}  // namespace
}  // namespace covtrack::targets
