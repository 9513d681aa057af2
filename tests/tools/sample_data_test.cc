#include "tools/sampledata/sample_data.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "tools/sampledata/csv.h"
#include "tools/sampledata/record_csv.h"

namespace covtrack::sampledata {
namespace {

using ::testing::Contains;

Month M(const char* text) { return *Month::Parse(text); }

// The value of a StatusOr by value (so a range-for over it does not outlive a temporary).
template <typename T>
T Value(absl::StatusOr<T> result) {
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *std::move(result) : T{};
}

// One loaded catalogue for the whole suite (loading reads ~25,000 CSV rows).
class SampleDataTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<SampleData>> loaded = SampleData::Load();
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    data_ = loaded->release();
  }
  static void TearDownTestSuite() {
    delete data_;
    data_ = nullptr;
  }

  struct Totals {
    int64_t participants = 0;
    int64_t in_province = 0;
    int64_t population = 0;
    int64_t labor_force = 0;
  };
  // Per-scheme totals of a subtree in one month, with the denominators of `denominator_as_of`.
  static std::map<v1::Scheme, Totals> SchemeTotals(const std::string& root, Month month,
                                                   const std::string& denominator_as_of) {
    std::map<std::string, std::pair<int64_t, int64_t>> denominators;
    for (const v1::DenominatorRecord& d :
         Value(data_->Denominators({root}, month.year, month.year, denominator_as_of))) {
      auto& entry = denominators[d.unit_code()];
      (d.kind() == v1::DENOMINATOR_KIND_POPULATION ? entry.first : entry.second) = d.value();
    }
    std::map<v1::Scheme, Totals> totals;
    for (const v1::ParticipationRecord& r : Value(data_->Records({root}, month, month))) {
      Totals& t = totals[r.scheme()];
      t.participants += r.participants();
      t.in_province += r.in_province_participants();
      t.population += denominators.at(r.unit_code()).first;
      t.labor_force += denominators.at(r.unit_code()).second;
    }
    return totals;
  }

  static SampleData* data_;
};
SampleData* SampleDataTest::data_ = nullptr;

// FNV-1a over text: a digest to pin generated output.
uint64_t Fnv1a(const std::string& text) {
  uint64_t h = 0xCBF29CE484222325ULL;
  for (unsigned char c : text) {
    h = (h ^ c) * 0x100000001B3ULL;
  }
  return h;
}

std::string AsCsv(const std::vector<v1::ParticipationRecord>& records,
                  const std::vector<v1::DenominatorRecord>& denominators) {
  std::string out;
  for (const auto& r : records) {
    absl::StrAppend(&out, CsvLine(ParticipationCsvFields(r)), "\n");
  }
  for (const auto& d : denominators) {
    absl::StrAppend(&out, CsvLine(DenominatorCsvFields(d)), "\n");
  }
  return out;
}

TEST_F(SampleDataTest, CatalogueHasBothHierarchiesWithValidity) {
  const std::vector<v1::AdminUnit>& units = data_->units();
  ASSERT_EQ(units.size(), 10806u + 3355u);
  std::vector<const v1::AdminUnit*> code_82;
  for (const v1::AdminUnit& unit : units) {
    if (unit.level() == v1::ADMIN_LEVEL_PROVINCE) {
      EXPECT_EQ(unit.parent_code(), "VN") << unit.code();
    }
    bool pre = unit.valid_from().empty() && unit.valid_to() == "2025-07-01";
    bool post = unit.valid_from() == "2025-07-01" && unit.valid_to().empty();
    EXPECT_TRUE(pre || post) << unit.code();
    if (unit.code() == "82") {
      code_82.push_back(&unit);
    }
  }
  ASSERT_EQ(code_82.size(), 2u);
  EXPECT_EQ(code_82[0]->name(), "Tỉnh Tiền Giang");
  EXPECT_EQ(code_82[0]->valid_to(), "2025-07-01");
  EXPECT_EQ(code_82[1]->name(), "Tỉnh Đồng Tháp");
  EXPECT_EQ(code_82[1]->valid_from(), "2025-07-01");
}

