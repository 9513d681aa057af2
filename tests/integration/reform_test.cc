// Issue 9's "Must show", through the real services: ingestion, aggregation and targets in-process
// on loopback ports over gRPC (SQLite stores), covctl as a real process. The real catalogue
// (data/vn-admin-units, 63 provinces before 2025-07-01, 34 after) is imported, and the SHIPPED
// merger map is imported as crosswalk links with `covctl crosswalk import`. The test reads the
// map file itself to know each new unit's predecessors, and sums their figures on its own,
// independently of the services.
//
// Figures (deterministic, see Figure()):
// - every old province: its own province-level figures for every scheme at 2024-12 and its
//   2024 population and labour force;
// - old 82 Tiền Giang and old 87 Đồng Tháp: health every month 2024-01 .. 2025-06; the new 82
//   Đồng Tháp: health 2025-07 .. 2025-12;
// - a few old communes (those merged into the two new communes the commune case reads):
//   health at 2024-12, multiples of 4 so that shares of 1/4 and 3/4 give whole people;
// - every new province: its own health and compulsory figures at 2025-12 and its 2025
//   population and labour force (which belong to the new units: the codes are theirs on
//   31 December 2025).

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/period.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/aggregation/aggregation_harness.h"
#include "tests/targets/targets_harness.h"
#include "tests/testing/builders.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/tools/covctl_runner.h"
#include "tools/sampledata/csv.h"
#include "tools/sampledata/sample_data.h"

namespace covtrack {
namespace {

using ::covtrack::testing::AggregationHarness;
using ::covtrack::testing::Denominator;
using ::covtrack::testing::IngestionHarness;
using ::covtrack::testing::IsOk;
using ::covtrack::testing::Record;
using ::testing::HasSubstr;

constexpr v1::Scheme kReported[] = {v1::SCHEME_COMPULSORY_SOCIAL, v1::SCHEME_VOLUNTARY_SOCIAL,
                                    v1::SCHEME_HEALTH, v1::SCHEME_UNEMPLOYMENT};

// One row of the shipped map.
struct MapRow {
  std::string old_code;
  std::string new_code;
  std::string level;
};

// The shipped map, read by the test on its own.
std::vector<MapRow> ReadMap() {
  absl::StatusOr<std::string> text =
      sampledata::ReadFileToString(sampledata::DefaultDataDir() + "/merge_map_2025.csv");
  EXPECT_THAT(text, IsOk());
  absl::StatusOr<sampledata::CsvTable> table = sampledata::ParseCsv(*text);
  EXPECT_THAT(table, IsOk());
  EXPECT_EQ(table->header, (std::vector<std::string>{"old_code", "new_code", "level"}));
  std::vector<MapRow> rows;
  for (const sampledata::CsvRow& row : table->rows) {
    rows.push_back({row.fields.at(0), row.fields.at(1), row.fields.at(2)});
  }
  return rows;
}

int64_t CodeNumber(const std::string& code) { return std::stoll(code); }

// Deterministic figures of an old province (or the new 82) for a month and scheme, and its
// denominators: different for every province, growing by month.
int64_t Population(const std::string& code) { return 700000 + (CodeNumber(code) * 7919) % 2500000; }
int64_t LaborForce(const std::string& code) {
  return Population(code) * 56 / 100 + CodeNumber(code);
}
int64_t Figure(const std::string& code, const std::string& month, v1::Scheme scheme) {
  Month m = Month::Parse(month).value();
  int64_t growth = (m.year - 2024) * 12 + m.month;
  int64_t c = CodeNumber(code);
  switch (scheme) {
    case v1::SCHEME_HEALTH:
      return Population(code) * (84 + c % 9) / 100 + growth * 150;
    case v1::SCHEME_COMPULSORY_SOCIAL:
      return LaborForce(code) * (24 + c % 7) / 100 + growth * 40;
    case v1::SCHEME_VOLUNTARY_SOCIAL:
      return LaborForce(code) * (3 + c % 4) / 100 + growth * 9;
    case v1::SCHEME_UNEMPLOYMENT:
      return LaborForce(code) * (22 + c % 6) / 100 + growth * 31;
    default:
      return 0;
  }
}

const v1::SchemeCoverage* SchemeOf(const v1::Coverage& c, v1::Scheme s) {
  for (const v1::SchemeCoverage& sc : c.schemes()) {
    if (sc.scheme() == s) {
      return &sc;
    }
  }
  return nullptr;
}

class ReformTest : public ::testing::Test {
 protected:
  // One system for the whole suite: importing the catalogue and the map takes seconds.
  static void SetUpTestSuite() {
    map_ = new std::vector<MapRow>(ReadMap());
    ingestion_ = IngestionHarness::Start().release();
    absl::StatusOr<std::unique_ptr<sampledata::SampleData>> data = sampledata::SampleData::Load();
    ASSERT_THAT(data, IsOk());
    testing::ImportUnits(ingestion_->stub(), (*data)->units(), "catalogue");

    aggregation_ = AggregationHarness::Start(ingestion_->address()).release();
    targets_ = testing::TargetsHarness::Start(aggregation_->address(), ingestion_->address(),
                                              absl::Seconds(30))
                   .release();

    // The shipped map, as the demo loads it.
    std::string map = sampledata::DefaultDataDir() + "/merge_map_2025_detail.csv";
    if (!sampledata::ReadFileToString(map).ok()) {
      map = sampledata::DefaultDataDir() + "/merge_map_2025.csv";
    }
    testing::CovctlRun imported =
        Covctl({"crosswalk", "import", map, "--effective_date=2025-07-01", "--format=csv"});
    ASSERT_EQ(imported.exit_code, 0) << imported.err << imported.out;
    EXPECT_THAT(imported.err, HasSubstr("sending 10,667 links"));

    SubmitFigures();
  }

