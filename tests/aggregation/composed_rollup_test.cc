// Rollups composed from memoised subtree summaries (rollup.h SummaryMemo) against rollups from
// scratch, on a slice of the real catalogue (data/vn-admin-units) across the 2025 reform, after
// every one of a long run of random writes: the memo must drop exactly enough.
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/domain.h"
#include "common/hierarchy/hierarchy.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "services/aggregation/rollup.h"
#include "tests/testing/builders.h"

namespace covtrack::aggregation {
namespace {

using testing::Denominator;
using testing::Record;
using testing::Unit;

constexpr char kReform[] = "2025-07-01";

v1::AdminLevel Level(const std::string& text) {
  if (text == "province") {
    return v1::ADMIN_LEVEL_PROVINCE;
  }
  return text == "district" ? v1::ADMIN_LEVEL_DISTRICT : v1::ADMIN_LEVEL_COMMUNE;
}

// The units of `file` under the provinces `provinces` (codes), valid in [from, to).
std::vector<v1::AdminUnit> Slice(const std::string& file, const std::vector<std::string>& provinces,
                                 const std::string& from, const std::string& to) {
  std::ifstream in(absl::StrCat(COVTRACK_SOURCE_DIR, "/data/vn-admin-units/", file));
  EXPECT_TRUE(in.good()) << file;
  std::string line;
  std::getline(in, line);  // header: code,name,level,type,parent_code (a name may hold commas)
  std::vector<std::vector<std::string>> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> row = absl::StrSplit(line, ',');
    if (row.size() >= 5) {
      rows.push_back({row[0], row[row.size() - 3], row.back()});
    }
  }
  absl::flat_hash_set<std::string> kept(provinces.begin(), provinces.end());
  std::vector<v1::AdminUnit> units;
  // Parents come before their children in the catalogue; two passes make sure of it anyway.
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& row : rows) {
      const bool province = row[1] == "province";
      if ((province && kept.contains(row[0])) || (!province && kept.contains(row[2]))) {
        kept.insert(row[0]);
      }
    }
  }
  for (const auto& row : rows) {
    if (kept.contains(row[0])) {
      units.push_back(Unit(row[0], Level(row[1]), row[1] == "province" ? "" : row[2], from, to));
    }
  }
  return units;
}

class ComposedRollupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Old 02 and 08 became new 08, old 04 stayed 04 (merge_map_2025.csv); commune codes are
    // reused across the reform, so codes have two versions.
    units_ = Slice("units_2025-03-01.csv", {"02", "04", "08"}, "", kReform);
    for (v1::AdminUnit& u : Slice("units_2025-07-01.csv", {"04", "08"}, kReform, "")) {
      units_.push_back(std::move(u));
    }
    auto hierarchy = std::make_shared<const Hierarchy>(units_);
    tree_ = std::make_unique<TreeIndex>(hierarchy, units_);
    for (const v1::AdminUnit& u : units_) {
      codes_.push_back(u.code());
      if (u.level() != v1::ADMIN_LEVEL_COMMUNE) {
        internal_.push_back(u.code());
      }
    }
  }

  std::vector<v1::AdminUnit> units_;
  std::unique_ptr<TreeIndex> tree_;
  std::vector<std::string> codes_;     // every unit version's code
  std::vector<std::string> internal_;  // provinces and districts
};

std::string Describe(const absl::StatusOr<v1::Coverage>& c) {
  return c.ok() ? c->ShortDebugString() : c.status().ToString();
}

