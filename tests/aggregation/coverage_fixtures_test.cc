// The fixtures must sum to the published figures, or every test built on them proves nothing.
#include "tests/fixtures/coverage_fixtures.h"

#include <cmath>
#include <map>
#include <set>

#include "gtest/gtest.h"

namespace covtrack::fixtures {
namespace {

std::map<v1::Scheme, int64_t> Totals(const Fixture& f, bool in_province) {
  std::map<v1::Scheme, int64_t> totals;
  for (const auto& r : f.records) {
    totals[r.scheme()] += in_province ? r.in_province_participants() : r.participants();
  }
  return totals;
}

TEST(SplitTotalTest, PartsSumToTotal) {
  const std::vector<int64_t> parts = SplitTotal(100, {1, 1, 1});
  EXPECT_EQ(parts, (std::vector<int64_t>{34, 33, 33}));
  EXPECT_EQ(SplitTotal(0, {3, 4}), (std::vector<int64_t>{0, 0}));
}

TEST(CoverageFixturesTest, MyThoSumsToPublishedFigures) {
  namespace m = my_tho_2023;
  const Fixture f = MyTho2023();
  std::map<v1::Scheme, int64_t> totals = Totals(f, false);
  EXPECT_EQ(totals[v1::SCHEME_HEALTH], m::kHealth);
  EXPECT_EQ(totals[v1::SCHEME_COMPULSORY_SOCIAL], m::kCompulsory);
  EXPECT_EQ(totals[v1::SCHEME_VOLUNTARY_SOCIAL], m::kVoluntary);
  EXPECT_EQ(m::kCompulsory + m::kVoluntary, m::kSocial);
  int64_t population = 0;
  int64_t labor_force = 0;
  for (const auto& d : f.denominators) {
    (d.kind() == v1::DENOMINATOR_KIND_POPULATION ? population : labor_force) += d.value();
  }
  EXPECT_EQ(population, m::kPopulation);
  EXPECT_EQ(labor_force, m::kLaborForce);
  // The published rates, to one decimal.
  EXPECT_EQ(std::round(1000.0 * m::kHealth / population) / 10, 89.9);
  EXPECT_EQ(std::round(1000.0 * m::kSocial / labor_force) / 10, 30.2);
  std::set<std::string> communes;
  for (const auto& u : f.units) {
    if (u.level() == v1::ADMIN_LEVEL_COMMUNE) {
      EXPECT_EQ(u.parent_code(), m::kDistrictCode);
      communes.insert(u.code());
    }
  }
  EXPECT_EQ(communes.size(), static_cast<size_t>(m::kCommunes));
}

TEST(CoverageFixturesTest, MaiSonSumsToPublishedFiguresWithSplit) {
  namespace m = mai_son_2023;
  const Fixture f = MaiSon2023();
  std::map<v1::Scheme, int64_t> totals = Totals(f, false);
  std::map<v1::Scheme, int64_t> in_province = Totals(f, true);
  EXPECT_EQ(totals[v1::SCHEME_COMPULSORY_SOCIAL], m::kCompulsory);
  EXPECT_EQ(in_province[v1::SCHEME_COMPULSORY_SOCIAL], m::kCompulsoryInProvince);
  EXPECT_EQ(totals[v1::SCHEME_HEALTH], m::kHealth);
  EXPECT_EQ(in_province[v1::SCHEME_HEALTH], m::kHealthInProvince);
  for (const auto& r : f.records) {
    ASSERT_TRUE(r.has_in_province_participants());
    EXPECT_LE(r.in_province_participants(), r.participants()) << r.unit_code();
  }
  EXPECT_EQ(f.units.size(), static_cast<size_t>(m::kCommunes + 2));
}

}  // namespace
}  // namespace covtrack::fixtures
