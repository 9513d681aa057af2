// Figures in the reader's territory through the real services: a real ingestion service
// in-process (SQLite) holding a real slice of the catalogue and the 2025 crosswalk (links
// imported with ImportCrosswalk), the real aggregation service over gRPC on loopback.
//
// The slice (data/vn-admin-units, merge_map_2025.csv): old provinces 82 Tiền Giang (district
// 815 Mỹ Tho: communes 28270, 28591) and 87 Đồng Tháp (district 871 Tam Nông: 30004, 30025;
// district 873 Cao Lãnh: 30079, 30088), until 2025-07-01; from then the new 82 Đồng Tháp with
// the communes 28270 (old 28270 + 28591, whole), 30025 (old 30004 + 30025 whole, part of 30079)
// and 30088 (part of 30079, old 30088 whole).
#include <grpcpp/grpcpp.h>

#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/aggregation/aggregation_harness.h"
#include "tests/testing/builders.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/status_matchers.h"

namespace covtrack::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kReform[] = "2025-07-01";
constexpr v1::AdminLevel kProvince = v1::ADMIN_LEVEL_PROVINCE;
constexpr v1::AdminLevel kDistrict = v1::ADMIN_LEVEL_DISTRICT;
constexpr v1::AdminLevel kCommune = v1::ADMIN_LEVEL_COMMUNE;

const v1::SchemeCoverage& Scheme(const v1::Coverage& c, v1::Scheme s) {
  for (const auto& sc : c.schemes()) {
    if (sc.scheme() == s) {
      return sc;
    }
  }
  ADD_FAILURE() << "no scheme " << s << " in " << c.ShortDebugString();
  static const v1::SchemeCoverage empty;
  return empty;
}

v1::CrosswalkLink Link(const std::string& from, const std::string& to,
                       std::optional<double> population_share,
                       std::optional<double> labor_force_share = std::nullopt) {
  v1::CrosswalkLink link;
  link.set_from_code(from);
  link.set_to_code(to);
  link.set_effective_date(kReform);
  if (population_share.has_value()) {
    link.set_population_share(*population_share);
  }
  if (labor_force_share.has_value()) {
    link.set_labor_force_share(*labor_force_share);
  }
  return link;
}

v1::ImportCrosswalkResponse ImportLinks(v1::IngestionService::Stub& stub,
                                        const std::vector<v1::CrosswalkLink>& links,
                                        const std::string& request_id) {
  v1::ImportCrosswalkRequest request;
  request.set_request_id(request_id);
  request.set_source("Nghị quyết 1663/NQ-UBTVQH15");
  for (const v1::CrosswalkLink& link : links) {
    *request.add_links() = link;
  }
  v1::ImportCrosswalkResponse response;
  grpc::ClientContext context;
  const grpc::Status status = stub.ImportCrosswalk(&context, request, &response);
  EXPECT_THAT(status, IsOk());
  return response;
}

// A deterministic stock for (unit, month): distinct per unit, growing by month.
int64_t Stock(const std::string& code, int month_index) {
  return std::stoll(code) % 10000 * 10 + month_index % 100;
}

class TerritoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ingestion_ = IngestionHarness::Start();
    ImportUnits(ingestion_->stub(),
                {Unit("82", kProvince, "", "", kReform, "Tỉnh Tiền Giang"),
                 Unit("815", kDistrict, "82", "", kReform, "Thành phố Mỹ Tho"),
                 Unit("28270", kCommune, "815", "", kReform, "Phường 6"),
                 Unit("28591", kCommune, "815", "", kReform, "Xã Thới Sơn"),
                 Unit("87", kProvince, "", "", kReform, "Tỉnh Đồng Tháp"),
                 Unit("871", kDistrict, "87", "", kReform, "Huyện Tam Nông"),
                 Unit("873", kDistrict, "87", "", kReform, "Huyện Cao Lãnh"),
                 Unit("30004", kCommune, "871", "", kReform, "Xã Hoà Bình"),
                 Unit("30025", kCommune, "871", "", kReform, "Xã Phú Cường"),
                 Unit("30079", kCommune, "873", "", kReform, "Xã Gáo Giồng"),
                 Unit("30088", kCommune, "873", "", kReform, "Xã Phong Mỹ"),
                 Unit("82", kProvince, "", kReform, "", "Tỉnh Đồng Tháp"),
                 Unit("28270", kCommune, "82", kReform, "", "Phường Thới Sơn"),
                 Unit("30025", kCommune, "82", kReform, "", "Xã Phú Cường"),
                 Unit("30088", kCommune, "82", kReform, "", "Xã Phong Mỹ")},
                "slice");
    // Every month of 2024 and 2025, health and compulsory social insurance, each commune of its
    // time; the 2024 population and labour force of the old communes, 2025's of the new.
    std::vector<v1::ParticipationRecord> records;
    for (int m = 0; m < 24; ++m) {
      const int year = 2024 + m / 12;
      const std::string month = absl::StrFormat("%04d-%02d", year, m % 12 + 1);
      const bool before = m < 18;
      const std::vector<std::string> communes =
          before ? std::vector<std::string>{"28270", "28591", "30004", "30025", "30079", "30088"}
                 : std::vector<std::string>{"28270", "30025", "30088"};
      for (const std::string& code : communes) {
        const int64_t stock = Stock(code, m) + (before ? 0 : 50000);
        records.push_back(Record(code, month, v1::SCHEME_HEALTH, stock, stock - 7));
        records.push_back(Record(code, month, v1::SCHEME_COMPULSORY_SOCIAL, stock / 10));
      }
    }
    std::vector<v1::DenominatorRecord> denominators;
    for (const std::string code : {"28270", "28591", "30004", "30025", "30079", "30088"}) {
      denominators.push_back(
          Denominator(code, 2024, v1::DENOMINATOR_KIND_POPULATION, Stock(code, 0) * 2));
      denominators.push_back(
          Denominator(code, 2024, v1::DENOMINATOR_KIND_LABOR_FORCE, Stock(code, 0)));
    }
    Submit(ingestion_->stub(), records, denominators, "figures");
    agg_ = AggregationHarness::Start(ingestion_->address());
  }

  // The crosswalk of the slice; 30079's share in 30025 unknown (as in the published map).
  void ImportSliceCrosswalk() {
    ImportLinks(ingestion_->stub(),
                {Link("82", "82", 1), Link("87", "82", 1), Link("28270", "28270", 1),
                 Link("28591", "28270", 1), Link("30004", "30025", 1), Link("30025", "30025", 1),
                 Link("30079", "30025", std::nullopt), Link("30079", "30088", 0.6, 0.5),
                 Link("30088", "30088", 1)},
                "slice-crosswalk");
  }

  v1::Coverage MustGet(const std::string& code, const std::string& period,
                       const std::string& territory_date, int previous_year_ends = 1) {
    v1::GetCoverageRequest request;
    request.set_unit_code(code);
    request.set_period(period);
    request.set_territory_date(territory_date);
    request.set_previous_year_ends(previous_year_ends);
    v1::Coverage coverage;
    grpc::ClientContext context;
    EXPECT_THAT(agg_->stub().GetCoverage(&context, request, &coverage), IsOk())
        << code << " " << period << " " << territory_date;
    return coverage;
  }

  // Health at the end of 2024 (December) of the old communes.
  static int64_t Health2024(const std::string& code) { return Stock(code, 11); }

  std::unique_ptr<IngestionHarness> ingestion_;
  std::unique_ptr<AggregationHarness> agg_;
};