  static void TearDownTestSuite() {
    delete targets_;
    delete aggregation_;
    delete ingestion_;
    delete map_;
  }

  static testing::CovctlRun Covctl(std::vector<std::string> args) {
    args.push_back("--server=" + ingestion_->address());
    args.push_back("--aggregation_server=" + aggregation_->address());
    args.push_back("--targets_server=" + targets_->address());
    args.push_back("--timeout=60s");
    return testing::RunCovctl(args);
  }

  static std::vector<std::string> OldProvinces() {
    std::vector<std::string> codes;
    for (const MapRow& row : *map_) {
      if (row.level == "province") {
        codes.push_back(row.old_code);
      }
    }
    return codes;
  }

  static std::set<std::string> NewProvinces() {
    std::set<std::string> codes;
    for (const MapRow& row : *map_) {
      if (row.level == "province") {
        codes.insert(row.new_code);
      }
    }
    return codes;
  }

  // new province code -> its predecessors' codes, from the map file.
  static std::map<std::string, std::vector<std::string>> ProvincePredecessors() {
    std::map<std::string, std::vector<std::string>> predecessors;
    for (const MapRow& row : *map_) {
      if (row.level == "province") {
        predecessors[row.new_code].push_back(row.old_code);
      }
    }
    return predecessors;
  }

  // How many rows of the map each old code is on (more than one: split, share unknown).
  static std::map<std::string, int> RowsPerOldCode() {
    std::map<std::string, int> rows;
    for (const MapRow& row : *map_) {
      ++rows[row.old_code];
    }
    return rows;
  }

  // The first new commune of the map (in file order) whose predecessors are all whole, at
  // least `min` of them, or which mixes whole predecessors with ones split in two exactly.
  static std::string PickCommune(bool mixed, size_t min) {
    std::map<std::string, int> rows = RowsPerOldCode();
    std::map<std::string, std::vector<std::string>> by_new;
    std::vector<std::string> order;
    for (const MapRow& row : *map_) {
      if (row.level == "commune") {
        if (by_new[row.new_code].empty()) {
          order.push_back(row.new_code);
        }
        by_new[row.new_code].push_back(row.old_code);
      }
    }
    for (const std::string& code : order) {
      const std::vector<std::string>& olds = by_new[code];
      size_t whole = 0;
      size_t split_in_two = 0;
      for (const std::string& old : olds) {
        whole += rows[old] == 1 ? 1 : 0;
        split_in_two += rows[old] == 2 ? 1 : 0;
      }
      bool fits = mixed ? whole >= 1 && split_in_two >= 1 && whole + split_in_two == olds.size()
                        : whole == olds.size();
      if (fits && olds.size() >= min) {
        return code;
      }
    }
    ADD_FAILURE() << "no such commune in the map";
    return "";
  }

