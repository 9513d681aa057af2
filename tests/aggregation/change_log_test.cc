// The change log a replica keeps of ingestion's change feed: which cached rollups a change can
// have made stale, and what it can no longer prove once it forgets old changes. Plain data.
#include "services/aggregation/change_log.h"

#include <string>
#include <vector>

#include "common/hierarchy/hierarchy.h"
#include "gtest/gtest.h"
#include "tests/testing/builders.h"

namespace covtrack::aggregation {
namespace {

using testing::Unit;

// Province 10 > districts 101, 102 > communes 10101, 10102 (in 101), 10201 (in 102).
std::vector<v1::AdminUnit> SmallTree() {
  return {
      Unit("10", v1::ADMIN_LEVEL_PROVINCE, ""),      Unit("101", v1::ADMIN_LEVEL_DISTRICT, "10"),
      Unit("102", v1::ADMIN_LEVEL_DISTRICT, "10"),   Unit("10101", v1::ADMIN_LEVEL_COMMUNE, "101"),
      Unit("10102", v1::ADMIN_LEVEL_COMMUNE, "101"), Unit("10201", v1::ADMIN_LEVEL_COMMUNE, "102")};
}

Period P(const std::string& text) { return *Period::Parse(text); }

v1::Change ParticipationChange(int64_t seq, const std::string& unit, const std::string& month) {
  v1::Change change;
  change.set_seq(seq);
  auto* p = change.add_participation();
  p->set_unit_code(unit);
  p->set_month(month);
  return change;
}

TEST(ChangeLogTest, EntryIsStaleOnlyWhenAChangeTouchedWhatItDependsOn) {
  Hierarchy h(SmallTree());
  ChangeLog log(1000);
  EXPECT_TRUE(log.Touched(5, h, "101", P("2023")));  // not initialised: nothing is provable
  log.Reset(10);
  EXPECT_TRUE(log.Touched(9, h, "101", P("2023")));  // older than the log
  EXPECT_FALSE(log.Touched(10, h, "101", P("2023")));
  v1::Change change;
  change.set_seq(11);
  auto* p = change.add_participation();
  p->set_unit_code("10201");
  p->set_month("2023-12");
  ASSERT_TRUE(log.Append(change));
  EXPECT_FALSE(log.Touched(10, h, "101", P("2023")));    // another district
  EXPECT_TRUE(log.Touched(10, h, "102", P("2023")));     // its commune
  EXPECT_TRUE(log.Touched(10, h, "10", P("2023")));      // the province above
  EXPECT_FALSE(log.Touched(10, h, "10", P("2023-H1")));  // another month
  EXPECT_FALSE(log.Touched(11, h, "10", P("2023")));     // computed after the change
  v1::Change denominators;
  denominators.set_seq(12);
  auto* d = denominators.add_denominators();
  d->set_unit_code("10101");
  d->set_year(2023);
  ASSERT_TRUE(log.Append(denominators));
  EXPECT_TRUE(log.Touched(11, h, "101", P("2023-Q1")));
  EXPECT_FALSE(log.Touched(11, h, "101", P("2024-Q1")));
  v1::Change units;
  units.set_seq(13);
  units.add_admin_unit_codes("99999");
  ASSERT_TRUE(log.Append(units));
  EXPECT_TRUE(log.Touched(12, h, "101", P("2022")));  // a hierarchy change touches everything
  EXPECT_TRUE(log.AdminChangedBetween(12, 13));
  EXPECT_FALSE(log.AdminChangedBetween(10, 12));
  EXPECT_FALSE(log.Append(units));  // not after seen()
}

TEST(ChangeLogTest, ForgettingOldChangesMakesOlderEntriesStale) {
  Hierarchy h(SmallTree());
  ChangeLog log(3);
  log.Reset(0);
  for (int seq = 1; seq <= 5; ++seq) {
    v1::Change change;
    change.set_seq(seq);
    auto* p = change.add_participation();
    p->set_unit_code("10201");
    p->set_month("2020-01");
    log.Append(change);
  }
  EXPECT_GT(log.covered_from(), 0);
  EXPECT_TRUE(log.Touched(0, h, "101", P("2023")));  // can no longer be proven untouched
  EXPECT_FALSE(log.Touched(log.covered_from(), h, "101", P("2023")));
}

TEST(ChangeLogTest, AppendBeforeResetIsRefused) {
  ChangeLog log(1000);
  EXPECT_FALSE(log.initialized());
  EXPECT_FALSE(log.Append(ParticipationChange(1, "10201", "2023-12")));
  EXPECT_EQ(log.seen(), 0);
  log.Reset(0);
  EXPECT_TRUE(log.initialized());
  EXPECT_TRUE(log.Append(ParticipationChange(1, "10201", "2023-12")));
  EXPECT_EQ(log.seen(), 1);
}

TEST(ChangeLogTest, AdvanceToMovesSeenForwardOnly) {
  Hierarchy h(SmallTree());
  ChangeLog log(1000);
  log.AdvanceTo(7);  // not initialised: ignored
  EXPECT_EQ(log.seen(), 0);
  log.Reset(5);
  log.AdvanceTo(9);  // a page of the feed that ended at 9 with no change for us
  EXPECT_EQ(log.seen(), 9);
  log.AdvanceTo(8);
  EXPECT_EQ(log.seen(), 9);
  // A change at or below seen() was already accounted for.
  EXPECT_FALSE(log.Append(ParticipationChange(9, "10201", "2023-12")));
  EXPECT_TRUE(log.Append(ParticipationChange(10, "10201", "2023-12")));
  // An entry computed at 9 is stale for the district the change touched, not for the other.
  EXPECT_TRUE(log.Touched(9, h, "102", P("2023")));
  EXPECT_FALSE(log.Touched(9, h, "101", P("2023")));
}

TEST(ChangeLogTest, AMalformedMonthTouchesEverything) {
  Hierarchy h(SmallTree());
  ChangeLog log(1000);
  log.Reset(0);
  ASSERT_TRUE(log.Append(ParticipationChange(1, "10201", "2023-13")));
  // Its period cannot be known, so no entry computed before it can be proven untouched.
  EXPECT_TRUE(log.Touched(0, h, "101", P("2020")));
  EXPECT_TRUE(log.AdminChangedBetween(0, 1));
  EXPECT_FALSE(log.Touched(1, h, "101", P("2020")));
}

TEST(ChangeLogTest, ResetForgetsEveryChange) {
  Hierarchy h(SmallTree());
  ChangeLog log(1000);
  log.Reset(0);
  ASSERT_TRUE(log.Append(ParticipationChange(1, "10201", "2023-12")));
  log.Reset(20);
  EXPECT_EQ(log.covered_from(), 20);
  EXPECT_EQ(log.seen(), 20);
  EXPECT_TRUE(log.Touched(19, h, "101", P("2023")));  // older than what the log covers
  EXPECT_FALSE(log.Touched(20, h, "102", P("2023")));
}

TEST(ChangeLogTest, AdminChangesBeforeTheLogCannotBeRuledOut) {
  ChangeLog log(2);
  log.Reset(0);
  for (int seq = 1; seq <= 4; ++seq) {
    ASSERT_TRUE(log.Append(ParticipationChange(seq, "10201", "2023-12")));
  }
  ASSERT_GT(log.covered_from(), 0);
  EXPECT_TRUE(log.AdminChangedBetween(0, 4));  // cannot tell
  EXPECT_FALSE(log.AdminChangedBetween(log.covered_from(), 4));
  EXPECT_FALSE(log.AdminChangedBetween(4, 4));
}

}  // namespace
}  // namespace covtrack::aggregation