TEST_F(TerritoryTest, ExactWhereEveryPieceIsWhole) {
  ImportSliceCrosswalk();
  const v1::Coverage c = MustGet("28270", "2024", kReform);
  EXPECT_EQ(c.unit().name(), "Phường Thới Sơn");
  EXPECT_EQ(c.territory_date(), kReform);
  const auto& health = Scheme(c, v1::SCHEME_HEALTH);
  EXPECT_EQ(health.reexpression().kind(), v1::REEXPRESSION_KIND_EXACT);
  EXPECT_EQ(health.participants(), Health2024("28270") + Health2024("28591"));
  EXPECT_EQ(health.in_province_participants(), Health2024("28270") + Health2024("28591") - 14);
  const int64_t population = (Stock("28270", 0) + Stock("28591", 0)) * 2;
  EXPECT_EQ(health.denominator(), population);
  EXPECT_DOUBLE_EQ(health.coverage_percent(),
                   100.0 * static_cast<double>(health.participants()) / population);
  EXPECT_EQ(health.reporting_units(), 2);
  EXPECT_EQ(health.expected_units(), 2);
  ASSERT_EQ(c.predecessors_size(), 2);
  EXPECT_EQ(c.predecessors(0).unit().code(), "28270");
  EXPECT_EQ(c.predecessors(0).unit().name(), "Phường 6");
  EXPECT_EQ(c.predecessors(1).unit().code(), "28591");
  EXPECT_EQ(c.predecessors(1).population_share(), 1);
  // The code as it was then: old 28270 Phường 6 alone.
  EXPECT_EQ(c.code_then().unit().name(), "Phường 6");
  EXPECT_EQ(Scheme(c.code_then(), v1::SCHEME_HEALTH).participants(), Health2024("28270"));
  EXPECT_EQ(Scheme(c.code_then(), v1::SCHEME_HEALTH).reexpression().kind(),
            v1::REEXPRESSION_KIND_SAME_UNIT);
  EXPECT_EQ(c.code_then().predecessors_size(), 0);
  EXPECT_FALSE(c.code_then().has_code_then());
}

TEST_F(TerritoryTest, EstimatedWithSharesAndAbsentWhileAShareIsUnknown) {
  ImportSliceCrosswalk();
  // 30088 = 0.6 (labour force 0.5) of 30079 + 30088.
  const v1::Coverage c = MustGet("30088", "2024", kReform);
  const auto& health = Scheme(c, v1::SCHEME_HEALTH);
  EXPECT_EQ(health.reexpression().kind(), v1::REEXPRESSION_KIND_ESTIMATED);
  const double estimated = 0.6 * Health2024("30079");
  EXPECT_EQ(health.participants(), std::llround(estimated + Health2024("30088")));
  EXPECT_NEAR(health.reexpression().estimated_part(), estimated / (estimated + Health2024("30088")),
              1e-12);
  const auto& compulsory = Scheme(c, v1::SCHEME_COMPULSORY_SOCIAL);
  EXPECT_EQ(compulsory.participants(),
            std::llround(0.5 * (Health2024("30079") / 10) + Health2024("30088") / 10));
  EXPECT_EQ(compulsory.denominator(), std::llround(0.5 * Stock("30079", 0) + Stock("30088", 0)));
  ASSERT_EQ(c.predecessors_size(), 2);
  EXPECT_DOUBLE_EQ(c.predecessors(0).population_share(), 0.6);
  EXPECT_DOUBLE_EQ(c.predecessors(0).labor_force_share(), 0.5);

  // 30025 rests on 30079's share in it, unknown: no figures, the reason given.
  const v1::Coverage absent = MustGet("30025", "2024", kReform);
  const auto& absent_health = Scheme(absent, v1::SCHEME_HEALTH);
  EXPECT_EQ(absent_health.reexpression().kind(), v1::REEXPRESSION_KIND_ABSENT);
  EXPECT_EQ(absent_health.reexpression().reason(),
            "the share of 30079 in 30025 from 2025-07-01 is unknown");
  EXPECT_FALSE(absent_health.has_participants());
  EXPECT_FALSE(absent_health.has_coverage_percent());
  // Its 2025-09 figure is its own, and the comparison with 2024-09 is absent, territory changed,
  // with the old 30025's own figure under code_then.
  const v1::Coverage sept = MustGet("30025", "2025-09", "");
  const auto& last_year = Scheme(sept, v1::SCHEME_HEALTH).same_period_last_year();
  EXPECT_EQ(last_year.reexpression().kind(), v1::REEXPRESSION_KIND_ABSENT);
  EXPECT_TRUE(last_year.territory_changed());
  EXPECT_FALSE(last_year.unit_missing());
  EXPECT_FALSE(last_year.has_participants());
  EXPECT_EQ(last_year.code_then().participants(), Stock("30025", 8));
  EXPECT_TRUE(last_year.code_then().territory_changed());

  // Read-your-writes: once the share is known, the next read re-expresses with it.
  const int64_t loads = agg_->service().stats().crosswalk_loads;
  ImportLinks(ingestion_->stub(), {Link("30079", "30025", 0.4, 0.5)}, "share-learnt");
  const v1::Coverage known = MustGet("30025", "2024", kReform);
  EXPECT_GT(agg_->service().stats().crosswalk_loads, loads);
  const auto& known_health = Scheme(known, v1::SCHEME_HEALTH);
  EXPECT_EQ(known_health.reexpression().kind(), v1::REEXPRESSION_KIND_ESTIMATED);
  EXPECT_EQ(known_health.participants(),
            std::llround(0.4 * Health2024("30079") + Health2024("30004") + Health2024("30025")));
}

