// Combining cached rollups into a figure in the reader's territory
// (services/aggregation/reexpression.h): sums with each kind's weight, rates from the sums,
// absent parts, the kind and estimated part of each scheme; and the measures' rollups
// (measure_rollup.h, CombineMeasureRollups): each measure by its weight's share, the arrears
// ratio from the combined sums. Plain data, no servers.
#include "services/aggregation/reexpression.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "common/domain.h"
#include "common/measures.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/aggregation/measure_rollup.h"
#include "tests/testing/builders.h"

namespace covtrack::aggregation {
namespace {

using testing::Unit;

struct Figure {
  std::optional<int64_t> participants;  // absent: nothing reported
  std::optional<int64_t> in_province;
  std::optional<int64_t> denominator;
  std::string as_of = "2024-12";
  int reporting = 1;
  int expected = 1;
  int missing_part = 0;
};

// A rollup with `health` for SCHEME_HEALTH and `other` for the four other schemes.
v1::Coverage Rollup(const std::string& code, const Figure& health, const Figure& other) {
  v1::Coverage c;
  *c.mutable_unit() = Unit(code, v1::ADMIN_LEVEL_PROVINCE, "");
  c.set_period("2024");
  for (v1::Scheme scheme : kAllSchemes) {
    const Figure& f = scheme == v1::SCHEME_HEALTH ? health : other;
    v1::SchemeCoverage* sc = c.add_schemes();
    sc->set_scheme(scheme);
    sc->set_denominator_kind(DenominatorFor(scheme));
    sc->set_reporting_units(f.reporting);
    sc->set_expected_units(f.expected);
    if (scheme == v1::SCHEME_SOCIAL) {
      sc->set_units_missing_part(f.missing_part);
    }
    if (f.participants.has_value() && (scheme != v1::SCHEME_SOCIAL || f.missing_part == 0)) {
      sc->set_participants(*f.participants);
      sc->set_as_of_month(f.as_of);
      if (f.in_province.has_value()) {
        sc->set_in_province_participants(*f.in_province);
      } else {
        sc->set_units_missing_in_province(1);
      }
    }
    if (f.denominator.has_value()) {
      sc->set_denominator(*f.denominator);
    } else {
      sc->set_units_missing_denominator(1);
    }
  }
  return c;
}

const v1::SchemeCoverage& Scheme(const v1::Coverage& c, v1::Scheme s) {
  for (const auto& sc : c.schemes()) {
    if (sc.scheme() == s) {
      return sc;
    }
  }
  ADD_FAILURE() << "no scheme " << s;
  static const v1::SchemeCoverage empty;
  return empty;
}

class CombineTest : public ::testing::Test {
 protected:
  const v1::AdminUnit new82_ = Unit("82", v1::ADMIN_LEVEL_PROVINCE, "", "2025-07-01", "");
  const v1::AdminUnit old82_ = Unit("82", v1::ADMIN_LEVEL_PROVINCE, "", "", "2025-07-01");
  const v1::AdminUnit old87_ = Unit("87", v1::ADMIN_LEVEL_PROVINCE, "", "", "2025-07-01");
  const Period year_ = *Period::Parse("2024");

