// The crosswalk and re-expression (common/hierarchy/crosswalk.h) on plain data: merges, partial
// splits, chains of reforms, unknown shares, absorption, the forward direction and data that
// would make an unbounded walk loop. No servers.
#include "common/hierarchy/crosswalk.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/builders.h"

namespace covtrack {
namespace {

using ::testing::HasSubstr;
using testing::Unit;

constexpr v1::AdminLevel kProvince = v1::ADMIN_LEVEL_PROVINCE;
constexpr v1::AdminLevel kCommune = v1::ADMIN_LEVEL_COMMUNE;
constexpr char kReform[] = "2025-07-01";

// A link as ListCrosswalk answers it: both versions' valid_from filled in.
v1::CrosswalkLink Link(const std::string& from, const std::string& from_valid_from,
                       const std::string& to, const std::string& to_valid_from,
                       const std::string& effective_date, std::optional<double> population_share,
                       std::optional<double> labor_force_share = std::nullopt) {
  v1::CrosswalkLink link;
  link.set_from_code(from);
  link.set_from_valid_from(from_valid_from);
  link.set_to_code(to);
  link.set_to_valid_from(to_valid_from);
  link.set_effective_date(effective_date);
  if (population_share.has_value()) {
    link.set_population_share(*population_share);
  }
  if (labor_force_share.has_value()) {
    link.set_labor_force_share(*labor_force_share);
  }
  return link;
}

// "code|valid_from pop lf" for each term, in order.
std::vector<std::string> Terms(const Reexpressed& r) {
  std::vector<std::string> out;
  for (const ReexpressionTerm& t : r.terms) {
    out.push_back(absl::StrCat(t.unit->code(), "|", t.unit->valid_from(), " ", t.population_weight,
                               " ", t.labor_force_weight));
  }
  return out;
}

// The 2025 reform in miniature: old provinces 82 and 87 (until 2025-07-01) merged whole into the
// new 82; old communes 28249 (split: 0.6 of its population, 0.5 of its labour force to the new
// 28261, the rest to 28270) and 28250 (whole into 28261); 28300 keeps its version and absorbs
// old 28301 whole; 28400 is new with no link leading to it.
class ReformTest : public ::testing::Test {
 protected:
  ReformTest()
      : hierarchy_(std::vector<v1::AdminUnit>{
            Unit("82", kProvince, "", "", kReform, "Tỉnh Tiền Giang"),
            Unit("87", kProvince, "", "", kReform, "Tỉnh Đồng Tháp"),
            Unit("82", kProvince, "", kReform, "", "Tỉnh Đồng Tháp"),
            Unit("28249", kCommune, "82", "", kReform), Unit("28250", kCommune, "82", "", kReform),
            Unit("28301", kCommune, "82", "", kReform), Unit("28261", kCommune, "82", kReform, ""),
            Unit("28270", kCommune, "82", kReform, ""), Unit("28300", kCommune, "82", "", ""),
            Unit("28400", kCommune, "82", kReform, "")}) {}

  Crosswalk Links(std::optional<double> share_28249 = 0.6) {
    return Crosswalk({Link("82", "", "82", kReform, kReform, 1),
                      Link("87", "", "82", kReform, kReform, 1),
                      Link("28249", "", "28261", kReform, kReform, share_28249,
                           share_28249.has_value() ? std::optional<double>(0.5) : std::nullopt),
                      Link("28249", "", "28270", kReform, kReform, 0.4),
                      Link("28250", "", "28261", kReform, kReform, 1),
                      Link("28301", "", "28300", "", kReform, 1)});
  }

  const v1::AdminUnit& At(const std::string& code, const std::string& date) {
    const v1::AdminUnit* unit = hierarchy_.UnitAt(code, date);
    EXPECT_NE(unit, nullptr) << code << " " << date;
    return *unit;
  }

