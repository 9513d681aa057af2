// The change log a replica keeps of ingestion's change feed: which cached rollups a change can
// have made stale, and what it can no longer prove once it forgets old changes. Plain data.
#include "services/aggregation/change_log.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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

// The fingerprint of the change a log is reset at (as read from the feed).
constexpr uint64_t kAnchor = 0x5eed;

// Whether an entry tagged with this log's own history at `seq` is stale (the history checks
// have their own test below).
bool Touched(const ChangeLog& log, int64_t seq, const Hierarchy& h, absl::string_view code,
             const Period& period) {
  return log.Touched(seq, log.FingerprintAt(seq).value_or(0), h, code, period);
}

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
  EXPECT_TRUE(Touched(log, 5, h, "101", P("2023")));  // not initialised: nothing is provable
  log.Reset(10, kAnchor);
  EXPECT_TRUE(Touched(log, 9, h, "101", P("2023")));  // older than the log
  EXPECT_FALSE(Touched(log, 10, h, "101", P("2023")));
  v1::Change change;
  change.set_seq(11);
  auto* p = change.add_participation();
  p->set_unit_code("10201");
  p->set_month("2023-12");
  ASSERT_TRUE(log.Append(change));
  EXPECT_FALSE(Touched(log, 10, h, "101", P("2023")));    // another district
  EXPECT_TRUE(Touched(log, 10, h, "102", P("2023")));     // its commune
  EXPECT_TRUE(Touched(log, 10, h, "10", P("2023")));      // the province above
  EXPECT_FALSE(Touched(log, 10, h, "10", P("2023-H1")));  // another month
  EXPECT_FALSE(Touched(log, 11, h, "10", P("2023")));     // computed after the change
  v1::Change denominators;
  denominators.set_seq(12);
  auto* d = denominators.add_denominators();
  d->set_unit_code("10101");
  d->set_year(2023);
  ASSERT_TRUE(log.Append(denominators));
  EXPECT_TRUE(Touched(log, 11, h, "101", P("2023-Q1")));
  EXPECT_FALSE(Touched(log, 11, h, "101", P("2024-Q1")));
  v1::Change units;
  units.set_seq(13);
  units.add_admin_unit_codes("99999");
  ASSERT_TRUE(log.Append(units));
  EXPECT_TRUE(Touched(log, 12, h, "101", P("2022")));  // a hierarchy change touches everything
  EXPECT_FALSE(log.Append(units));                     // not after seen()
}

TEST(ChangeLogTest, ForgettingOldChangesMakesOlderEntriesStale) {
  Hierarchy h(SmallTree());
  ChangeLog log(3);
  log.Reset(0, kAnchor);
  for (int seq = 1; seq <= 5; ++seq) {
    v1::Change change;
    change.set_seq(seq);
    auto* p = change.add_participation();
    p->set_unit_code("10201");
    p->set_month("2020-01");
    log.Append(change);
  }
  EXPECT_GT(log.covered_from(), 0);
  EXPECT_TRUE(Touched(log, 0, h, "101", P("2023")));  // can no longer be proven untouched
  EXPECT_FALSE(Touched(log, log.covered_from(), h, "101", P("2023")));
}

TEST(ChangeLogTest, AppendBeforeResetIsRefused) {
  ChangeLog log(1000);
  EXPECT_FALSE(log.initialized());
  EXPECT_FALSE(log.Append(ParticipationChange(1, "10201", "2023-12")));
  EXPECT_EQ(log.seen(), 0);
  log.Reset(0, kAnchor);
  EXPECT_TRUE(log.initialized());
  EXPECT_TRUE(log.Append(ParticipationChange(1, "10201", "2023-12")));
  EXPECT_EQ(log.seen(), 1);
}