  Reexpressed How(v1::ReexpressionKind kind, double pop82, double lf82, double pop87, double lf87) {
    Reexpressed r;
    r.kind = kind;
    r.terms = {{&old82_, pop82, lf82}, {&old87_, pop87, lf87}};
    return r;
  }
};

TEST_F(CombineTest, ExactIsTheSumWithRatesFromTheSums) {
  const v1::Coverage a = Rollup("82", {1000, 900, 2000, "2024-12", 3, 4}, {300, 250, 1000});
  const v1::Coverage b = Rollup("87", {500, 400, 1000, "2024-11", 2, 2}, {100, 50, 600});
  const auto c =
      CombineRollups(new82_, year_, How(v1::REEXPRESSION_KIND_EXACT, 1, 1, 1, 1), {&a, &b});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->unit().valid_from(), "2025-07-01");
  EXPECT_EQ(c->period(), "2024");
  EXPECT_EQ(c->as_of_month(), "2024-12");
  const auto& health = Scheme(*c, v1::SCHEME_HEALTH);
  EXPECT_EQ(health.participants(), 1500);
  EXPECT_EQ(health.in_province_participants(), 1300);
  EXPECT_EQ(health.denominator(), 3000);
  EXPECT_DOUBLE_EQ(health.coverage_percent(), 50.0);
  EXPECT_EQ(health.as_of_month(), "2024-12");  // the latest over the terms
  EXPECT_EQ(health.reporting_units(), 5);
  EXPECT_EQ(health.expected_units(), 6);
  EXPECT_EQ(health.reexpression().kind(), v1::REEXPRESSION_KIND_EXACT);
  EXPECT_EQ(health.reexpression().estimated_part(), 0);
  const auto& social = Scheme(*c, v1::SCHEME_SOCIAL);
  EXPECT_EQ(social.participants(), 400);
  EXPECT_EQ(social.denominator(), 1600);
  EXPECT_DOUBLE_EQ(social.coverage_percent(), 25.0);
  EXPECT_EQ(social.denominator_kind(), v1::DENOMINATOR_KIND_LABOR_FORCE);
}

TEST_F(CombineTest, EstimatedUsesEachKindsWeightAndRoundsToWholePeople) {
  const v1::Coverage a = Rollup("82", {1001, 901, 2001}, {301, 251, 1001});
  const v1::Coverage b = Rollup("87", {500, 400, 1000}, {100, 50, 600});
  // 82 went 0.6 of its population, 0.5 of its labour force; 87 whole.
  const auto c =
      CombineRollups(new82_, year_, How(v1::REEXPRESSION_KIND_ESTIMATED, 0.6, 0.5, 1, 1), {&a, &b});
  ASSERT_TRUE(c.ok()) << c.status();
  const auto& health = Scheme(*c, v1::SCHEME_HEALTH);
  EXPECT_EQ(health.participants(), 1101);             // 600.6 + 500
  EXPECT_EQ(health.in_province_participants(), 941);  // 540.6 + 400
  EXPECT_EQ(health.denominator(), 2201);              // 1200.6 + 1000
  EXPECT_DOUBLE_EQ(health.coverage_percent(), 100.0 * 1101 / 2201);
  EXPECT_EQ(health.reexpression().kind(), v1::REEXPRESSION_KIND_ESTIMATED);
  EXPECT_NEAR(health.reexpression().estimated_part(), 600.6 / 1100.6, 1e-12);
  const auto& compulsory = Scheme(*c, v1::SCHEME_COMPULSORY_SOCIAL);
  EXPECT_EQ(compulsory.participants(), 251);  // 150.5 + 100, rounded half away from zero
  EXPECT_EQ(compulsory.denominator(), 1101);  // 500.5 + 600
  EXPECT_NEAR(compulsory.reexpression().estimated_part(), 150.5 / 250.5, 1e-12);
}

TEST_F(CombineTest, OnlyTheSchemesWhoseKindHasAShareBelowOneAreEstimated) {
  const v1::Coverage a = Rollup("82", {1000, 900, 2000}, {300, 250, 1000});
  const v1::Coverage b = Rollup("87", {500, 400, 1000}, {100, 50, 600});
  // Only the labour-force share of 87 is below 1.
  const auto c =
      CombineRollups(new82_, year_, How(v1::REEXPRESSION_KIND_ESTIMATED, 1, 1, 1, 0.5), {&a, &b});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(Scheme(*c, v1::SCHEME_HEALTH).reexpression().kind(), v1::REEXPRESSION_KIND_EXACT);
  EXPECT_EQ(Scheme(*c, v1::SCHEME_UNEMPLOYMENT).reexpression().kind(),
            v1::REEXPRESSION_KIND_ESTIMATED);
  EXPECT_EQ(Scheme(*c, v1::SCHEME_UNEMPLOYMENT).participants(), 350);
}

TEST_F(CombineTest, AMissingSplitOrDenominatorInAnyTermIsAbsentWithCountsSummed) {
  const v1::Coverage a = Rollup("82", {1000, std::nullopt, std::nullopt}, {300, 250, 1000});
  const v1::Coverage b = Rollup("87", {500, 400, 1000}, {100, 50, std::nullopt});
  const auto c =
      CombineRollups(new82_, year_, How(v1::REEXPRESSION_KIND_EXACT, 1, 1, 1, 1), {&a, &b});
  ASSERT_TRUE(c.ok());
  const auto& health = Scheme(*c, v1::SCHEME_HEALTH);
  EXPECT_EQ(health.participants(), 1500);
  EXPECT_FALSE(health.has_in_province_participants());
  EXPECT_EQ(health.units_missing_in_province(), 1);
  EXPECT_FALSE(health.has_denominator());
  EXPECT_FALSE(health.has_coverage_percent());
  EXPECT_EQ(health.units_missing_denominator(), 1);
  const auto& voluntary = Scheme(*c, v1::SCHEME_VOLUNTARY_SOCIAL);
  EXPECT_EQ(voluntary.in_province_participants(), 300);
  EXPECT_FALSE(voluntary.has_denominator());
}

TEST_F(CombineTest, ATermThatReportedNothingAddsNothing) {
  const v1::Coverage a = Rollup("82", {1000, 900, 2000}, {300, 250, 1000});
  const v1::Coverage b = Rollup("87", {std::nullopt, std::nullopt, 1000, "", 0, 2},
                                {std::nullopt, std::nullopt, 600, "", 0, 2});
  const auto c =
      CombineRollups(new82_, year_, How(v1::REEXPRESSION_KIND_EXACT, 1, 1, 1, 1), {&a, &b});
  ASSERT_TRUE(c.ok());
  const auto& health = Scheme(*c, v1::SCHEME_HEALTH);
  EXPECT_EQ(health.participants(), 1000);
  EXPECT_EQ(health.in_province_participants(), 900);
  EXPECT_EQ(health.denominator(), 3000);
  EXPECT_EQ(health.reporting_units(), 1);
  EXPECT_EQ(health.expected_units(), 3);
}

TEST_F(CombineTest, SocialIsAbsentWhenAnyTermLacksAPart) {
  Figure missing{300, 250, 1000};
  missing.missing_part = 2;
  const v1::Coverage a = Rollup("82", {1000, 900, 2000}, missing);
  const v1::Coverage b = Rollup("87", {500, 400, 1000}, {100, 50, 600});
  const auto c =
      CombineRollups(new82_, year_, How(v1::REEXPRESSION_KIND_EXACT, 1, 1, 1, 1), {&a, &b});
  ASSERT_TRUE(c.ok());
  const auto& social = Scheme(*c, v1::SCHEME_SOCIAL);
  EXPECT_FALSE(social.has_participants());
  EXPECT_TRUE(social.as_of_month().empty());
  EXPECT_FALSE(social.has_coverage_percent());
  EXPECT_EQ(social.units_missing_part(), 2);
  EXPECT_EQ(social.denominator(), 1600);  // the denominator does not depend on the parts
  EXPECT_EQ(Scheme(*c, v1::SCHEME_COMPULSORY_SOCIAL).participants(), 400);
}

TEST_F(CombineTest, AbsentHasNoFiguresAndTheReasonOnEveryScheme) {
  Reexpressed absent;
  absent.kind = v1::REEXPRESSION_KIND_ABSENT;
  absent.reason = "the share of 28249 in 28261 from 2025-07-01 is unknown";
  const auto c = CombineRollups(new82_, year_, absent, {});
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->schemes_size(), 5);
  EXPECT_TRUE(c->as_of_month().empty());
  for (const auto& sc : c->schemes()) {
    EXPECT_FALSE(sc.has_participants());
    EXPECT_FALSE(sc.has_denominator());
    EXPECT_EQ(sc.reexpression().kind(), v1::REEXPRESSION_KIND_ABSENT);
    EXPECT_EQ(sc.reexpression().reason(), absent.reason);
  }
}

