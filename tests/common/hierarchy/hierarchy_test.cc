// The administrative hierarchy through time (common/hierarchy): validity, the unit a code names
// on a date, the tree on a date, the months a version holds a stock for and the holder of a
// yearly figure. Plain data, no servers.
#include "common/hierarchy/hierarchy.h"

#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/builders.h"

namespace covtrack {
namespace {

using ::testing::ElementsAre;
using testing::Unit;

constexpr v1::AdminLevel kProvince = v1::ADMIN_LEVEL_PROVINCE;
constexpr v1::AdminLevel kDistrict = v1::ADMIN_LEVEL_DISTRICT;
constexpr v1::AdminLevel kCommune = v1::ADMIN_LEVEL_COMMUNE;

int MonthIndex(int year, int month) { return year * 12 + (month - 1); }

std::string LastDay(int month_index) {
  const absl::CivilMonth month(month_index / 12, month_index % 12 + 1);
  return absl::FormatCivilTime(absl::CivilDay(month + 1) - 1);
}

std::vector<std::string> Codes(const std::vector<const v1::AdminUnit*>& units) {
  std::vector<std::string> codes;
  for (const v1::AdminUnit* unit : units) {
    codes.push_back(unit->code());
  }
  return codes;
}

// The 2025 reform in miniature. Before 2025-07-01: province 20 > district 201 > communes 20001,
// 20002; district 202 > commune 20201. From 2025-07-01 (no districts): province 20 > communes
// 20001 (the code reused by a new, merged commune, as 3,316 commune codes were) and 20003.
std::vector<v1::AdminUnit> ReformTree() {
  return {Unit("20", kProvince, "", "", "2025-07-01", "Old 20"),
          Unit("201", kDistrict, "20", "", "2025-07-01"),
          Unit("202", kDistrict, "20", "", "2025-07-01"),
          Unit("20001", kCommune, "201", "", "2025-07-01", "Old 20001"),
          Unit("20002", kCommune, "201", "", "2025-07-01"),
          Unit("20201", kCommune, "202", "", "2025-07-01"),
          Unit("20", kProvince, "VN", "2025-07-01", "", "New 20"),
          Unit("20001", kCommune, "20", "2025-07-01", "", "New 20001"),
          Unit("20003", kCommune, "20", "2025-07-01", "")};
}

TEST(ValidOnTest, ValidFromIsInclusiveAndValidToExclusive) {
  const v1::AdminUnit unit = Unit("82", kProvince, "", "2023-03-01", "2025-07-01");
  EXPECT_FALSE(ValidOn(unit, "2023-02-28"));
  EXPECT_TRUE(ValidOn(unit, "2023-03-01"));
  EXPECT_TRUE(ValidOn(unit, "2025-06-30"));
  EXPECT_FALSE(ValidOn(unit, "2025-07-01"));
}

TEST(ValidOnTest, EmptyBoundsAreOpen) {
  EXPECT_TRUE(ValidOn(Unit("82", kProvince, ""), "0001-01-01"));
  EXPECT_TRUE(ValidOn(Unit("82", kProvince, ""), "9999-12-31"));
  EXPECT_TRUE(ValidOn(Unit("82", kProvince, "", "", "2025-07-01"), "1900-01-01"));
  EXPECT_TRUE(ValidOn(Unit("82", kProvince, "", "2025-07-01", ""), "2999-12-31"));
}

TEST(ValidOnTest, BareBoundsFollowTheSameRule) {
  EXPECT_TRUE(ValidOn("2023-03-01", "2025-07-01", "2023-03-01"));
  EXPECT_FALSE(ValidOn("2023-03-01", "2025-07-01", "2025-07-01"));
  EXPECT_FALSE(ValidOn("2023-03-01", "", "2023-02-28"));
  EXPECT_TRUE(ValidOn("", "", "2025-07-01"));
  EXPECT_TRUE(ValidOn("", "9999-12-31", "2025-07-01"));  // ingestion's stored open end
}

TEST(VersionOnTest, AReusedCodeNamesTheVersionOfTheDate) {
  const std::vector<v1::AdminUnit> versions = {
      Unit("82", kProvince, "", "2025-07-01", "", "Đồng Tháp"),
      Unit("82", kProvince, "", "", "2025-07-01", "Tiền Giang")};
  EXPECT_EQ(VersionOn(versions, "2025-06-30")->name(), "Tiền Giang");
  EXPECT_EQ(VersionOn(versions, "2025-07-01")->name(), "Đồng Tháp");
  EXPECT_EQ(VersionOn(versions, "2019-01-01")->name(), "Tiền Giang");
  EXPECT_EQ(VersionOn({}, "2025-07-01"), nullptr);
  const std::vector<v1::AdminUnit> ended = {Unit("821", kDistrict, "82", "", "2025-07-01")};
  EXPECT_EQ(VersionOn(ended, "2025-07-01"), nullptr);
}

TEST(ParentCodeOfTest, ProvincesAndOrphansHangFromTheNation) {
  EXPECT_EQ(ParentCodeOf(Unit("82", kProvince, "")), "VN");
  EXPECT_EQ(ParentCodeOf(Unit("82", kProvince, "VN")), "VN");
  EXPECT_EQ(ParentCodeOf(Unit("821", kDistrict, "82")), "82");
  EXPECT_EQ(ParentCodeOf(Unit("82001", kCommune, "")), "VN");
}

TEST(StockMonthsTest, OpenBoundsCoverEveryMonth) {
  const MonthRange months = StockMonths(Unit("82", kProvince, ""));
  EXPECT_EQ(months.first, MonthRange::kFirstMonth);
  EXPECT_EQ(months.last, MonthRange::kLastMonth);
  EXPECT_TRUE(months.Contains(MonthIndex(2025, 7)));
}

TEST(StockMonthsTest, AMonthBelongsToTheVersionValidOnItsLastDay) {
  // Until the reform: June is the last month; from the reform: July is the first.
  const MonthRange old_unit = StockMonths(Unit("82", kProvince, "", "", "2025-07-01"));
  EXPECT_EQ(old_unit.first, MonthRange::kFirstMonth);
  EXPECT_EQ(old_unit.last, MonthIndex(2025, 6));
  const MonthRange new_unit = StockMonths(Unit("82", kProvince, "", "2025-07-01", ""));
  EXPECT_EQ(new_unit.first, MonthIndex(2025, 7));
  EXPECT_EQ(new_unit.last, MonthRange::kLastMonth);
  // Starting mid-month, a version holds that month's stock (it is valid on the 31st) ...
  EXPECT_EQ(StockMonths(Unit("82", kProvince, "", "2025-07-15", "")).first, MonthIndex(2025, 7));
  // ... and ending on the month's last day (exclusive), it does not.
  EXPECT_EQ(StockMonths(Unit("82", kProvince, "", "", "2025-07-31")).last, MonthIndex(2025, 6));
  EXPECT_EQ(StockMonths(Unit("82", kProvince, "", "", "2025-08-01")).last, MonthIndex(2025, 7));
  // A version that holds no month's end holds no month.
  EXPECT_TRUE(StockMonths(Unit("82", kProvince, "", "2025-07-02", "2025-07-31")).empty());
}

TEST(StockMonthsTest, AgreesWithValidOnTheLastDayOfEveryMonth) {
  const std::vector<v1::AdminUnit> units = {Unit("1", kProvince, "", "", "2025-07-01"),
                                            Unit("2", kProvince, "", "2025-07-01", ""),
                                            Unit("3", kProvince, "", "2024-02-29", "2024-03-31"),
                                            Unit("4", kProvince, "", "2024-02-01", "2024-03-01"),
                                            Unit("5", kProvince, "", "2023-12-31", "2024-01-01"),
                                            Unit("6", kProvince, "", "2024-01-31", "2024-02-29")};
  for (const v1::AdminUnit& unit : units) {
    const MonthRange months = StockMonths(unit);
    for (int m = MonthIndex(2023, 1); m <= MonthIndex(2026, 12); ++m) {
      EXPECT_EQ(months.Contains(m), ValidOn(unit, LastDay(m)))
          << "unit [" << unit.valid_from() << ", " << unit.valid_to() << ") month " << LastDay(m);
    }
  }
}

TEST(YearlyFigureTest, TheUnitHoldingTheCodeOn31DecemberGetsTheYear) {
  // A code reused within 2025: the new unit holds it on 31 December, the old one gets nothing.
  const std::vector<v1::AdminUnit> versions = {
      Unit("20001", kCommune, "201", "", "2025-07-01", "Old 20001"),
      Unit("20001", kCommune, "20", "2025-07-01", "", "New 20001")};
  const v1::AdminUnit* holder = YearlyFigureHolder(versions, 2025);
  ASSERT_NE(holder, nullptr);
  EXPECT_EQ(holder->name(), "New 20001");
  EXPECT_EQ(YearlyFigureDay(*holder, 2025), "2025-12-31");
  holder = YearlyFigureHolder(versions, 2024);
  ASSERT_NE(holder, nullptr);
  EXPECT_EQ(holder->name(), "Old 20001");
  EXPECT_EQ(YearlyFigureDay(*holder, 2024), "2024-12-31");
}

TEST(YearlyFigureTest, ValidFromOn31DecemberHoldsTheYear) {
  const std::vector<v1::AdminUnit> versions = {
      Unit("82", kProvince, "", "", "2025-12-31", "Before"),
      Unit("82", kProvince, "", "2025-12-31", "", "From the last day")};
  EXPECT_EQ(YearlyFigureHolder(versions, 2025)->name(), "From the last day");
}

TEST(YearlyFigureTest, WithoutA31DecemberHolderTheLastUnitOfTheYearGetsIt) {
  // A commune abolished by the reform whose code was not reused.
  const std::vector<v1::AdminUnit> abolished = {Unit("20002", kCommune, "201", "", "2025-07-01")};
  const v1::AdminUnit* holder = YearlyFigureHolder(abolished, 2025);
  ASSERT_NE(holder, nullptr);
  EXPECT_EQ(YearlyFigureDay(*holder, 2025), "2025-06-30");
  EXPECT_EQ(YearlyFigureHolder(abolished, 2026), nullptr);

  // Two units held the code during the year and none at its end: the later one, in any order.
  std::vector<v1::AdminUnit> two = {
      Unit("82", kProvince, "", "", "2025-03-01", "First"),
      Unit("82", kProvince, "", "2025-03-01", "2025-07-01", "Second")};
  EXPECT_EQ(YearlyFigureHolder(two, 2025)->name(), "Second");
  EXPECT_EQ(YearlyFigureDay(*YearlyFigureHolder(two, 2025), 2025), "2025-06-30");
  std::swap(two[0], two[1]);
  EXPECT_EQ(YearlyFigureHolder(two, 2025)->name(), "Second");
}

TEST(YearlyFigureTest, BoundaryDaysOfTheYear) {
  // Ending on 1 January (exclusive): never valid in that year.
  EXPECT_EQ(YearlyFigureHolder({Unit("82", kProvince, "", "", "2025-01-01")}, 2025), nullptr);
  EXPECT_NE(YearlyFigureHolder({Unit("82", kProvince, "", "", "2025-01-01")}, 2024), nullptr);
  // Ending on 2 January: valid on 1 January only, and the last holder of the year.
  const std::vector<v1::AdminUnit> one_day = {Unit("82", kProvince, "", "", "2025-01-02")};
  ASSERT_NE(YearlyFigureHolder(one_day, 2025), nullptr);
  EXPECT_EQ(YearlyFigureDay(one_day[0], 2025), "2025-01-01");
  // Starting the next year: not a holder of this one.
  EXPECT_EQ(YearlyFigureHolder({Unit("82", kProvince, "", "2026-01-01", "")}, 2025), nullptr);
  EXPECT_EQ(YearlyFigureHolder({}, 2025), nullptr);
  EXPECT_EQ(YearEnd(2025), "2025-12-31");
}

TEST(HierarchyTest, VersionsOfACodeInOrderAndTheUnitOfADate) {
  const Hierarchy h(ReformTree());
  EXPECT_EQ(h.version_count(), 9u);
  absl::Span<const v1::AdminUnit> versions = h.VersionsOf("20001");
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[0].name(), "Old 20001");
  EXPECT_EQ(versions[1].name(), "New 20001");
  EXPECT_TRUE(h.VersionsOf("99").empty());
  EXPECT_EQ(h.UnitAt("20001", "2025-06-30")->name(), "Old 20001");
  EXPECT_EQ(h.UnitAt("20001", "2025-07-01")->name(), "New 20001");
  EXPECT_EQ(h.UnitAt("201", "2025-07-01"), nullptr);
  EXPECT_EQ(h.UnitAt("20003", "2025-06-30"), nullptr);
  EXPECT_EQ(h.UnitAt("VN", "2025-07-01")->level(), v1::ADMIN_LEVEL_NATION);
  EXPECT_EQ(h.UnitAt("", "2025-07-01")->code(), "VN");
  ASSERT_EQ(h.VersionsOf("VN").size(), 1u);
}

TEST(HierarchyTest, YearlyFigureHolderOfACode) {
  const Hierarchy h(ReformTree());
  EXPECT_EQ(h.YearlyFigureHolder("20001", 2025)->name(), "New 20001");
  EXPECT_EQ(h.YearlyFigureHolder("20001", 2024)->name(), "Old 20001");
  EXPECT_EQ(h.YearlyFigureHolder("20002", 2025), h.UnitAt("20002", "2025-06-30"));
  EXPECT_EQ(h.YearlyFigureHolder("20003", 2024), nullptr);
  EXPECT_EQ(h.YearlyFigureHolder("VN", 2025), h.UnitAt("VN", "2025-12-31"));
}

TEST(HierarchyTest, ChildrenAndDescendantsOnADate) {
  const Hierarchy h(ReformTree());
  EXPECT_THAT(Codes(h.ChildrenAt("VN", "2025-06-30")), ElementsAre("20"));
  EXPECT_THAT(Codes(h.ChildrenAt("", "2025-07-01")), ElementsAre("20"));
  EXPECT_THAT(Codes(h.ChildrenAt("20", "2025-06-30")), ElementsAre("201", "202"));
  EXPECT_THAT(Codes(h.ChildrenAt("20", "2025-07-01")), ElementsAre("20001", "20003"));
  EXPECT_TRUE(h.ChildrenAt("201", "2025-07-01").empty());
  EXPECT_THAT(Codes(h.DescendantsAt("20", kCommune, "2025-06-30")),
              ElementsAre("20001", "20002", "20201"));
  EXPECT_THAT(Codes(h.DescendantsAt("VN", kCommune, "2025-07-01")), ElementsAre("20001", "20003"));
  EXPECT_THAT(Codes(h.DescendantsAt("VN", kDistrict, "2025-06-30")), ElementsAre("201", "202"));
  EXPECT_TRUE(h.DescendantsAt("VN", kDistrict, "2025-07-01").empty());
}

TEST(HierarchyTest, InSubtreeFollowsTheTreeOfTheDate) {
  const Hierarchy h(ReformTree());
  EXPECT_TRUE(h.InSubtree("20001", "201", "2025-06-30"));
  EXPECT_FALSE(h.InSubtree("20001", "201", "2025-07-01"));
  EXPECT_TRUE(h.InSubtree("20001", "20", "2025-07-01"));
  EXPECT_FALSE(h.InSubtree("20201", "201", "2025-06-30"));
  EXPECT_TRUE(h.InSubtree("20201", "VN", "2025-06-30"));
  EXPECT_TRUE(h.InSubtree("201", "201", "2025-06-30"));
  EXPECT_FALSE(h.InSubtree("20003", "20", "2025-06-30"));  // not a unit yet
}

TEST(HierarchyTest, TerritoryFingerprintChangesOnlyWithTheTerritory) {
  const Hierarchy h(ReformTree());
  EXPECT_EQ(h.TerritoryFingerprint("20", "2024-12-31"), h.TerritoryFingerprint("20", "2025-06-30"));
  EXPECT_NE(h.TerritoryFingerprint("20", "2025-06-30"), h.TerritoryFingerprint("20", "2025-07-01"));
  EXPECT_EQ(h.TerritoryFingerprint("20", "2025-07-01"), h.TerritoryFingerprint("20", "2026-12-31"));
  EXPECT_EQ(h.TerritoryFingerprint("201", "2025-07-01"), 0u);
}

// A stored hierarchy that loops on some date (ingestion now refuses one, but a store may hold
// one from before): every walk ends, each code visited once. Before the bounds, DescendantsAt
// and TerritoryFingerprint recursed until the stack overflowed.
TEST(HierarchyTest, WalksEndOnAStoredCycle) {
  Hierarchy hierarchy(
      {Unit("30", kProvince, "", "", ""), Unit("301", kDistrict, "30", "", "2030-01-01"),
       // From 2030, 301 and 302 name each other as parent.
       Unit("301", kDistrict, "302", "2030-01-01", ""),
       Unit("302", kDistrict, "301", "2030-01-01", ""), Unit("30101", kCommune, "301", "", "")});
  EXPECT_THAT(Codes(hierarchy.DescendantsAt("301", kCommune, "2031-01-01")), ElementsAre("30101"));
  EXPECT_THAT(Codes(hierarchy.DescendantsAt("302", kCommune, "2031-01-01")), ElementsAre("30101"));
  EXPECT_THAT(Codes(hierarchy.DescendantsAt("30", kCommune, "2031-01-01")), ElementsAre());
  EXPECT_NE(hierarchy.TerritoryFingerprint("301", "2031-01-01"), 0u);
  EXPECT_FALSE(hierarchy.InSubtree("30101", "30", "2031-01-01"));
  EXPECT_TRUE(hierarchy.InSubtree("30101", "30", "2029-01-01"));
}

}  // namespace
}  // namespace covtrack