TEST_F(ComposedRollupTest, ComposedEqualsFromScratchAfterEveryWrite) {
  ASSERT_GT(internal_.size(), 30u);
  ASSERT_GT(codes_.size(), 600u);
  CoverageData data;
  SummaryMemo memo(100000);
  SummaryMemo small(64);  // turns its generations over all the time
  std::mt19937 random(10);
  auto pick = [&random](const auto& list) {
    return list[std::uniform_int_distribution<size_t>(0, list.size() - 1)(random)];
  };
  auto chance = [&random](int percent) {
    return std::uniform_int_distribution<int>(0, 99)(random) < percent;
  };
  const std::vector<std::string> periods = {"2024",    "2025",    "2024-H2", "2025-H1", "2025-H2",
                                            "2024-Q4", "2025-Q2", "2025-Q3", "2024-12", "2025-03",
                                            "2025-06", "2025-07", "2025-12"};
  int compared = 0;
  int errors = 0;
  for (int write = 0; write < 400; ++write) {
    // Mostly communes' records; a unit above sometimes reports its own figure; out-of-range
    // counts now and then (the rollup is then an error until they are written over).
    const std::string code = chance(80) ? pick(codes_) : pick(internal_);
    if (chance(85)) {
      const std::string month = absl::StrFormat("%d-%02d", chance(50) ? 2024 : 2025,
                                                std::uniform_int_distribution<int>(1, 12)(random));
      const auto scheme = pick(kReportedSchemes);
      const int64_t participants =
          chance(2) ? kMaxPeople + 1 : std::uniform_int_distribution<int64_t>(0, 50000)(random);
      std::optional<int64_t> in_province;
      if (chance(70)) {
        in_province = participants / 2;
      }
      data.AddRecord(Record(code, month, scheme, participants, in_province));
      const int index = Month::Parse(month)->Index();
      memo.TouchMonth(*tree_, code, index);
      small.TouchMonth(*tree_, code, index);
    } else {
      const int year = chance(50) ? 2024 : 2025;
      const auto kind =
          chance(50) ? v1::DENOMINATOR_KIND_POPULATION : v1::DENOMINATOR_KIND_LABOR_FORCE;
      const int64_t value =
          chance(2) ? -1 : std::uniform_int_distribution<int64_t>(0, 900000)(random);
      data.AddDenominator(Denominator(code, year, kind, value));
      memo.TouchYear(*tree_, code, year);
      small.TouchYear(*tree_, code, year);
    }
    // The nation and the written unit's ancestors, for periods around the write, and a few
    // others: every answer asked before may have been kept, and must have been dropped if the
    // write changed it.
    std::vector<std::string> asked = {"VN", "02", "04", "08", code, pick(internal_)};
    for (int q = 0; q < 10; ++q) {
      const std::string unit = pick(asked);
      const Period period = *Period::Parse(pick(periods));
      const absl::StatusOr<v1::Coverage> scratch = RollupCoverage(*tree_, data, unit, period);
      for (SummaryMemo* m : {&memo, &small}) {
        const absl::StatusOr<v1::Coverage> composed = RollupCoverage(*tree_, data, unit, period, m);
        ++compared;
        ASSERT_EQ(composed.status(), scratch.status())
            << "write " << write << ": " << unit << " " << period.ToString();
        if (scratch.ok()) {
          ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*composed, *scratch))
              << "write " << write << " (" << code << "): " << unit << " " << period.ToString()
              << "\ncomposed: " << Describe(composed) << "\nscratch:  " << Describe(scratch);
        } else {
          ++errors;
        }
      }
    }
  }
  // The comparison is only worth something if answers were composed from summaries, and the
  // faults were met along the way.
  EXPECT_GT(memo.stats().hits, 1000);
  EXPECT_GT(memo.stats().dropped, 100);
  EXPECT_LE(small.stats().entries, 64u);
  EXPECT_GT(errors, 0);
  EXPECT_LT(errors, compared);
}

// A summary of a subtree is kept per unit version: after the reform, a code reused by a new
// commune (another parent) reads the new version's figures, and the old province's summary is
// not the new one's.
TEST_F(ComposedRollupTest, ReusedCodesAcrossTheReformKeepTheirOwnSummaries) {
  CoverageData data;
  SummaryMemo memo(1000);
  for (const v1::AdminUnit& u : units_) {
    if (u.level() == v1::ADMIN_LEVEL_COMMUNE) {
      data.AddRecord(Record(u.code(), "2025-06", v1::SCHEME_HEALTH, 100));
      data.AddRecord(Record(u.code(), "2025-12", v1::SCHEME_HEALTH, 200));
    }
  }
  for (const char* period : {"2025-H1", "2025-H2", "2025"}) {
    for (const char* unit : {"VN", "04", "08"}) {
      const Period p = *Period::Parse(period);
      const absl::StatusOr<v1::Coverage> scratch = RollupCoverage(*tree_, data, unit, p);
      ASSERT_TRUE(scratch.ok()) << scratch.status();
      for (int round = 0; round < 2; ++round) {  // the second reads the kept summaries
        const absl::StatusOr<v1::Coverage> composed = RollupCoverage(*tree_, data, unit, p, &memo);
        ASSERT_TRUE(composed.ok()) << composed.status();
        EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*composed, *scratch))
            << unit << " " << period << "\n"
            << composed->ShortDebugString() << "\n"
            << scratch->ShortDebugString();
      }
    }
  }
  EXPECT_GT(memo.stats().hits, 0);
}

}  // namespace
}  // namespace covtrack::aggregation