TEST_F(CombineTest, SameUnitIsTheRollupItself) {
  const v1::Coverage a = Rollup("82", {1000, 900, 2000}, {300, 250, 1000});
  Reexpressed same;
  same.kind = v1::REEXPRESSION_KIND_SAME_UNIT;
  same.terms = {{&old82_, 1, 1}};
  const auto c = CombineRollups(old82_, year_, same, {&a});
  ASSERT_TRUE(c.ok());
  v1::Coverage expected = a;
  for (auto& sc : *expected.mutable_schemes()) {
    sc.mutable_reexpression()->set_kind(v1::REEXPRESSION_KIND_SAME_UNIT);
  }
  EXPECT_EQ(c->SerializeAsString(), expected.SerializeAsString());
}

TEST_F(CombineTest, ExactSumsAreCheckedForOverflow) {
  const int64_t big = std::numeric_limits<int64_t>::max() - 10;
  const v1::Coverage a = Rollup("82", {big, big, big}, {1, 1, 1});
  const v1::Coverage b = Rollup("87", {big, big, big}, {1, 1, 1});
  const auto c =
      CombineRollups(new82_, year_, How(v1::REEXPRESSION_KIND_EXACT, 1, 1, 1, 1), {&a, &b});
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(c.status().message()), ::testing::HasSubstr("overflows"));
  // Estimated sums too: a double beyond whole people is refused, not cast.
  const auto e =
      CombineRollups(new82_, year_, How(v1::REEXPRESSION_KIND_ESTIMATED, 0.5, 1, 1, 1), {&a, &b});
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInternal);
}