  Hierarchy hierarchy_;
};

TEST_F(ReformTest, CrosswalkIndexesLinksByVersion) {
  const Crosswalk crosswalk = Links();
  EXPECT_EQ(crosswalk.size(), 6u);
  ASSERT_EQ(crosswalk.Into("82", kReform).size(), 2u);
  EXPECT_EQ(crosswalk.Into("82", kReform)[0]->from_code(), "82");
  EXPECT_EQ(crosswalk.Into("82", kReform)[1]->from_code(), "87");
  EXPECT_TRUE(crosswalk.Into("82", "").empty());  // the old 82 has no predecessor
  EXPECT_EQ(crosswalk.OutOf("28249", "").size(), 2u);
  EXPECT_EQ(crosswalk.Into("28300", "").size(), 1u);
}

TEST_F(ReformTest, MergedProvinceIsTheExactSumOfItsPredecessors) {
  const Crosswalk crosswalk = Links();
  const auto r = Reexpress(hierarchy_, crosswalk, At("82", kReform), "2024-12-31", kReform);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, v1::REEXPRESSION_KIND_EXACT);
  EXPECT_THAT(Terms(*r), ::testing::ElementsAre("82| 1 1", "87| 1 1"));
  // The day before the reform is still before it.
  const auto eve =
      Reexpress(hierarchy_, crosswalk, At("82", "2025-09-30"), "2025-06-30", "2025-09-30");
  ASSERT_TRUE(eve.ok());
  EXPECT_EQ(eve->kind, v1::REEXPRESSION_KIND_EXACT);
}

TEST_F(ReformTest, SameUnitWhenTheVersionExistedThen) {
  const Crosswalk crosswalk = Links();
  const auto r =
      Reexpress(hierarchy_, crosswalk, At("82", "2025-09-30"), "2025-09-30", "2025-09-30");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, v1::REEXPRESSION_KIND_SAME_UNIT);
  EXPECT_THAT(Terms(*r), ::testing::ElementsAre("82|2025-07-01 1 1"));
  // The old 82 read in its own time.
  const auto old =
      Reexpress(hierarchy_, crosswalk, At("82", "2024-12-31"), "2023-12-31", "2024-12-31");
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->kind, v1::REEXPRESSION_KIND_SAME_UNIT);
  EXPECT_THAT(Terms(*old), ::testing::ElementsAre("82| 1 1"));
}

TEST_F(ReformTest, PartialSplitIsEstimatedWithEachKindsShare) {
  const Crosswalk crosswalk = Links();
  const auto r = Reexpress(hierarchy_, crosswalk, At("28261", kReform), "2024-12-31", kReform);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, v1::REEXPRESSION_KIND_ESTIMATED);
  EXPECT_THAT(Terms(*r), ::testing::ElementsAre("28249| 0.6 0.5", "28250| 1 1"));
  // The labour-force share defaults to the population share.
  const auto other = Reexpress(hierarchy_, crosswalk, At("28270", kReform), "2024-12-31", kReform);
  ASSERT_TRUE(other.ok());
  EXPECT_THAT(Terms(*other), ::testing::ElementsAre("28249| 0.4 0.4"));
}

TEST_F(ReformTest, UnknownShareIsAbsentWithTheLinkNamed) {
  const Crosswalk crosswalk = Links(std::nullopt);
  const auto r = Reexpress(hierarchy_, crosswalk, At("28261", kReform), "2024-12-31", kReform);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, v1::REEXPRESSION_KIND_ABSENT);
  EXPECT_TRUE(r->terms.empty());
  EXPECT_EQ(r->reason, "the share of 28249 in 28261 from 2025-07-01 is unknown");
  // A sibling whose own shares are known is unaffected.
  const auto other = Reexpress(hierarchy_, crosswalk, At("28270", kReform), "2024-12-31", kReform);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->kind, v1::REEXPRESSION_KIND_ESTIMATED);
}

TEST_F(ReformTest, NewUnitWithoutLinksIsAbsent) {
  const Crosswalk crosswalk = Links();
  const auto r = Reexpress(hierarchy_, crosswalk, At("28400", kReform), "2024-12-31", kReform);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, v1::REEXPRESSION_KIND_ABSENT);
  EXPECT_EQ(
      r->reason,
      "28400 (from 2025-07-01) did not exist on 2024-12-31 and no crosswalk link leads to it");
}