TEST_F(TerritoryTest, NewProvinceComparesWithItsPredecessorsExactly) {
  ImportSliceCrosswalk();
  const v1::Coverage c = MustGet("82", "2025-09", "");
  EXPECT_EQ(c.unit().name(), "Tỉnh Đồng Tháp");
  EXPECT_EQ(c.territory_date(), "2025-09-30");
  const auto& health = Scheme(c, v1::SCHEME_HEALTH);
  EXPECT_EQ(health.reexpression().kind(), v1::REEXPRESSION_KIND_SAME_UNIT);
  int64_t now = 0;
  for (const std::string code : {"28270", "30025", "30088"}) {
    now += Stock(code, 20) + 50000;
  }
  EXPECT_EQ(health.participants(), now);
  const auto& last_year = health.same_period_last_year();
  EXPECT_EQ(last_year.period(), "2024-09");
  EXPECT_EQ(last_year.reexpression().kind(), v1::REEXPRESSION_KIND_EXACT);
  EXPECT_FALSE(last_year.territory_changed());
  int64_t then = 0;
  for (const std::string code : {"28270", "28591", "30004", "30025", "30079", "30088"}) {
    then += Stock(code, 8);
  }
  EXPECT_EQ(last_year.participants(), then);
  EXPECT_EQ(last_year.participants_change(), now - then);
  EXPECT_EQ(last_year.reporting_units(), 6);
  EXPECT_EQ(last_year.expected_units(), 6);
  // The code as it was then: old 82 Tiền Giang, its own figure, another unit.
  EXPECT_EQ(last_year.code_then().unit_name(), "Tỉnh Tiền Giang");
  EXPECT_EQ(last_year.code_then().participants(), Stock("28270", 8) + Stock("28591", 8));
  EXPECT_TRUE(last_year.code_then().territory_changed());
  EXPECT_FALSE(last_year.code_then().has_code_then());
  // The year end 2024: exact too, with the rate of the summed numerators and denominators.
  const auto& end_2024 = health.previous_year_ends(0);
  EXPECT_EQ(end_2024.period(), "2024");
  EXPECT_EQ(end_2024.reexpression().kind(), v1::REEXPRESSION_KIND_EXACT);
  int64_t population = 0;
  int64_t december = 0;
  for (const std::string code : {"28270", "28591", "30004", "30025", "30079", "30088"}) {
    population += Stock(code, 0) * 2;
    december += Health2024(code);
  }
  EXPECT_DOUBLE_EQ(end_2024.coverage_percent(), 100.0 * december / population);

  // The new 82 for 2024 itself, in today's territory: predecessors old 82 and old 87.
  const v1::Coverage year = MustGet("82", "2024", kReform);
  EXPECT_EQ(Scheme(year, v1::SCHEME_HEALTH).participants(), december);
  ASSERT_EQ(year.predecessors_size(), 2);
  EXPECT_EQ(year.predecessors(0).unit().name(), "Tỉnh Tiền Giang");
  EXPECT_EQ(year.predecessors(1).unit().name(), "Tỉnh Đồng Tháp");
  EXPECT_EQ(year.code_then().unit().name(), "Tỉnh Tiền Giang");
}