TEST_F(CombineTest, AMissingRollupIsAnInternalError) {
  const v1::Coverage a = Rollup("82", {1000, 900, 2000}, {300, 250, 1000});
  const auto c =
      CombineRollups(new82_, year_, How(v1::REEXPRESSION_KIND_EXACT, 1, 1, 1, 1), {&a, nullptr});
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInternal);
}

TEST(PredecessorsTest, TermsWithTheirComposedShares) {
  const v1::AdminUnit a = Unit("28249", v1::ADMIN_LEVEL_COMMUNE, "82", "", "2025-07-01");
  const v1::AdminUnit b = Unit("28250", v1::ADMIN_LEVEL_COMMUNE, "82", "", "2025-07-01");
  Reexpressed r;
  r.kind = v1::REEXPRESSION_KIND_ESTIMATED;
  r.terms = {{&a, 0.6, 0.5}, {&b, 1, 1}};
  const std::vector<v1::Predecessor> p = Predecessors(r);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].unit().code(), "28249");
  EXPECT_DOUBLE_EQ(p[0].population_share(), 0.6);
  EXPECT_DOUBLE_EQ(p[0].labor_force_share(), 0.5);
  EXPECT_EQ(p[1].unit().code(), "28250");
  EXPECT_DOUBLE_EQ(p[1].population_share(), 1);
}

// ---- Measures (measure_rollup.h, CombineMeasureRollups) ----

int Key(v1::Measure m, v1::Scheme s = v1::SCHEME_UNSPECIFIED,
        v1::PayerGroup g = v1::PAYER_GROUP_UNSPECIFIED) {
  const int k = MeasureKeyIndex(m, s, g);
  EXPECT_GE(k, 0) << m << " " << s << " " << g;
  return k;
}

// Figures of one predecessor: a value at `as_of` (a Month::Index) per key given.
struct Given {
  int key;
  int64_t value;
  int as_of;
  int months = 0;
  int reporting = 1;
};
std::vector<MeasureFigure> Figures(const std::vector<Given>& given, int expected = 1) {
  std::vector<MeasureFigure> figures(MeasureKeys().size());
  for (MeasureFigure& f : figures) {
    f.expected_units = expected;
  }
  for (const Given& g : given) {
    MeasureFigure& f = figures[g.key];
    f.value = g.value;
    f.as_of = g.as_of;
    f.months_reported = g.months;
    f.reporting_units = g.reporting;
  }
  return figures;
}

constexpr int kDec2024 = 2024 * 12 + 11;
constexpr int kNov2024 = 2024 * 12 + 10;

class CombineMeasuresTest : public CombineTest {
 protected:
  const int distinct_ = Key(v1::MEASURE_DISTINCT_PARTICIPANTS);
  const int owed_ = Key(v1::MEASURE_ARREARS_OWED_VND);
  const int due_ = Key(v1::MEASURE_CONTRIBUTIONS_DUE_VND);
  const int ratio_ = Key(v1::MEASURE_ARREARS_RATIO);
  const int household_ =
      Key(v1::MEASURE_HEALTH_BY_PAYER, v1::SCHEME_HEALTH, v1::PAYER_GROUP_HOUSEHOLD);
  const int new_compulsory_ = Key(v1::MEASURE_NEW_PARTICIPANTS, v1::SCHEME_COMPULSORY_SOCIAL);
};