TEST_F(ReformTest, AbsorptionIntoAUnitThatKeepsItsVersion) {
  const Crosswalk crosswalk = Links();
  const v1::AdminUnit& keeper = At("28300", "2025-09-30");
  auto r = Reexpress(hierarchy_, crosswalk, keeper, "2024-12-31", "2025-09-30");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, v1::REEXPRESSION_KIND_EXACT);
  EXPECT_THAT(Terms(*r), ::testing::ElementsAre("28300| 1 1", "28301| 1 1"));
  // Read in the territory of a day before the absorption, 2024 is the unit alone.
  r = Reexpress(hierarchy_, crosswalk, keeper, "2024-12-31", "2025-06-30");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, v1::REEXPRESSION_KIND_SAME_UNIT);
  EXPECT_THAT(Terms(*r), ::testing::ElementsAre("28300| 1 1"));
  // After the absorption, its own figure.
  r = Reexpress(hierarchy_, crosswalk, keeper, "2025-12-31", "2025-12-31");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, v1::REEXPRESSION_KIND_SAME_UNIT);
}

TEST_F(ReformTest, ForwardOnlyWhereTheUnitWentWholeIntoASuccessorOfItsOwn) {
  const Crosswalk crosswalk = Links();
  // Old 87 went whole into the new 82, but so did old 82.
  auto r = Reexpress(hierarchy_, crosswalk, At("87", "2024-12-31"), "2025-09-30", "2024-12-31");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("together with other territory"));
  // 28249 was divided.
  r = Reexpress(hierarchy_, crosswalk, At("28249", "2024-12-31"), "2025-09-30", "2024-12-31");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("was divided among 2 units on 2025-07-01"));
  // 28301 went into a unit that existed before.
  r = Reexpress(hierarchy_, crosswalk, At("28301", "2024-12-31"), "2025-09-30", "2024-12-31");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  // Still valid then: the unit itself.
  r = Reexpress(hierarchy_, crosswalk, At("28300", "2024-12-31"), "2025-09-30", "2024-12-31");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, v1::REEXPRESSION_KIND_SAME_UNIT);
}

TEST(CrosswalkTest, ForwardFollowsAChainOfWholeSuccessors) {
  const Hierarchy hierarchy({Unit("10", kProvince, "", "", "2020-01-01"),
                             Unit("11", kProvince, "", "2020-01-01", "2025-07-01"),
                             Unit("12", kProvince, "", "2025-07-01", ""),
                             Unit("13", kProvince, "", "", "2025-07-01")});
  Crosswalk crosswalk({Link("10", "", "11", "2020-01-01", "2020-01-01", 1),
                       Link("11", "2020-01-01", "12", "2025-07-01", "2025-07-01", 1),
                       Link("13", "", "12", "2025-07-01", "2025-07-01", 1)});
  // 10 -> 11 alone: followed.
  auto r = Reexpress(hierarchy, crosswalk, *hierarchy.UnitAt("10", "2019-12-31"), "2022-12-31",
                     "2019-12-31");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, v1::REEXPRESSION_KIND_EXACT);
  EXPECT_THAT(Terms(*r), ::testing::ElementsAre("11|2020-01-01 1 1"));
  // Then 11 and 13 -> 12: not followed past 2025-07-01.
  r = Reexpress(hierarchy, crosswalk, *hierarchy.UnitAt("10", "2019-12-31"), "2025-12-31",
                "2019-12-31");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(CrosswalkTest, ChainsOfTwoReformsComposeShares) {
  // A went whole into B on 2020-01-01; half of B, and the whole of D, make C on 2025-07-01.
  const Hierarchy hierarchy({Unit("A", kCommune, "", "", "2020-01-01"),
                             Unit("B", kCommune, "", "2020-01-01", "2025-07-01"),
                             Unit("B2", kCommune, "", "2025-07-01", ""),
                             Unit("C", kCommune, "", "2025-07-01", ""),
                             Unit("D", kCommune, "", "", "2025-07-01")});
  Crosswalk crosswalk({Link("A", "", "B", "2020-01-01", "2020-01-01", 1),
                       Link("B", "2020-01-01", "C", "2025-07-01", "2025-07-01", 0.5, 0.25),
                       Link("B", "2020-01-01", "B2", "2025-07-01", "2025-07-01", 0.5, 0.75),
                       Link("D", "", "C", "2025-07-01", "2025-07-01", 1)});
  const v1::AdminUnit& c = *hierarchy.UnitAt("C", "2025-07-01");
  auto r = Reexpress(hierarchy, crosswalk, c, "2019-12-31", "2025-07-01");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, v1::REEXPRESSION_KIND_ESTIMATED);
  EXPECT_THAT(Terms(*r), ::testing::ElementsAre("A| 0.5 0.25", "D| 1 1"));
  r = Reexpress(hierarchy, crosswalk, c, "2022-12-31", "2025-07-01");
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(Terms(*r), ::testing::ElementsAre("B|2020-01-01 0.5 0.25", "D| 1 1"));
}