TEST_F(SampleDataTest, LeavesFollowTheHierarchyOfTheMonth) {
  // 10,047 communes and the five island districts without communes before the reform.
  EXPECT_EQ(data_->Leaves({"VN"}, M("2024-12"))->size(), 10047u + 5u);
  EXPECT_EQ(data_->Leaves({"VN"}, M("2025-07"))->size(), 3321u);
  std::vector<std::string> my_tho = Value(data_->Leaves({"815"}, M("2023-12")));
  EXPECT_EQ(my_tho.size(), 14u);
  EXPECT_THAT(my_tho, Contains("28249"));
  EXPECT_THAT(Value(data_->Leaves({"31"}, M("2023-12"))), Contains("318"));  // Bạch Long Vĩ
  // 815 is a district: gone after the reform; 87 (old Đồng Tháp) too.
  EXPECT_TRUE(data_->Leaves({"815", "87"}, M("2025-08"))->empty());
  // 82 names Tiền Giang before, the merged Đồng Tháp (old 82 + 87) after.
  size_t before = data_->Leaves({"82"}, M("2025-06"))->size();
  size_t after = data_->Leaves({"82"}, M("2025-07"))->size();
  EXPECT_GT(before, 150u);
  EXPECT_GT(after, 90u);
  EXPECT_LT(after, before);
  EXPECT_EQ(data_->Leaves({"99999"}, M("2023-01")).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SampleDataTest, SameSeedSameDataDifferentSeedDifferentData) {
  std::string first = AsCsv(Value(data_->Records({"14"}, M("2024-11"), M("2024-12"))),
                            Value(data_->Denominators({"14"}, 2024, 2024)));
  absl::StatusOr<std::unique_ptr<SampleData>> again = SampleData::Load();
  ASSERT_TRUE(again.ok());
  std::string second = AsCsv(Value((*again)->Records({"14"}, M("2024-11"), M("2024-12"))),
                             Value((*again)->Denominators({"14"}, 2024, 2024)));
  EXPECT_EQ(first, second);
  absl::StatusOr<std::unique_ptr<SampleData>> other = SampleData::Load(7);
  ASSERT_TRUE(other.ok());
  std::string third = AsCsv(Value((*other)->Records({"14"}, M("2024-11"), M("2024-12"))),
                            Value((*other)->Denominators({"14"}, 2024, 2024)));
  EXPECT_NE(first, third);
}

// The generator uses integer arithmetic and its own hash, so its output is the same on every
// machine and compiler: this pins one national month and year. If the generator is changed on
// purpose, update the digest (and say so in the commit).
TEST_F(SampleDataTest, NationalMonthIsTheSameOnEveryMachine) {
  std::vector<v1::ParticipationRecord> records =
      Value(data_->Records({"VN"}, M("2024-12"), M("2024-12")));
  std::vector<v1::DenominatorRecord> denominators = Value(data_->Denominators({"VN"}, 2024, 2024));
  EXPECT_EQ(records.size(), (10047u + 5u) * 4u);
  EXPECT_EQ(denominators.size(), (10047u + 5u) * 2u);
  EXPECT_EQ(Fnv1a(AsCsv(records, denominators)), 14346719660023531218ull);
}

TEST_F(SampleDataTest, ProvinceRatesAreInTheDocumentedBands) {
  for (const v1::AdminUnit& unit : data_->units()) {
    if (unit.level() != v1::ADMIN_LEVEL_PROVINCE || !unit.valid_from().empty()) {
      continue;
    }
    std::map<v1::Scheme, Totals> t = SchemeTotals(unit.code(), M("2023-12"), "");
    SCOPED_TRACE(unit.code());
    const Totals& health = t[v1::SCHEME_HEALTH];
    double labor_share = 100.0 * health.labor_force / health.population;
    double health_rate = 100.0 * health.participants / health.population;
    double social_rate = 100.0 *
                         (t[v1::SCHEME_COMPULSORY_SOCIAL].participants +
                          t[v1::SCHEME_VOLUNTARY_SOCIAL].participants) /
                         health.labor_force;
    double unemployment_rate = 100.0 * t[v1::SCHEME_UNEMPLOYMENT].participants / health.labor_force;
    EXPECT_GE(labor_share, 54.9);
    EXPECT_LE(labor_share, 60.1);
    EXPECT_GE(health_rate, 86.0);
    EXPECT_LE(health_rate, 94.5);
    EXPECT_GE(social_rate, 33.0);
    EXPECT_LE(social_rate, 43.0);
    EXPECT_GE(unemployment_rate, 25.0);
    EXPECT_LE(unemployment_rate, 33.0);
    for (const auto& [scheme, totals] : t) {
      EXPECT_LT(totals.in_province, totals.participants);
      EXPECT_GT(totals.in_province, totals.participants * 7 / 10);
    }
  }
}

TEST_F(SampleDataTest, EveryUnitIsPlausible) {
  std::map<std::string, std::pair<int64_t, int64_t>> denominators;
  for (const v1::DenominatorRecord& d : Value(data_->Denominators({"VN"}, 2024, 2024))) {
    ASSERT_GT(d.value(), 0) << d.unit_code();
    auto& entry = denominators[d.unit_code()];
    (d.kind() == v1::DENOMINATOR_KIND_POPULATION ? entry.first : entry.second) = d.value();
  }
  std::map<std::string, int64_t> compulsory;
  for (const v1::ParticipationRecord& r :
       Value(data_->Records({"VN"}, M("2024-06"), M("2024-06")))) {
    auto [population, labor_force] = denominators.at(r.unit_code());
    ASSERT_LT(labor_force, population) << r.unit_code();
    ASSERT_GE(r.participants(), 0);
    ASSERT_LE(r.in_province_participants(), r.participants()) << r.unit_code();
    double rate =
        100.0 * r.participants() / (r.scheme() == v1::SCHEME_HEALTH ? population : labor_force);
    switch (r.scheme()) {
      case v1::SCHEME_HEALTH:
        ASSERT_GE(rate, 80.0) << r.unit_code();
        ASSERT_LE(rate, 99.5) << r.unit_code();
        break;
      case v1::SCHEME_COMPULSORY_SOCIAL:
        ASSERT_GE(rate, 24.0) << r.unit_code();
        ASSERT_LE(rate, 38.5) << r.unit_code();
        compulsory[r.unit_code()] = r.participants();
        break;
      case v1::SCHEME_VOLUNTARY_SOCIAL:
        ASSERT_GE(rate, 3.0) << r.unit_code();
        ASSERT_LE(rate, 9.5) << r.unit_code();
        break;
      case v1::SCHEME_UNEMPLOYMENT:
        ASSERT_LE(r.participants(), compulsory.at(r.unit_code())) << r.unit_code();
        break;
      default:
        FAIL() << "unexpected scheme";
    }
  }
}

TEST_F(SampleDataTest, GrowsOverTheYears) {
  auto t2023 = SchemeTotals("VN", M("2023-12"), "");
  auto t2024 = SchemeTotals("VN", M("2024-12"), "");
  for (v1::Scheme scheme : {v1::SCHEME_HEALTH, v1::SCHEME_COMPULSORY_SOCIAL,
                            v1::SCHEME_VOLUNTARY_SOCIAL, v1::SCHEME_UNEMPLOYMENT}) {
    EXPECT_GT(t2024[scheme].participants, t2023[scheme].participants) << scheme;
  }
  EXPECT_GT(t2024[v1::SCHEME_HEALTH].population, t2023[v1::SCHEME_HEALTH].population);
}

// Old provinces merge whole into new ones, so a new province's population and labour force are
// exactly its old provinces' (same year), and its participants carry on across 1 July 2025.
TEST_F(SampleDataTest, ProvinceTotalsAreContinuousAcrossTheReform) {
  absl::StatusOr<std::string> text = ReadFileToString(DefaultDataDir() + "/merge_map_2025.csv");
  ASSERT_TRUE(text.ok()) << text.status();
  std::map<std::string, std::vector<std::string>> sources;
  CsvTable merge_map = Value(ParseCsv(*text));
  for (const CsvRow& row : merge_map.rows) {
    if (row.fields[2] == "province") {
      sources[row.fields[1]].push_back(row.fields[0]);
    }
  }
  ASSERT_EQ(sources.size(), 34u);
  for (const auto& [new_code, old_codes] : sources) {
    SCOPED_TRACE(new_code);
    auto after = SchemeTotals(new_code, M("2025-07"), "");
    Totals before_health;
    int64_t before_compulsory = 0;
    for (const std::string& old_code : old_codes) {
      auto before = SchemeTotals(old_code, M("2025-06"), "2025-06-30");
      before_health.population += before[v1::SCHEME_HEALTH].population;
      before_health.labor_force += before[v1::SCHEME_HEALTH].labor_force;
      before_health.participants += before[v1::SCHEME_HEALTH].participants;
      before_compulsory += before[v1::SCHEME_COMPULSORY_SOCIAL].participants;
    }
    EXPECT_EQ(after[v1::SCHEME_HEALTH].population, before_health.population);
    EXPECT_EQ(after[v1::SCHEME_HEALTH].labor_force, before_health.labor_force);
    // Participants: within 2% across one month (the units' own variation, one month's growth
    // and the July seasonal dip).
    EXPECT_NEAR(after[v1::SCHEME_HEALTH].participants, before_health.participants,
                0.02 * before_health.participants);
    EXPECT_NEAR(after[v1::SCHEME_COMPULSORY_SOCIAL].participants, before_compulsory,
                0.02 * before_compulsory);
  }
}

// common.proto: a 2025 figure for a reused code is the new unit's; old units whose code ended
// with the reform keep their own 2025 figure. Never two figures for one (code, year, kind).
TEST_F(SampleDataTest, DenominatorsFollowTheReusedCodeRule) {
  std::vector<v1::DenominatorRecord> all = Value(data_->Denominators({"VN"}, 2025, 2025));
  std::set<std::pair<std::string, int>> seen;
  for (const v1::DenominatorRecord& d : all) {
    EXPECT_TRUE(seen.insert({d.unit_code(), d.kind()}).second) << d.unit_code();
  }
  std::vector<std::string> new_leaves = Value(data_->Leaves({"VN"}, M("2025-12")));
  std::vector<std::string> old_leaves = Value(data_->Leaves({"VN"}, M("2025-06")));
  std::set<std::string> new_set(new_leaves.begin(), new_leaves.end());
  size_t old_only = 0;
  for (const std::string& code : old_leaves) {
    old_only += new_set.count(code) == 0;
  }
  EXPECT_EQ(seen.size(), (new_leaves.size() + old_only) * 2);
  // A 2025 figure for a reused code equals the new commune's in the year-end hierarchy.
  std::vector<v1::DenominatorRecord> year_end =
      Value(data_->Denominators({"VN"}, 2025, 2025, "2025-12-31"));
  EXPECT_EQ(year_end.size(), new_leaves.size() * 2);
  for (size_t i = 0; i < year_end.size(); ++i) {
    EXPECT_EQ(all[i].SerializeAsString(), year_end[i].SerializeAsString());
  }
}

}  // namespace
}  // namespace covtrack::sampledata