TEST_F(CombineMeasuresTest, ExactIsTheSumAndTheRatioComesFromTheSums) {
  // 82: 30 owed of 1,000 due (3 %); 87: 10 of 100 (10 %). The mix of ratios would be 6.5 %.
  const auto a = Figures({{distinct_, 1000, kDec2024, 0, 3},
                          {owed_, 30, kDec2024, 0, 3},
                          {due_, 1000, kDec2024, 12, 3}},
                         4);
  const auto b = Figures(
      {{distinct_, 500, kNov2024, 0, 2}, {owed_, 10, kNov2024, 0, 2}, {due_, 100, kNov2024, 11, 2}},
      2);
  const auto c = CombineMeasureRollups(How(v1::REEXPRESSION_KIND_EXACT, 1, 1, 1, 1), {&a, &b}, {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->figures[distinct_].value, 1500);
  EXPECT_EQ(c->figures[distinct_].as_of, kDec2024);  // the latest over the terms
  EXPECT_EQ(c->figures[distinct_].reporting_units, 5);
  EXPECT_EQ(c->figures[distinct_].expected_units, 6);
  EXPECT_EQ(c->figures[due_].value, 1100);
  EXPECT_EQ(c->figures[due_].months_reported, 12);
  ASSERT_TRUE(c->figures[ratio_].percent.has_value());
  EXPECT_DOUBLE_EQ(*c->figures[ratio_].percent, 100.0 * 40 / 1100);
  EXPECT_EQ(c->figures[ratio_].months_reported, 12);
  EXPECT_EQ(c->reexpression[distinct_].kind(), v1::REEXPRESSION_KIND_EXACT);
  EXPECT_EQ(c->reexpression[ratio_].kind(), v1::REEXPRESSION_KIND_EXACT);
  // Nothing reported anywhere: absent, never 0.
  EXPECT_LT(c->figures[household_].as_of, 0);
}

TEST_F(CombineMeasuresTest, EachMeasureTakesTheShareOfItsWeight) {
  // 82 went 0.6 of its population and 0.5 of its labour force; 87 whole.
  const auto a = Figures({{distinct_, 1000, kDec2024},
                          {household_, 200, kDec2024},
                          {new_compulsory_, 100, kDec2024, 12},
                          {owed_, 40, kDec2024},
                          {due_, 1000, kDec2024, 12}});
  const auto b = Figures({{distinct_, 500, kDec2024},
                          {household_, 100, kDec2024},
                          {new_compulsory_, 10, kDec2024, 12},
                          {owed_, 10, kDec2024},
                          {due_, 500, kDec2024, 12}});
  const auto c =
      CombineMeasureRollups(How(v1::REEXPRESSION_KIND_ESTIMATED, 0.6, 0.5, 1, 1), {&a, &b}, {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->figures[distinct_].value, 1100);        // population: 600 + 500
  EXPECT_EQ(c->figures[household_].value, 220);        // health: population, 120 + 100
  EXPECT_EQ(c->figures[new_compulsory_].value, 60);    // labour force: 50 + 10
  EXPECT_EQ(c->figures[owed_].value, 30);              // labour force: 20 + 10
  EXPECT_EQ(c->figures[due_].value, 1000);             // labour force: 500 + 500
  EXPECT_DOUBLE_EQ(*c->figures[ratio_].percent, 3.0);  // 30 / 1,000
  EXPECT_EQ(c->reexpression[distinct_].kind(), v1::REEXPRESSION_KIND_ESTIMATED);
  EXPECT_NEAR(c->reexpression[distinct_].estimated_part(), 600.0 / 1100, 1e-12);
  EXPECT_NEAR(c->reexpression[owed_].estimated_part(), 20.0 / 30, 1e-12);
  EXPECT_NEAR(c->reexpression[ratio_].estimated_part(), 20.0 / 30, 1e-12);  // as its owed
}

TEST_F(CombineMeasuresTest, ARatioAskedAloneIsMadeFromItsPartsWhichAreLeftOut) {
  std::vector<bool> wanted(MeasureKeys().size(), false);
  wanted[ratio_] = true;
  const std::vector<bool> parts = WithRatioParts(wanted);
  EXPECT_TRUE(parts[owed_]);
  EXPECT_TRUE(parts[due_]);
  EXPECT_FALSE(parts[distinct_]);
  const auto a =
      Figures({{distinct_, 1000, kDec2024}, {owed_, 30, kDec2024}, {due_, 600, kDec2024, 12}});
  const auto b = Figures({{owed_, 10, kDec2024}, {due_, 200, kDec2024, 12}});
  const auto c =
      CombineMeasureRollups(How(v1::REEXPRESSION_KIND_EXACT, 1, 1, 1, 1), {&a, &b}, wanted);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_DOUBLE_EQ(*c->figures[ratio_].percent, 5.0);  // 40 / 800
  EXPECT_LT(c->figures[owed_].as_of, 0);
  EXPECT_LT(c->figures[due_].as_of, 0);
  EXPECT_LT(c->figures[distinct_].as_of, 0);
}

TEST_F(CombineMeasuresTest, AbsentHasNoFiguresAndTheReasonOnEveryKey) {
  Reexpressed how;
  how.kind = v1::REEXPRESSION_KIND_ABSENT;
  how.reason = "the share of 87 in 82 from 2025-07-01 is unknown";
  const auto c = CombineMeasureRollups(how, {}, {});
  ASSERT_TRUE(c.ok()) << c.status();
  for (size_t k = 0; k < MeasureKeys().size(); ++k) {
    EXPECT_LT(c->figures[k].as_of, 0);
    EXPECT_EQ(c->reexpression[k].kind(), v1::REEXPRESSION_KIND_ABSENT);
    EXPECT_EQ(c->reexpression[k].reason(), how.reason);
  }
}

TEST_F(CombineMeasuresTest, SameUnitIsTheRollupItself) {
  Reexpressed how;
  how.kind = v1::REEXPRESSION_KIND_SAME_UNIT;
  how.terms = {{&old82_, 1, 1}};
  const auto a = Figures({{distinct_, 1000, kDec2024, 0, 7}}, 9);
  const auto c = CombineMeasureRollups(how, {&a}, {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->figures[distinct_].value, 1000);
  EXPECT_EQ(c->figures[distinct_].reporting_units, 7);
  EXPECT_EQ(c->figures[distinct_].expected_units, 9);
  EXPECT_EQ(c->reexpression[distinct_].kind(), v1::REEXPRESSION_KIND_SAME_UNIT);
}

TEST_F(CombineMeasuresTest, SumsAreCheckedAndTermsMustMatch) {
  const int64_t max = std::numeric_limits<int64_t>::max();
  const auto a = Figures({{owed_, max, kDec2024}});
  const auto b = Figures({{owed_, 1, kDec2024}});
  const auto c = CombineMeasureRollups(How(v1::REEXPRESSION_KIND_EXACT, 1, 1, 1, 1), {&a, &b}, {});
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInternal);
  const auto estimated =
      CombineMeasureRollups(How(v1::REEXPRESSION_KIND_ESTIMATED, 1, 0.5, 1, 1), {&a, &b}, {});
  EXPECT_EQ(estimated.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(
      CombineMeasureRollups(How(v1::REEXPRESSION_KIND_EXACT, 1, 1, 1, 1), {&a}, {}).status().code(),
      absl::StatusCode::kInternal);
}

TEST(ReexpressionShareTest, PeopleByPopulationEmploymentByLabourForce) {
  auto share = [](v1::Measure m, v1::Scheme s) { return ReexpressionShare(*FindMeasure(m), s); };
  EXPECT_EQ(share(v1::MEASURE_DISTINCT_PARTICIPANTS, v1::SCHEME_UNSPECIFIED),
            v1::DENOMINATOR_KIND_POPULATION);
  EXPECT_EQ(share(v1::MEASURE_HEALTH_BY_PAYER, v1::SCHEME_HEALTH), v1::DENOMINATOR_KIND_POPULATION);
  EXPECT_EQ(share(v1::MEASURE_NEW_PARTICIPANTS, v1::SCHEME_HEALTH),
            v1::DENOMINATOR_KIND_POPULATION);
  EXPECT_EQ(share(v1::MEASURE_LOST_PARTICIPANTS, v1::SCHEME_UNEMPLOYMENT),
            v1::DENOMINATOR_KIND_LABOR_FORCE);
  EXPECT_EQ(share(v1::MEASURE_NEW_PARTICIPANTS, v1::SCHEME_VOLUNTARY_SOCIAL),
            v1::DENOMINATOR_KIND_LABOR_FORCE);
  for (v1::Measure m : {v1::MEASURE_ARREARS_OWED_VND, v1::MEASURE_ARREARS_OVERDUE_3M_VND,
                        v1::MEASURE_EMPLOYERS_OWING, v1::MEASURE_CONTRIBUTIONS_DUE_VND}) {
    EXPECT_EQ(share(m, v1::SCHEME_UNSPECIFIED), v1::DENOMINATOR_KIND_LABOR_FORCE) << m;
  }
}

}  // namespace
}  // namespace covtrack::aggregation