TEST(CrosswalkTest, PathsReachingOneVersionAreSummed) {
  // A split 0.3 / 0.7 into B and C in 2020; B and C merged whole into D in 2025: D is all of A.
  const Hierarchy hierarchy({Unit("A", kCommune, "", "", "2020-01-01"),
                             Unit("B", kCommune, "", "2020-01-01", "2025-07-01"),
                             Unit("C", kCommune, "", "2020-01-01", "2025-07-01"),
                             Unit("D", kCommune, "", "2025-07-01", "")});
  Crosswalk crosswalk({Link("A", "", "B", "2020-01-01", "2020-01-01", 0.3),
                       Link("A", "", "C", "2020-01-01", "2020-01-01", 0.7),
                       Link("B", "2020-01-01", "D", "2025-07-01", "2025-07-01", 1),
                       Link("C", "2020-01-01", "D", "2025-07-01", "2025-07-01", 1)});
  const auto r = Reexpress(hierarchy, crosswalk, *hierarchy.UnitAt("D", "2025-07-01"), "2019-12-31",
                           "2025-07-01");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, v1::REEXPRESSION_KIND_EXACT);
  EXPECT_THAT(Terms(*r), ::testing::ElementsAre("A| 1 1"));
}

TEST(CrosswalkTest, ALinkBackIntoItselfEndsTheWalk) {
  // Ingestion refuses such a link; the walk must end whatever it is given.
  const Hierarchy hierarchy({Unit("A", kCommune, "", "", "")});
  Crosswalk crosswalk({Link("A", "", "A", "", "2020-01-01", 1)});
  const auto r = Reexpress(hierarchy, crosswalk, *hierarchy.UnitAt("A", "2025-01-01"), "2019-12-31",
                           "2025-01-01");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, v1::REEXPRESSION_KIND_ABSENT);
  EXPECT_THAT(r->reason, HasSubstr("cycle through A"));
}

TEST(CrosswalkTest, ALongChainIsBounded) {
  // 40 yearly reforms, each version going whole into the next.
  std::vector<v1::AdminUnit> units;
  std::vector<v1::CrosswalkLink> links;
  for (int i = 0; i < 40; ++i) {
    const std::string from = i == 0 ? "" : absl::StrCat(1980 + i, "-01-01");
    const std::string to = absl::StrCat(1981 + i, "-01-01");
    units.push_back(Unit("A", kCommune, "", from, i == 39 ? "" : to));
    if (i < 39) {
      links.push_back(Link("A", from, "A", to, to, 1));
    }
  }
  const Hierarchy hierarchy(std::move(units));
  Crosswalk crosswalk(std::move(links));
  const auto r = Reexpress(hierarchy, crosswalk, *hierarchy.UnitAt("A", "2025-01-01"), "1979-12-31",
                           "2025-01-01");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, v1::REEXPRESSION_KIND_ABSENT);
  EXPECT_THAT(r->reason, HasSubstr("deeper than 32 links"));
  // Within the bound, the chain is exact.
  const auto near = Reexpress(hierarchy, crosswalk, *hierarchy.UnitAt("A", "2025-01-01"),
                              "2010-06-30", "2025-01-01");
  ASSERT_TRUE(near.ok());
  EXPECT_EQ(near->kind, v1::REEXPRESSION_KIND_EXACT);
  EXPECT_THAT(Terms(*near), ::testing::ElementsAre("A|2010-01-01 1 1"));
}

}  // namespace
}  // namespace covtrack