TEST(ChangeLogTest, AMalformedMonthTouchesEverything) {
  Hierarchy h(SmallTree());
  ChangeLog log(1000);
  log.Reset(0, kAnchor);
  ASSERT_TRUE(log.Append(ParticipationChange(1, "10201", "2023-13")));
  // Its period cannot be known, so no entry computed before it can be proven untouched.
  EXPECT_TRUE(Touched(log, 0, h, "101", P("2020")));
  EXPECT_FALSE(Touched(log, 1, h, "101", P("2020")));
}

TEST(ChangeLogTest, ResetForgetsEveryChange) {
  Hierarchy h(SmallTree());
  ChangeLog log(1000);
  log.Reset(0, kAnchor);
  ASSERT_TRUE(log.Append(ParticipationChange(1, "10201", "2023-12")));
  log.Reset(20, kAnchor);
  EXPECT_EQ(log.covered_from(), 20);
  EXPECT_EQ(log.seen(), 20);
  EXPECT_TRUE(Touched(log, 19, h, "101", P("2023")));  // older than what the log covers
  EXPECT_FALSE(Touched(log, 20, h, "102", P("2023")));
}

// Issue 13's probe: after ingestion's store was restored from a backup, its new changes reuse
// the seqs of changes the backup never had, and entries computed before the restore were served.
// An entry carries the fingerprint of the history it was computed on; one from another history,
// one from beyond what this log has seen (a forged seq), or one from an unknown history, is stale.
TEST(ChangeLogTest, EntriesFromAnotherHistoryOfTheFeedAreStale) {
  Hierarchy h(SmallTree());
  auto change = [](int64_t seq, const std::string& request_id, int64_t second) {
    v1::Change c = ParticipationChange(seq, "10201", "2020-01");  // touches nothing asked below
    c.set_request_id(request_id);
    c.mutable_commit_time()->set_seconds(second);
    return c;
  };
  ChangeLog before(1000);
  before.Reset(0, kAnchor);
  for (int64_t seq = 1; seq <= 8; ++seq) {
    ASSERT_TRUE(before.Append(change(seq, absl::StrCat("r", seq), 1000 + seq)));
  }
  const uint64_t old_at_3 = *before.FingerprintAt(3);
  const uint64_t old_at_8 = *before.FingerprintAt(8);
  EXPECT_FALSE(before.Touched(8, old_at_8, h, "101", P("2023")));
  EXPECT_TRUE(before.Touched(8, old_at_3, h, "101", P("2023")));  // another point of it
  EXPECT_TRUE(before.Touched(9, old_at_8, h, "101", P("2023")));  // beyond seen(): forged
  EXPECT_TRUE(before.Touched(1LL << 60, old_at_8, h, "101", P("2023")));

  // Restored to the backup taken at 4, then new writes 5..10 under the same numbers.
  ChangeLog after(1000);
  after.Reset(0, kAnchor);
  for (int64_t seq = 1; seq <= 4; ++seq) {
    ASSERT_TRUE(after.Append(change(seq, absl::StrCat("r", seq), 1000 + seq)));
  }
  for (int64_t seq = 5; seq <= 10; ++seq) {
    ASSERT_TRUE(after.Append(change(seq, absl::StrCat("new", seq), 2000 + seq)));
  }
  EXPECT_TRUE(after.Touched(8, old_at_8, h, "101", P("2023")));   // computed on the lost history
  EXPECT_FALSE(after.Touched(3, old_at_3, h, "101", P("2023")));  // before the backup: shared
  EXPECT_EQ(after.FingerprintAt(3), old_at_3);
  after.Reset(12, std::nullopt);  // the change at the reset point could not be read
  EXPECT_TRUE(after.Touched(12, 0, h, "101", P("2023")));
  EXPECT_EQ(ChangeLog::Fingerprint(change(5, "r5", 1005)),
            ChangeLog::Fingerprint(change(5, "r5", 1005)));
  EXPECT_NE(ChangeLog::Fingerprint(change(5, "r5", 1005)),
            ChangeLog::Fingerprint(change(5, "new5", 2005)));
}

}  // namespace
}  // namespace covtrack::aggregation