  static std::vector<std::string> CommunePredecessors(const std::string& code) {
    std::vector<std::string> olds;
    for (const MapRow& row : *map_) {
      if (row.level == "commune" && row.new_code == code) {
        olds.push_back(row.old_code);
      }
    }
    return olds;
  }

  // An old commune's 2024-12 health figure: a multiple of 4.
  static int64_t CommuneFigure(const std::string& code) {
    return 4 * (1000 + CodeNumber(code) % 977);
  }

  static void SubmitFigures() {
    std::vector<v1::ParticipationRecord> records;
    std::vector<v1::DenominatorRecord> denominators;
    for (const std::string& code : OldProvinces()) {
      for (v1::Scheme scheme : kReported) {
        records.push_back(Record(code, "2024-12", scheme, Figure(code, "2024-12", scheme)));
      }
      denominators.push_back(
          Denominator(code, 2024, v1::DENOMINATOR_KIND_POPULATION, Population(code)));
      denominators.push_back(
          Denominator(code, 2024, v1::DENOMINATOR_KIND_LABOR_FORCE, LaborForce(code)));
    }
    // The months of the series (December 2024 is above already).
    for (Month m = Month::Parse("2024-01").value(); m <= Month::Parse("2025-12").value();
         m = m.Next()) {
      std::string month = m.ToString();
      if (month == "2024-12" || month == "2025-12") {
        continue;  // given above
      }
      // Before the reform the codes name old 82 and old 87; from 2025-07 82 is the new unit.
      std::vector<std::string> codes =
          month < "2025-07" ? std::vector<std::string>{"82", "87"} : std::vector<std::string>{"82"};
      for (const std::string& code : codes) {
        records.push_back(Record(code, month, v1::SCHEME_HEALTH, NewOrOldFigure(code, month)));
      }
    }
    for (const std::string& code : NewProvinces()) {
      for (v1::Scheme scheme : {v1::SCHEME_HEALTH, v1::SCHEME_COMPULSORY_SOCIAL}) {
        records.push_back(Record(code, "2025-12", scheme, NewProvinceFigure(code, scheme)));
      }
      denominators.push_back(
          Denominator(code, 2025, v1::DENOMINATOR_KIND_POPULATION, NewProvincePopulation(code)));
      denominators.push_back(
          Denominator(code, 2025, v1::DENOMINATOR_KIND_LABOR_FORCE, NewProvinceLaborForce(code)));
    }
    for (const std::string& commune :
         {PickCommune(/*mixed=*/false, 3), PickCommune(/*mixed=*/true, 2)}) {
      for (const std::string& old : CommunePredecessors(commune)) {
        records.push_back(Record(old, "2024-12", v1::SCHEME_HEALTH, CommuneFigure(old)));
      }
    }
    testing::Submit(ingestion_->stub(), records, denominators, "figures");
  }

  // A new province at 2025: the sum of its predecessors' 2024-12 figures and denominators, grown
  // a little. (82's health at 2025-12 is the series' own figure.)
  static int64_t NewProvincePopulation(const std::string& code) {
    int64_t sum = 0;
    const std::map<std::string, std::vector<std::string>> predecessors = ProvincePredecessors();
    for (const std::string& old : predecessors.at(code)) {
      sum += Population(old);
    }
    return sum + 1000;
  }
  static int64_t NewProvinceLaborForce(const std::string& code) {
    int64_t sum = 0;
    const std::map<std::string, std::vector<std::string>> predecessors = ProvincePredecessors();
    for (const std::string& old : predecessors.at(code)) {
      sum += LaborForce(old);
    }
    return sum + 600;
  }
  static int64_t NewProvinceFigure(const std::string& code, v1::Scheme scheme) {
    if (code == "82" && scheme == v1::SCHEME_HEALTH) {
      return NewOrOldFigure("82", "2025-12");
    }
    int64_t sum = 0;
    const std::map<std::string, std::vector<std::string>> predecessors = ProvincePredecessors();
    for (const std::string& old : predecessors.at(code)) {
      sum += Figure(old, "2024-12", scheme);
    }
    return sum + 500;
  }