TEST_F(TerritoryTest, CommunesOfTheNewProvinceListedFor2024WithTheAbsentOneLast) {
  ImportSliceCrosswalk();
  v1::ListCoverageRequest request;
  request.set_parent_code("82");
  request.set_period("2024");
  request.set_territory_date(kReform);
  request.set_scheme(v1::SCHEME_HEALTH);
  request.set_order_by(v1::COVERAGE_ORDER_PARTICIPANTS_DESCENDING);
  request.set_page_size(2);
  std::vector<v1::Coverage> all;
  do {
    v1::ListCoverageResponse response;
    grpc::ClientContext context;
    ASSERT_THAT(agg_->stub().ListCoverage(&context, request, &response), IsOk());
    for (const auto& c : response.coverages()) {
      all.push_back(c);
    }
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  ASSERT_EQ(all.size(), 3u);
  // 28270 (old 28270 + 28591) has more people than 30088 (0.6 of 30079 + 30088); 30025 has no
  // figure while 30079's share in it is unknown.
  EXPECT_EQ(all[0].unit().code(), "28270");
  EXPECT_EQ(all[0].schemes(0).reexpression().kind(), v1::REEXPRESSION_KIND_EXACT);
  EXPECT_EQ(all[1].unit().code(), "30088");
  EXPECT_EQ(all[1].schemes(0).reexpression().kind(), v1::REEXPRESSION_KIND_ESTIMATED);
  EXPECT_EQ(all[2].unit().code(), "30025");
  EXPECT_EQ(all[2].schemes(0).reexpression().kind(), v1::REEXPRESSION_KIND_ABSENT);
  EXPECT_FALSE(all[2].schemes(0).has_participants());
  for (const auto& c : all) {
    EXPECT_EQ(c.territory_date(), kReform);
    EXPECT_EQ(c.unit().valid_from(), kReform);
  }
}

TEST_F(TerritoryTest, SeriesOfTheNewProvinceRunsAcrossTheReform) {
  ImportSliceCrosswalk();
  v1::GetCoverageSeriesRequest request;
  request.set_unit_code("82");
  request.set_scheme(v1::SCHEME_HEALTH);
  request.set_from_month("2024-01");
  request.set_to_month("2025-12");
  v1::CoverageSeries series;
  grpc::ClientContext context;
  ASSERT_THAT(agg_->stub().GetCoverageSeries(&context, request, &series), IsOk());
  EXPECT_EQ(series.unit().name(), "Tỉnh Đồng Tháp");
  ASSERT_EQ(series.months_size(), 24);
  for (int m = 0; m < 24; ++m) {
    const auto& at = series.months(m);
    EXPECT_EQ(at.month(), absl::StrFormat("%04d-%02d", 2024 + m / 12, m % 12 + 1));
    const bool before = m < 18;
    int64_t expected = 0;
    for (const std::string& code :
         before ? std::vector<std::string>{"28270", "28591", "30004", "30025", "30079", "30088"}
                : std::vector<std::string>{"28270", "30025", "30088"}) {
      expected += Stock(code, m) + (before ? 0 : 50000);
    }
    EXPECT_EQ(at.coverage().participants(), expected) << at.month();
    EXPECT_EQ(at.coverage().reexpression().kind(),
              before ? v1::REEXPRESSION_KIND_EXACT : v1::REEXPRESSION_KIND_SAME_UNIT)
        << at.month();
  }
}

TEST_F(TerritoryTest, WithoutACrosswalkEarlierMonthsAreAbsentButKeepTheirPlace) {
  v1::GetCoverageSeriesRequest request;
  request.set_unit_code("82");
  request.set_scheme(v1::SCHEME_HEALTH);
  request.set_from_month("2025-05");
  request.set_to_month("2025-08");
  v1::CoverageSeries series;
  grpc::ClientContext context;
  ASSERT_THAT(agg_->stub().GetCoverageSeries(&context, request, &series), IsOk());
  ASSERT_EQ(series.months_size(), 4);
  EXPECT_EQ(series.months(0).coverage().reexpression().kind(), v1::REEXPRESSION_KIND_ABSENT);
  EXPECT_THAT(series.months(0).coverage().reexpression().reason(),
              HasSubstr("did not exist on 2025-05-31 and no crosswalk link leads to it"));
  EXPECT_FALSE(series.months(1).coverage().has_participants());
  EXPECT_EQ(series.months(2).coverage().reexpression().kind(), v1::REEXPRESSION_KIND_SAME_UNIT);
  EXPECT_TRUE(series.months(2).coverage().has_participants());
}

TEST_F(TerritoryTest, FollowingAnAbolishedUnitForwardNeedsASuccessorOfItsOwn) {
  ImportSliceCrosswalk();
  v1::GetCoverageRequest request;
  request.set_unit_code("87");
  request.set_period("2025");
  request.set_territory_date("2024-12-31");
  v1::Coverage coverage;
  grpc::ClientContext context;
  const grpc::Status status = agg_->stub().GetCoverage(&context, request, &coverage);
  EXPECT_THAT(status, StatusIs(grpc::StatusCode::FAILED_PRECONDITION,
                               HasSubstr("together with other territory")));
  // A date that names no unit for the code.
  request.set_unit_code("871");
  request.set_territory_date("2025-07-01");
  grpc::ClientContext again;
  EXPECT_THAT(agg_->stub().GetCoverage(&again, request, &coverage),
              StatusIs(grpc::StatusCode::NOT_FOUND, HasSubstr("territory_date")));
}

// The 63 old provinces and the 34 new ones of the real catalogue, with the province links of
// merge_map_2025.csv, each old province reporting for itself.
class ProvincesTest : public ::testing::Test {
 protected:
  struct Csv {
    std::vector<std::vector<std::string>> rows;  // without the header
  };
  static Csv Read(const std::string& name) {
    std::ifstream in(absl::StrCat(COVTRACK_SOURCE_DIR, "/data/vn-admin-units/", name));
    EXPECT_TRUE(in.good()) << name;
    Csv csv;
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      csv.rows.push_back(absl::StrSplit(line, ','));
    }
    return csv;
  }

  void SetUp() override {
    ingestion_ = IngestionHarness::Start();
    std::vector<v1::AdminUnit> units;
    for (const auto& [file, from, to] :
         std::vector<std::tuple<std::string, std::string, std::string>>{
             {"units_2025-03-01.csv", "", kReform}, {"units_2025-07-01.csv", kReform, ""}}) {
      for (const auto& row : Read(file).rows) {
        if (row.size() >= 3 && row[2] == "province") {
          units.push_back(Unit(row[0], kProvince, "", from, to, row[1]));
          (to.empty() ? new_codes_ : old_codes_).push_back(row[0]);
        }
      }
    }
    ImportUnits(ingestion_->stub(), units, "provinces");
    std::vector<v1::CrosswalkLink> links;
    for (const auto& row : Read("merge_map_2025.csv").rows) {
      if (row.size() == 3 && row[2] == "province") {
        links.push_back(Link(row[0], row[1], 1));
        predecessors_[row[1]].push_back(row[0]);
      }
    }
    ImportLinks(ingestion_->stub(), links, "province-map");
    std::vector<v1::ParticipationRecord> records;
    std::vector<v1::DenominatorRecord> denominators;
    for (size_t i = 0; i < old_codes_.size(); ++i) {
      const std::string& code = old_codes_[i];
      health_[code] = 500000 + static_cast<int64_t>((i * 7919) % 63) * 10000;
      population_[code] = 2000000 + static_cast<int64_t>((i * 104729) % 63) * 7000;
      records.push_back(Record(code, "2024-12", v1::SCHEME_HEALTH, health_[code]));
      denominators.push_back(
          Denominator(code, 2024, v1::DENOMINATOR_KIND_POPULATION, population_[code]));
    }
    Submit(ingestion_->stub(), records, denominators, "province-figures");
    agg_ = AggregationHarness::Start(ingestion_->address());
  }

  std::unique_ptr<IngestionHarness> ingestion_;
  std::unique_ptr<AggregationHarness> agg_;
  std::vector<std::string> old_codes_;
  std::vector<std::string> new_codes_;
  std::map<std::string, std::vector<std::string>> predecessors_;
  std::map<std::string, int64_t> health_;
  std::map<std::string, int64_t> population_;
};

TEST_F(ProvincesTest, The34ProvincesRankedFor2024OnTodaysTerritory) {
  ASSERT_EQ(old_codes_.size(), 63u);
  ASSERT_EQ(new_codes_.size(), 34u);
  v1::ListCoverageRequest request;
  request.set_parent_code("VN");
  request.set_period("2024");
  request.set_territory_date(kReform);
  request.set_scheme(v1::SCHEME_HEALTH);
  request.set_order_by(v1::COVERAGE_ORDER_COVERAGE_DESCENDING);
  request.set_page_size(10);
  std::vector<v1::Coverage> all;
  int pages = 0;
  do {
    v1::ListCoverageResponse response;
    grpc::ClientContext context;
    ASSERT_THAT(agg_->stub().ListCoverage(&context, request, &response), IsOk());
    ++pages;
    for (const auto& c : response.coverages()) {
      all.push_back(c);
    }
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  EXPECT_EQ(pages, 4);
  ASSERT_EQ(all.size(), 34u);
  std::set<std::string> seen;
  double previous = 101;
  for (const v1::Coverage& c : all) {
    seen.insert(c.unit().code());
    EXPECT_EQ(c.unit().valid_from(), kReform);
    ASSERT_EQ(c.schemes_size(), 1);
    const auto& health = c.schemes(0);
    // Summed independently: the predecessors' own figures.
    int64_t participants = 0;
    int64_t population = 0;
    for (const std::string& old : predecessors_[c.unit().code()]) {
      participants += health_[old];
      population += population_[old];
    }
    EXPECT_EQ(health.participants(), participants) << c.unit().code();
    EXPECT_EQ(health.denominator(), population) << c.unit().code();
    EXPECT_DOUBLE_EQ(health.coverage_percent(), 100.0 * participants / population);
    EXPECT_EQ(health.reexpression().kind(), v1::REEXPRESSION_KIND_EXACT) << c.unit().code();
    EXPECT_EQ(c.predecessors_size(), static_cast<int>(predecessors_[c.unit().code()].size()));
    EXPECT_LE(health.coverage_percent(), previous);
    previous = health.coverage_percent();
  }
  EXPECT_EQ(seen.size(), 34u);
  // The same list as it was: the 63 old provinces, each the same unit.
  request.clear_territory_date();
  request.clear_page_token();
  request.set_page_size(100);
  v1::ListCoverageResponse old;
  grpc::ClientContext context;
  ASSERT_THAT(agg_->stub().ListCoverage(&context, request, &old), IsOk());
  ASSERT_EQ(old.coverages_size(), 63);
  EXPECT_EQ(old.coverages(0).schemes(0).reexpression().kind(), v1::REEXPRESSION_KIND_SAME_UNIT);
}

}  // namespace
}  // namespace covtrack::testing