  // Health of code 82 or 87 in a month of the series: the new 82 (from 2025-07) gets a figure of
  // its own, close to the sum of the old two.
  static int64_t NewOrOldFigure(const std::string& code, const std::string& month) {
    if (month >= "2025-07") {
      return Figure("82", month, v1::SCHEME_HEALTH) + Figure("87", month, v1::SCHEME_HEALTH) + 7;
    }
    return Figure(code, month, v1::SCHEME_HEALTH);
  }

  static v1::Coverage GetCoverage(const std::string& unit, const std::string& period,
                                  const std::string& territory_date) {
    v1::GetCoverageRequest request;
    request.set_unit_code(unit);
    request.set_period(period);
    request.set_territory_date(territory_date);
    request.add_schemes(v1::SCHEME_HEALTH);
    v1::Coverage coverage;
    grpc::ClientContext context;
    EXPECT_THAT(aggregation_->stub().GetCoverage(&context, request, &coverage), IsOk());
    return coverage;
  }

  static std::vector<MapRow>* map_;
  static IngestionHarness* ingestion_;
  static AggregationHarness* aggregation_;
  static testing::TargetsHarness* targets_;
};

std::vector<MapRow>* ReformTest::map_ = nullptr;
IngestionHarness* ReformTest::ingestion_ = nullptr;
AggregationHarness* ReformTest::aggregation_ = nullptr;
testing::TargetsHarness* ReformTest::targets_ = nullptr;

TEST_F(ReformTest, The34ProvincesIn2024AreTheSumsOfTheirPredecessorsExactly) {
  std::map<std::string, std::vector<std::string>> predecessors = ProvincePredecessors();
  ASSERT_EQ(predecessors.size(), 34u);
  ASSERT_EQ(OldProvinces().size(), 63u);

  v1::ListCoverageRequest request;
  request.set_parent_code("VN");
  request.set_period("2024");
  request.set_territory_date("2025-07-01");
  request.set_page_size(10);  // four pages
  std::vector<v1::Coverage> coverages;
  do {
    v1::ListCoverageResponse page;
    grpc::ClientContext context;
    ASSERT_THAT(aggregation_->stub().ListCoverage(&context, request, &page), IsOk());
    coverages.insert(coverages.end(), page.coverages().begin(), page.coverages().end());
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  ASSERT_EQ(coverages.size(), 34u);

  std::set<std::string> seen;
  for (const v1::Coverage& coverage : coverages) {
    const std::string& code = coverage.unit().code();
    SCOPED_TRACE(code);
    ASSERT_EQ(predecessors.count(code), 1u);
    EXPECT_TRUE(seen.insert(code).second);
    EXPECT_EQ(coverage.unit().valid_from(), "2025-07-01");
    const std::vector<std::string>& olds = predecessors[code];
    for (v1::Scheme scheme : {v1::SCHEME_COMPULSORY_SOCIAL, v1::SCHEME_VOLUNTARY_SOCIAL,
                              v1::SCHEME_HEALTH, v1::SCHEME_UNEMPLOYMENT, v1::SCHEME_SOCIAL}) {
      SCOPED_TRACE(scheme);
      int64_t participants = 0;
      int64_t denominator = 0;
      for (const std::string& old : olds) {
        participants += scheme == v1::SCHEME_SOCIAL
                            ? Figure(old, "2024-12", v1::SCHEME_COMPULSORY_SOCIAL) +
                                  Figure(old, "2024-12", v1::SCHEME_VOLUNTARY_SOCIAL)
                            : Figure(old, "2024-12", scheme);
        denominator += scheme == v1::SCHEME_HEALTH ? Population(old) : LaborForce(old);
      }
      const v1::SchemeCoverage* s = SchemeOf(coverage, scheme);
      ASSERT_NE(s, nullptr);
      EXPECT_EQ(s->reexpression().kind(), v1::REEXPRESSION_KIND_EXACT)
          << s->reexpression().reason();
      EXPECT_EQ(s->as_of_month(), "2024-12");
      EXPECT_EQ(s->participants(), participants);
      EXPECT_EQ(s->denominator(), denominator);
      EXPECT_NEAR(s->coverage_percent(), 100.0 * static_cast<double>(participants) / denominator,
                  1e-9);
    }
  }
}

TEST_F(ReformTest, CovctlListsTheImportedLinksPageByPage) {
  testing::CovctlRun merged = Covctl({"crosswalk", "list", "--code=82", "--format=csv"});
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  EXPECT_EQ(merged.out,
            "effective_date,from_code,from_valid_from,to_code,to_valid_from,population_share,"
            "labor_force_share\n"
            "2025-07-01,82,,82,2025-07-01,1,\n"
            "2025-07-01,87,,82,2025-07-01,1,\n");
  // The whole map: more links than one page of ListCrosswalk (at most 10,000).
  testing::CovctlRun all = Covctl({"crosswalk", "list", "--format=csv"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(std::count(all.out.begin(), all.out.end(), '\n'), 1 + 10667);
}

TEST_F(ReformTest, ANewCommuneIsExactEstimatedOrAbsentAsItsSharesAre) {
  // Whole pieces only: the sum, exact.
  const std::string whole = PickCommune(/*mixed=*/false, 3);
  int64_t sum = 0;
  for (const std::string& old : CommunePredecessors(whole)) {
    sum += CommuneFigure(old);
  }
  {
    v1::Coverage coverage = GetCoverage(whole, "2024", "2025-07-01");
    const v1::SchemeCoverage* health = SchemeOf(coverage, v1::SCHEME_HEALTH);
    ASSERT_NE(health, nullptr);
    EXPECT_EQ(health->reexpression().kind(), v1::REEXPRESSION_KIND_EXACT) << whole;
    EXPECT_EQ(health->participants(), sum) << whole;
    EXPECT_EQ(coverage.predecessors_size(), static_cast<int>(CommunePredecessors(whole).size()));
  }

  // Whole and split pieces, the split shares unknown (as shipped): absent, with the reason.
  const std::string mixed = PickCommune(/*mixed=*/true, 2);
  std::map<std::string, int> rows = RowsPerOldCode();
  {
    v1::Coverage coverage = GetCoverage(mixed, "2024", "2025-07-01");
    const v1::SchemeCoverage* health = SchemeOf(coverage, v1::SCHEME_HEALTH);
    ASSERT_NE(health, nullptr);
    EXPECT_EQ(health->reexpression().kind(), v1::REEXPRESSION_KIND_ABSENT) << mixed;
    EXPECT_THAT(health->reexpression().reason(), HasSubstr(mixed));  // the link in question
    EXPECT_FALSE(health->has_participants());
    EXPECT_FALSE(health->has_coverage_percent());
    testing::CovctlRun shown =
        Covctl({"coverage", mixed, "2024", "--territory_date=2025-07-01", "--schemes=health"});
    ASSERT_EQ(shown.exit_code, 0) << shown.err;
    EXPECT_THAT(shown.out, HasSubstr("absent: " + health->reexpression().reason()));
  }

  // The shares learnt later, imported as a new revision: 1/4 of each split commune went to
  // `mixed`, 3/4 to its other successor.
  std::string csv = "old_code,new_code,population_share\n";
  int64_t expected = 0;
  int64_t estimated = 0;
  for (const std::string& old : CommunePredecessors(mixed)) {
    if (rows[old] == 1) {
      expected += CommuneFigure(old);
      continue;
    }
    for (const MapRow& row : *map_) {
      if (row.old_code == old) {
        absl::StrAppend(&csv, old, ",", row.new_code, ",", row.new_code == mixed ? "0.25" : "0.75",
                        "\n");
      }
    }
    expected += CommuneFigure(old) / 4;
    estimated += CommuneFigure(old) / 4;
  }
  testing::CovctlRun shares = Covctl({"crosswalk", "import", testing::WriteFile("shares.csv", csv),
                                      "--effective_date=2025-07-01", "--source=test survey"});
  ASSERT_EQ(shares.exit_code, 0) << shares.err;
  v1::Coverage coverage = GetCoverage(mixed, "2024", "2025-07-01");
  const v1::SchemeCoverage* health = SchemeOf(coverage, v1::SCHEME_HEALTH);
  ASSERT_NE(health, nullptr);
  EXPECT_EQ(health->reexpression().kind(), v1::REEXPRESSION_KIND_ESTIMATED) << mixed;
  EXPECT_EQ(health->participants(), expected);
  EXPECT_NEAR(health->reexpression().estimated_part(),
              static_cast<double>(estimated) / static_cast<double>(expected), 1e-9);

  // covctl says how the figure was obtained.
  testing::CovctlRun shown =
      Covctl({"coverage", mixed, "2024", "--territory_date=2025-07-01", "--schemes=health"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_THAT(shown.out, HasSubstr("estimated ("));
  EXPECT_THAT(shown.out, HasSubstr("re-expressed from"));
}

TEST_F(ReformTest, TheSeriesOfTheNew82RunsAcrossTheReformWithEveryMonth) {
  v1::GetCoverageSeriesRequest request;
  request.set_unit_code("82");
  request.set_scheme(v1::SCHEME_HEALTH);
  request.set_from_month("2024-01");
  request.set_to_month("2025-12");
  v1::CoverageSeries series;
  grpc::ClientContext context;
  ASSERT_THAT(aggregation_->stub().GetCoverageSeries(&context, request, &series), IsOk());
  EXPECT_EQ(series.unit().valid_from(), "2025-07-01");
  ASSERT_EQ(series.months_size(), 24);
  Month month = Month::Parse("2024-01").value();
  for (const v1::SchemeCoverageAtMonth& at : series.months()) {
    std::string m = month.ToString();
    SCOPED_TRACE(m);
    EXPECT_EQ(at.month(), m);
    EXPECT_EQ(at.coverage().as_of_month(), m);
    int64_t expected =
        m < "2025-07" ? NewOrOldFigure("82", m) + NewOrOldFigure("87", m) : NewOrOldFigure("82", m);
    EXPECT_EQ(at.coverage().participants(), expected);
    EXPECT_EQ(at.coverage().reexpression().kind(),
              m < "2025-07" ? v1::REEXPRESSION_KIND_EXACT : v1::REEXPRESSION_KIND_SAME_UNIT);
    month = month.Next();
  }
}

// 2025 targets were assigned to the 63 old provinces before the merger (Decision 546/QĐ-TTg
// for health insurance coverage); each new province has none of its own, so its target is
// re-expressed from its predecessors': participants as the sum, coverage weighted by the
// predecessors' denominators (of 2024: old 82 can have no 2025 figure, its code being the new
// 82's on 31 December 2025, and the service then weights every predecessor by the year before).
TEST_F(ReformTest, TargetsOfTheOldProvincesGiveEveryNewProvinceAnAchievement) {
  std::set<std::string> reused = NewProvinces();
  auto health_target = [](const std::string& old) { return 900000 + CodeNumber(old) * 1000; };
  auto compulsory_target = [](const std::string& old) { return 25.0 + CodeNumber(old) % 9; };
  for (const std::string& old : OldProvinces()) {
    for (bool coverage : {false, true}) {
      v1::SetTargetRequest set;
      set.set_request_id(absl::StrCat("target-2025-", old, coverage ? "-compulsory" : "-health"));
      v1::Target* t = set.mutable_target();
      t->set_unit_code(old);
      // Where the new hierarchy reuses the code, it names the new province on 31 December 2025.
      t->set_unit_as_of(reused.count(old) > 0 ? "2025-06-30" : "");
      t->set_year(2025);
      t->set_scheme(coverage ? v1::SCHEME_COMPULSORY_SOCIAL : v1::SCHEME_HEALTH);
      t->set_kind(coverage ? v1::TARGET_KIND_COVERAGE_PERCENT : v1::TARGET_KIND_PARTICIPANTS);
      t->set_value(coverage ? compulsory_target(old) : health_target(old));
      t->set_assigned_by("Thủ tướng Chính phủ");
      t->set_decision_ref("Quyết định số 546/QĐ-TTg");
      v1::Target stored;
      grpc::ClientContext context;
      ASSERT_THAT(targets_->stub().SetTarget(&context, set, &stored), IsOk()) << old;
    }
  }

  for (const auto& [code, olds] : ProvincePredecessors()) {
    SCOPED_TRACE(code);
    v1::GetAchievementRequest request;
    request.set_unit_code(code);
    request.set_period("2025-12");
    request.add_schemes(v1::SCHEME_HEALTH);
    request.add_schemes(v1::SCHEME_COMPULSORY_SOCIAL);
    v1::Achievement achievement;
    grpc::ClientContext context;
    ASSERT_THAT(targets_->stub().GetAchievement(&context, request, &achievement), IsOk());
    ASSERT_EQ(achievement.schemes_size(), 2);
    double health_sum = 0;
    double weighted = 0;
    double weights = 0;
    for (const std::string& old : olds) {
      health_sum += health_target(old);
      weighted += compulsory_target(old) * static_cast<double>(LaborForce(old));
      weights += static_cast<double>(LaborForce(old));
    }
    for (const v1::SchemeAchievement& a : achievement.schemes()) {
      SCOPED_TRACE(a.scheme());
      EXPECT_TRUE(a.target_reexpressed()) << a.note();
      EXPECT_EQ(a.source_targets_size(), static_cast<int>(olds.size()));
      ASSERT_TRUE(a.has_target()) << a.note();
      EXPECT_NE(a.status(), v1::ACHIEVEMENT_STATUS_NO_TARGET);
      EXPECT_NE(a.status(), v1::ACHIEVEMENT_STATUS_NO_DATA);
      EXPECT_EQ(a.actual_participants(), NewProvinceFigure(code, a.scheme()));
      if (a.scheme() == v1::SCHEME_HEALTH) {
        EXPECT_EQ(a.target().kind(), v1::TARGET_KIND_PARTICIPANTS);
        EXPECT_DOUBLE_EQ(a.target().value(), health_sum);
        EXPECT_NEAR(a.achievement_percent(),
                    100.0 * static_cast<double>(NewProvinceFigure(code, a.scheme())) / health_sum,
                    1e-6);
      } else {
        EXPECT_EQ(a.target().kind(), v1::TARGET_KIND_COVERAGE_PERCENT);
        EXPECT_NEAR(a.target().value(), weighted / weights, 1e-9);
        double actual = 100.0 * static_cast<double>(NewProvinceFigure(code, a.scheme())) /
                        static_cast<double>(NewProvinceLaborForce(code));
        EXPECT_NEAR(a.actual_coverage_percent(), actual, 1e-9);
        EXPECT_NEAR(a.points_vs_target(), actual - weighted / weights, 1e-9);
      }
    }
  }

  // covctl marks the target as re-expressed and names its sources.
  testing::CovctlRun shown =
      Covctl({"targets", "achievement", "82", "2025-12", "--schemes=health", "--format=csv"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_THAT(shown.out, HasSubstr("re-expressed from 82 (Quyết định số 546/QĐ-TTg), 87 "
                                   "(Quyết định số 546/QĐ-TTg)"));
}

// Bad crosswalk files are refused whole, with the line and field, and nothing is stored: the
// change feed does not move.
TEST_F(ReformTest, BadCrosswalkFilesAreRejectedWholeNamingRowAndField) {
  // A split commune none of the other cases reads, and its two successors.
  const std::vector<std::string> untouched = CommunePredecessors(PickCommune(true, 2));
  std::map<std::string, int> rows = RowsPerOldCode();
  std::string split;
  std::vector<std::string> successors;
  for (const MapRow& row : *map_) {
    if (rows[row.old_code] == 2 && row.level == "commune" &&
        std::find(untouched.begin(), untouched.end(), row.old_code) == untouched.end() &&
        (split.empty() || split == row.old_code)) {
      split = row.old_code;
      successors.push_back(row.new_code);
    }
  }
  ASSERT_EQ(successors.size(), 2u);
  // A share learnt for one of its two links (the other stays unknown): accepted.
  testing::CovctlRun known =
      Covctl({"crosswalk", "import",
              testing::WriteFile("known.csv", absl::StrCat("old_code,new_code,population_share\n",
                                                           split, ",", successors[0], ",0.7\n")),
              "--effective_date=2025-07-01"});
  ASSERT_EQ(known.exit_code, 0) << known.err;

  auto head = [] {
    v1::ChangeHead head;
    grpc::ClientContext context;
    EXPECT_THAT(ingestion_->stub().GetChangeHead(&context, v1::GetChangeHeadRequest(), &head),
                IsOk());
    return head.seq();
  };
  auto links_of = [](const std::string& code) {
    v1::ListCrosswalkRequest request;
    request.set_from_code(code);
    request.set_to_code(code);
    v1::ListCrosswalkResponse response;
    grpc::ClientContext context;
    EXPECT_THAT(ingestion_->stub().ListCrosswalk(&context, request, &response), IsOk());
    return response.SerializeAsString();
  };
  const int64_t before = head();
  const std::string split_links = links_of(split);
  const std::string links_82 = links_of("82");

  struct Case {
    std::string name;
    std::string csv;
    std::vector<std::string> expected;  // in covctl's stderr
  };
  const std::string header = "old_code,new_code,population_share\n";
  const std::vector<Case> cases = {
      {"shares not adding up",
       absl::StrCat(header, split, ",", successors[0], ",0.5\n", split, ",", successors[1],
                    ",0.4\n"),
       {":2: rejected by the server", "links[0].population_share", "add up to 0.9, not 1",
        "nothing was stored"}},
      {"shares above 1 (in the file)",
       absl::StrCat(header, split, ",", successors[0], ",0.6\n", split, ",", successors[1],
                    ",0.6\n"),
       {":3: population_share: the shares of " + split, "add up to 1.2, more than 1",
        "nothing was sent"}},
      {"shares not adding up (with the stored 0.7)",
       absl::StrCat(header, split, ",", successors[1], ",0.5\n"),
       {":2: rejected by the server", "links[0].population_share", "more than 1",
        "nothing was stored"}},
      {"unknown unit version",
       absl::StrCat(header, "87,82,1\n", "99999,82,1\n"),
       {":3: rejected by the server", "links[1].from_code", "unknown unit version"}},
      {"a link into the past",
       absl::StrCat(header, "82,87,1\n"),
       {":2: rejected by the server", "links[0].to_code", "a link into the past"}},
      // With the versions meeting at the effective date, a link always runs forward in time, so
      // a cycle of codes can only be written with a link that runs back: refused for that.
      {"a cycle of codes (87 -> 82 -> 87)",
       absl::StrCat(header, "87,82,1\n", "82,87,1\n"),
       {":3: rejected by the server", "links[1].to_code", "a link into the past"}},
      {"a duplicate",
       absl::StrCat(header, "87,82,1\n", "87,82,1\n"),
       {":3: the link 87 -> 82 from 2025-07-01 is already on line 2", "nothing was sent"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    testing::CovctlRun run = Covctl({"crosswalk", "import", testing::WriteFile("bad.csv", c.csv),
                                     "--effective_date=2025-07-01"});
    EXPECT_EQ(run.exit_code, 1) << run.err;
    for (const std::string& expected : c.expected) {
      EXPECT_THAT(run.err, HasSubstr(expected));
    }
  }
  EXPECT_EQ(head(), before);
  EXPECT_EQ(links_of(split), split_links);
  EXPECT_EQ(links_of("82"), links_82);
}

}  // namespace
}  // namespace covtrack
