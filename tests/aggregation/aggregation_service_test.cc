// The aggregation service end to end: a real ingestion service in-process (SQLite), the real
// aggregation service over gRPC on loopback, and a real Redis (the test server, or one of the
// test's own that it kills, restarts and flushes).
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/aggregation/aggregation_harness.h"
#include "tests/fixtures/coverage_fixtures.h"
#include "tests/testing/eventually.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/redis_process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace covtrack::testing {
namespace {

using ::testing::HasSubstr;

double Round1(double x) { return std::round(x * 10) / 10; }

const v1::SchemeCoverage& Scheme(const v1::Coverage& c, v1::Scheme s) {
  for (const auto& sc : c.schemes()) {
    if (sc.scheme() == s) {
      return sc;
    }
  }
  ADD_FAILURE() << "no scheme " << s << " in " << c.ShortDebugString();
  static v1::SchemeCoverage empty;
  return empty;
}

grpc::Status Get(AggregationHarness& agg, const std::string& unit, const std::string& period,
                 v1::Coverage* out, int previous_year_ends = 0) {
  v1::GetCoverageRequest request;
  request.set_unit_code(unit);
  request.set_period(period);
  request.set_previous_year_ends(previous_year_ends);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return agg.stub().GetCoverage(&context, request, out);
}

v1::Coverage MustGet(AggregationHarness& agg, const std::string& unit, const std::string& period,
                     int previous_year_ends = 0) {
  v1::Coverage coverage;
  grpc::Status status = Get(agg, unit, period, &coverage, previous_year_ends);
  EXPECT_THAT(status, IsOk()) << unit << " " << period;
  return coverage;
}

int64_t Health(AggregationHarness& agg, const std::string& unit, const std::string& period) {
  return Scheme(MustGet(agg, unit, period), v1::SCHEME_HEALTH).participants();
}

// Province 10 > districts 101, 102 > communes 10101, 10102 (101), 10201 (102).
void LoadSmallTree(v1::IngestionService::Stub& stub) {
  ImportUnits(
      stub,
      {Unit("10", v1::ADMIN_LEVEL_PROVINCE, ""), Unit("101", v1::ADMIN_LEVEL_DISTRICT, "10"),
       Unit("102", v1::ADMIN_LEVEL_DISTRICT, "10"), Unit("10101", v1::ADMIN_LEVEL_COMMUNE, "101"),
       Unit("10102", v1::ADMIN_LEVEL_COMMUNE, "101"),
       Unit("10201", v1::ADMIN_LEVEL_COMMUNE, "102")},
      "small-tree");
}

// Runs each test with the in-process cache and with the test Redis.
class AggregationServiceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ingestion_ = IngestionHarness::Start();
    if (GetParam() == "redis") {
      std::optional<std::string> redis = RedisAddress();
      COVTRACK_REQUIRE_SERVER(redis, "Redis (COVTRACK_TEST_REDIS)");
      redis_ = *redis;
    }
    agg_ = StartAggregation();
  }
  std::unique_ptr<AggregationHarness> StartAggregation() {
    auto agg = AggregationHarness::Start(ingestion_->address(), redis_);
    if (!redis_.empty()) {
      EXPECT_TRUE(Eventually([&] { return agg->service().stats().cache.available; }));
    }
    return agg;
  }

  std::unique_ptr<IngestionHarness> ingestion_;
  std::string redis_;
  std::unique_ptr<AggregationHarness> agg_;
};

TEST_P(AggregationServiceTest, MyThoWorkedExampleThroughTheRpcs) {
  ASSERT_TRUE(fixtures::LoadFixture(ingestion_->stub(), fixtures::MyTho2023()).ok());
  namespace m = fixtures::my_tho_2023;
  for (const char* unit : {m::kDistrictCode, m::kProvinceCode}) {
    const v1::Coverage c = MustGet(*agg_, unit, "2023");
    EXPECT_EQ(c.unit().code(), unit);
    EXPECT_EQ(c.as_of_month(), "2023-12");
    const auto& health = Scheme(c, v1::SCHEME_HEALTH);
    EXPECT_EQ(health.participants(), m::kHealth);
    EXPECT_EQ(health.denominator(), m::kPopulation);
    EXPECT_EQ(health.denominator_kind(), v1::DENOMINATOR_KIND_POPULATION);
    EXPECT_EQ(Round1(health.coverage_percent()), 89.9);
    EXPECT_EQ(health.reporting_units(), m::kCommunes);
    EXPECT_EQ(health.expected_units(), m::kCommunes);
    const auto& social = Scheme(c, v1::SCHEME_SOCIAL);
    EXPECT_EQ(social.participants(), m::kSocial);
    EXPECT_EQ(social.denominator(), m::kLaborForce);
    EXPECT_EQ(Round1(social.coverage_percent()), 30.2);
    EXPECT_EQ(Scheme(c, v1::SCHEME_COMPULSORY_SOCIAL).participants(), m::kCompulsory);
    EXPECT_EQ(Scheme(c, v1::SCHEME_VOLUNTARY_SOCIAL).participants(), m::kVoluntary);
    // No unemployment figures were published: nothing reported, no rate invented.
    const auto& unemployment = Scheme(c, v1::SCHEME_UNEMPLOYMENT);
    EXPECT_EQ(unemployment.reporting_units(), 0);
    EXPECT_TRUE(unemployment.as_of_month().empty());
    EXPECT_FALSE(unemployment.has_coverage_percent());
    // The press release gives no in-province split: absent, and counted.
    EXPECT_FALSE(health.has_in_province_participants());
    EXPECT_EQ(health.units_missing_in_province(), m::kCommunes);
  }
  // The same answer again comes from the cache.
  const int64_t served = agg_->service().stats().entries_served;
  EXPECT_EQ(Scheme(MustGet(*agg_, m::kDistrictCode, "2023"), v1::SCHEME_HEALTH).participants(),
            m::kHealth);
  EXPECT_GT(agg_->service().stats().entries_served, served);
}

TEST_P(AggregationServiceTest, MaiSonInProvinceSplitAndMissingDenominator) {
  ASSERT_TRUE(fixtures::LoadFixture(ingestion_->stub(), fixtures::MaiSon2023()).ok());
  namespace m = fixtures::mai_son_2023;
  v1::GetCoverageRequest request;
  request.set_unit_code(m::kDistrictCode);
  request.set_period("2023");
  request.add_schemes(v1::SCHEME_HEALTH);
  request.add_schemes(v1::SCHEME_COMPULSORY_SOCIAL);
  v1::Coverage c;
  grpc::ClientContext context;
  ASSERT_TRUE(agg_->stub().GetCoverage(&context, request, &c).ok());
  ASSERT_EQ(c.schemes_size(), 2);
  EXPECT_EQ(c.schemes(0).scheme(), v1::SCHEME_HEALTH);  // in the order asked
  EXPECT_EQ(c.schemes(0).participants(), m::kHealth);
  EXPECT_EQ(c.schemes(0).in_province_participants(), m::kHealthInProvince);
  EXPECT_EQ(c.schemes(1).participants(), m::kCompulsory);
  EXPECT_EQ(c.schemes(1).in_province_participants(), m::kCompulsoryInProvince);
  // No population was given: no denominator, no rate, and it says how many units lack one.
  EXPECT_FALSE(c.schemes(0).has_denominator());
  EXPECT_FALSE(c.schemes(0).has_coverage_percent());
  EXPECT_EQ(c.schemes(0).units_missing_denominator(), m::kCommunes);
}

TEST_P(AggregationServiceTest, MixedLevelDataAndStockSemantics) {
  LoadSmallTree(ingestion_->stub());
  std::vector<v1::ParticipationRecord> records;
  for (int month = 1; month <= 12; ++month) {
    const std::string m = absl::StrFormat("2023-%02d", month);
    records.push_back(Record("10101", m, v1::SCHEME_HEALTH, 100 + month));
    records.push_back(Record("10102", m, v1::SCHEME_HEALTH, 200 + month));
  }
  // District 102 reports as a whole for December; its commune only up to June.
  records.push_back(Record("102", "2023-12", v1::SCHEME_HEALTH, 1000));
  records.push_back(Record("10201", "2023-06", v1::SCHEME_HEALTH, 900));
  Submit(ingestion_->stub(), records, {}, "mixed");
  EXPECT_EQ(Health(*agg_, "10", "2023"), 112 + 212 + 1000);  // December, not a sum of months
  EXPECT_EQ(Health(*agg_, "10", "2023-H1"), 106 + 206 + 900);
  // Only months inside the period count: 10201's June figure is not part of Q3.
  EXPECT_EQ(Health(*agg_, "10", "2023-Q3"), 109 + 209);
  EXPECT_EQ(Health(*agg_, "101", "2023-08"), 108 + 208);
  const v1::Coverage q3 = MustGet(*agg_, "10", "2023-Q3");
  EXPECT_EQ(q3.as_of_month(), "2023-09");
  EXPECT_EQ(Scheme(q3, v1::SCHEME_HEALTH).reporting_units(), 2);
  EXPECT_EQ(Scheme(q3, v1::SCHEME_HEALTH).expected_units(), 3);
}

TEST_P(AggregationServiceTest, EveryComparison) {
  LoadSmallTree(ingestion_->stub());
  std::vector<v1::ParticipationRecord> records;
  std::vector<v1::DenominatorRecord> denominators;
  // Year ends 2013..2016 and the first halves of 2016 and 2017.
  const std::map<std::string, int64_t> health = {{"2013-12", 500}, {"2014-12", 600},
                                                 {"2015-12", 700}, {"2016-06", 750},
                                                 {"2016-12", 800}, {"2017-06", 1003}};
  for (const auto& [month, value] : health) {
    records.push_back(Record("10101", month, v1::SCHEME_HEALTH, value));
  }
  for (int year = 2013; year <= 2017; ++year) {
    denominators.push_back(Denominator("10", year, v1::DENOMINATOR_KIND_POPULATION, 2000));
  }
  Submit(ingestion_->stub(), records, denominators, "history");
  const v1::Coverage c = MustGet(*agg_, "10", "2017-H1", 3);
  const auto& h = Scheme(c, v1::SCHEME_HEALTH);
  EXPECT_EQ(h.participants(), 1003);
  EXPECT_DOUBLE_EQ(h.coverage_percent(), 50.15);
  EXPECT_EQ(h.same_period_last_year().period(), "2016-H1");
  EXPECT_EQ(h.same_period_last_year().participants(), 750);
  EXPECT_EQ(h.same_period_last_year().participants_change(), 253);
  EXPECT_EQ(h.same_period_last_year().as_of_month(), "2016-06");
  EXPECT_EQ(h.same_period_last_year().reporting_units(), 1);
  EXPECT_EQ(h.same_period_last_year().expected_units(), 3);
  EXPECT_NEAR(h.same_period_last_year().coverage_points_change(), 50.15 - 37.5, 1e-9);
  EXPECT_FALSE(h.same_period_last_year().territory_changed());
  ASSERT_EQ(h.previous_year_ends_size(), 3);
  EXPECT_EQ(h.previous_year_ends(0).period(), "2016");  // newest first
  EXPECT_EQ(h.previous_year_ends(0).participants_change(), 203);
  EXPECT_EQ(h.previous_year_ends(1).period(), "2015");
  EXPECT_EQ(h.previous_year_ends(1).participants_change(), 303);
  EXPECT_EQ(h.previous_year_ends(2).period(), "2014");
  EXPECT_NEAR(h.previous_year_ends(2).coverage_points_change(), 50.15 - 30.0, 1e-9);
  EXPECT_EQ(MustGet(*agg_, "10", "2017-H1", 4).schemes(0).previous_year_ends_size(), 4);
  v1::Coverage ignored;
  EXPECT_THAT(Get(*agg_, "10", "2017-H1", &ignored, 11),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT));
}

TEST_P(AggregationServiceTest, HierarchyChangeBetweenPeriods) {
  // Province 20 until the reform, and a different (merged) province 20 after it; its commune
  // 20001 keeps its code. District 201 is abolished.
  ImportUnits(ingestion_->stub(),
              {Unit("20", v1::ADMIN_LEVEL_PROVINCE, "", "", "2025-07-01", "Tỉnh Cũ"),
               Unit("201", v1::ADMIN_LEVEL_DISTRICT, "20", "", "2025-07-01"),
               Unit("20001", v1::ADMIN_LEVEL_COMMUNE, "201", "", "2025-07-01"),
               Unit("21", v1::ADMIN_LEVEL_PROVINCE, "", "", "2025-07-01"),
               Unit("21001", v1::ADMIN_LEVEL_COMMUNE, "21", "", "2025-07-01"),
               Unit("20", v1::ADMIN_LEVEL_PROVINCE, "", "2025-07-01", "", "Tỉnh Mới"),
               Unit("20001", v1::ADMIN_LEVEL_COMMUNE, "20", "2025-07-01", ""),
               Unit("20002", v1::ADMIN_LEVEL_COMMUNE, "20", "2025-07-01", "")},
              "reform");
  Submit(ingestion_->stub(),
         {Record("20001", "2024-12", v1::SCHEME_HEALTH, 100),
          Record("21001", "2024-12", v1::SCHEME_HEALTH, 50),
          Record("20001", "2025-06", v1::SCHEME_HEALTH, 110),
          Record("21001", "2025-06", v1::SCHEME_HEALTH, 55),
          Record("20001", "2025-12", v1::SCHEME_HEALTH, 170),
          Record("20002", "2025-12", v1::SCHEME_HEALTH, 30)},
         {}, "reform-data");
  // 2025 is read in the new hierarchy, 2025-H1 in the old one.
  const v1::Coverage year = MustGet(*agg_, "20", "2025", 1);
  EXPECT_EQ(year.unit().name(), "Tỉnh Mới");
  EXPECT_EQ(Scheme(year, v1::SCHEME_HEALTH).participants(), 200);
  const v1::Coverage half = MustGet(*agg_, "20", "2025-H1");
  EXPECT_EQ(half.unit().name(), "Tỉnh Cũ");
  EXPECT_EQ(Scheme(half, v1::SCHEME_HEALTH).participants(), 110);
  // The comparison with 2024 cannot be made on the new 20's territory without a crosswalk: no
  // figures, the reason given, and code 20 as it was then (another unit) under code_then.
  const auto& end_2024 = Scheme(year, v1::SCHEME_HEALTH).previous_year_ends(0);
  EXPECT_EQ(end_2024.period(), "2024");
  EXPECT_FALSE(end_2024.has_participants());
  EXPECT_EQ(end_2024.reexpression().kind(), v1::REEXPRESSION_KIND_ABSENT);
  EXPECT_THAT(end_2024.reexpression().reason(), HasSubstr("no crosswalk link leads to it"));
  EXPECT_TRUE(end_2024.territory_changed());
  EXPECT_FALSE(end_2024.unit_missing());
  EXPECT_EQ(end_2024.unit_name(), "Tỉnh Cũ");
  EXPECT_EQ(end_2024.code_then().participants(), 100);
  EXPECT_TRUE(end_2024.code_then().territory_changed());
  EXPECT_EQ(end_2024.code_then().unit_name(), "Tỉnh Cũ");
  // Before the reform the same unit compares with itself.
  const v1::Coverage h1 = MustGet(*agg_, "20", "2025-H1");
  EXPECT_FALSE(Scheme(h1, v1::SCHEME_HEALTH).same_period_last_year().territory_changed());
  // A code that did not exist a year earlier.
  const v1::Coverage new_commune = MustGet(*agg_, "20002", "2025");
  EXPECT_TRUE(Scheme(new_commune, v1::SCHEME_HEALTH).same_period_last_year().unit_missing());
  // The abolished district is not found for 2025, but is for 2024.
  v1::Coverage ignored;
  EXPECT_THAT(Get(*agg_, "201", "2025", &ignored), StatusIs(grpc::StatusCode::NOT_FOUND));
  EXPECT_EQ(Health(*agg_, "201", "2024"), 100);
}

// A warm GetCoverage is a kept answer, comparisons included: a write to a month only a
// comparison reads (last year's December) must reach the next answer, on the same replica.
TEST_P(AggregationServiceTest, AKeptAnswerFollowsAWriteToAComparedPeriod) {
  LoadSmallTree(ingestion_->stub());
  Submit(ingestion_->stub(),
         {Record("10101", "2023-12", v1::SCHEME_HEALTH, 100),
          Record("10101", "2022-12", v1::SCHEME_HEALTH, 80)},
         {}, "a");
  for (int i = 0; i < 2; ++i) {
    const v1::Coverage c = MustGet(*agg_, "10", "2023");
    const auto& h = Scheme(c, v1::SCHEME_HEALTH);
    EXPECT_EQ(h.same_period_last_year().participants(), 80);
    EXPECT_EQ(h.previous_year_ends(0).participants(), 80);
  }
  const int64_t served = agg_->service().stats().entries_served;
  EXPECT_GE(served, 4);  // the second answer: 2023 and the ends of 2022, 2021 and 2020
  Submit(ingestion_->stub(), {Record("10102", "2022-12", v1::SCHEME_HEALTH, 10)}, {}, "b");
  const v1::Coverage c = MustGet(*agg_, "10", "2023");
  const auto& h = Scheme(c, v1::SCHEME_HEALTH);
  EXPECT_EQ(h.participants(), 100);
  EXPECT_EQ(h.same_period_last_year().participants(), 90);
  EXPECT_EQ(h.same_period_last_year().participants_change(), 10);
  EXPECT_EQ(h.previous_year_ends(0).participants(), 90);
  // Only the comparisons' rollups were computed again; the year itself was still current.
  EXPECT_GT(agg_->service().stats().entries_served, served);
}

TEST_P(AggregationServiceTest, ListCoveragePagesAndSorts) {
  ASSERT_TRUE(fixtures::LoadFixture(ingestion_->stub(), fixtures::MyTho2023()).ok());
  v1::ListCoverageRequest request;
  request.set_parent_code("82");
  request.set_level(v1::ADMIN_LEVEL_COMMUNE);
  request.set_period("2023");
  request.set_scheme(v1::SCHEME_HEALTH);
  request.set_order_by(v1::COVERAGE_ORDER_COVERAGE_DESCENDING);
  request.set_page_size(5);
  std::vector<v1::Coverage> all;
  int pages = 0;
  do {
    v1::ListCoverageResponse response;
    grpc::ClientContext context;
    grpc::Status status = agg_->stub().ListCoverage(&context, request, &response);
    ASSERT_THAT(status, IsOk());
    ++pages;
    for (const auto& c : response.coverages()) {
      ASSERT_EQ(c.schemes_size(), 1);
      all.push_back(c);
    }
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(all.size(), 14u);
  std::set<std::string> codes;
  int64_t total = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    codes.insert(all[i].unit().code());
    total += all[i].schemes(0).participants();
    if (i > 0) {
      EXPECT_GE(all[i - 1].schemes(0).coverage_percent(), all[i].schemes(0).coverage_percent());
    }
  }
  EXPECT_EQ(codes.size(), 14u);
  EXPECT_EQ(total, fixtures::my_tho_2023::kHealth);
  // Default: the parent's children (the district), by code.
  v1::ListCoverageRequest children;
  children.set_parent_code("82");
  children.set_period("2023");
  v1::ListCoverageResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(agg_->stub().ListCoverage(&context, children, &response).ok());
  ASSERT_EQ(response.coverages_size(), 1);
  EXPECT_EQ(response.coverages(0).unit().code(), "815");
  EXPECT_EQ(response.coverages(0).schemes_size(), 5);
  // A token from another list is refused.
  request.set_period("2023-H1");
  request.set_page_token(absl::StrCat("5.", "123"));
  grpc::ClientContext bad;
  EXPECT_THAT(agg_->stub().ListCoverage(&bad, request, &response),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT));
  // A token is not secret: one forged for this list with an offset near INT64_MAX is refused
  // (common/paging bounds every number a token holds), never an overflow or a silent empty page.
  request.set_page_token("");
  absl::StatusOr<aggregation::CoverageListQuery> query =
      aggregation::ValidateListCoverageRequest(request);
  ASSERT_THAT(query, IsOk());
  request.set_page_token(query->page.TokenAtOffset(std::numeric_limits<int64_t>::max() - 1));
  v1::ListCoverageResponse beyond;
  grpc::ClientContext forged;
  grpc::Status refused = agg_->stub().ListCoverage(&forged, request, &beyond);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(refused.error_message(), HasSubstr("page_token"));
}

TEST_P(AggregationServiceTest, SeriesMonthByMonth) {
  LoadSmallTree(ingestion_->stub());
  std::vector<v1::ParticipationRecord> records;
  for (int month = 1; month <= 6; ++month) {
    records.push_back(
        Record("10101", absl::StrFormat("2024-%02d", month), v1::SCHEME_COMPULSORY_SOCIAL, month));
  }
  Submit(ingestion_->stub(), records,
         {Denominator("10", 2024, v1::DENOMINATOR_KIND_LABOR_FORCE, 100)}, "series");
  v1::GetCoverageSeriesRequest request;
  request.set_unit_code("10");
  request.set_scheme(v1::SCHEME_COMPULSORY_SOCIAL);
  request.set_from_month("2024-01");
  request.set_to_month("2024-06");
  v1::CoverageSeries series;
  grpc::ClientContext context;
  ASSERT_TRUE(agg_->stub().GetCoverageSeries(&context, request, &series).ok());
  ASSERT_EQ(series.months_size(), 6);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(series.months(i).month(), absl::StrFormat("2024-%02d", i + 1));
    EXPECT_EQ(series.months(i).coverage().participants(), i + 1);
    EXPECT_DOUBLE_EQ(series.months(i).coverage().coverage_percent(), i + 1.0);
  }
}

TEST_P(AggregationServiceTest, BadRequestsNameTheField) {
  LoadSmallTree(ingestion_->stub());
  v1::Coverage c;
  EXPECT_THAT(Get(*agg_, "10", "2023-Q5", &c),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("period")));
  EXPECT_THAT(Get(*agg_, "", "2023", &c),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("unit_code")));
  EXPECT_THAT(Get(*agg_, "99", "2023", &c), StatusIs(grpc::StatusCode::NOT_FOUND, HasSubstr("99")));
  v1::ListCoverageRequest list;
  list.set_parent_code("101");
  list.set_level(v1::ADMIN_LEVEL_PROVINCE);
  list.set_period("2023");
  v1::ListCoverageResponse response;
  grpc::ClientContext context;
  EXPECT_THAT(agg_->stub().ListCoverage(&context, list, &response),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("level")));
}

TEST_P(AggregationServiceTest, ReadYourWritesAcrossTwoReplicas) {
  // With Redis the replicas share entries; with in-process caches each has its own, and the
  // guarantee must hold all the same.
  LoadSmallTree(ingestion_->stub());
  std::unique_ptr<AggregationHarness> other = StartAggregation();
  for (int round = 1; round <= 5; ++round) {
    const int64_t value = 1000 * round;
    Submit(ingestion_->stub(), {Record("10201", "2023-12", v1::SCHEME_HEALTH, value)}, {},
           absl::StrCat("round-", round));
    // Each acknowledged write is visible at once, from either replica, for every level.
    AggregationHarness& first = round % 2 == 0 ? *agg_ : *other;
    AggregationHarness& second = round % 2 == 0 ? *other : *agg_;
    EXPECT_EQ(Health(first, "10", "2023"), value) << "round " << round;
    EXPECT_EQ(Health(second, "10", "2023"), value) << "round " << round;
    EXPECT_EQ(Health(second, "102", "2023"), value) << "round " << round;
    EXPECT_EQ(Health(first, "102", "2023"), value) << "round " << round;
  }
  if (!redis_.empty()) {
    // The replicas did use what the other cached (the cache is shared), and refused what a
    // write had made stale.
    EXPECT_GT(other->service().stats().entries_served + agg_->service().stats().entries_served, 0);
    EXPECT_GT(agg_->service().stats().entries_stale + other->service().stats().entries_stale, 0);
  }
  // Unrelated entries survive writes elsewhere.
  Health(*agg_, "101", "2023");
  Health(*other, "101", "2023");
  const aggregation::AggregationStats before = other->service().stats();
  Submit(ingestion_->stub(), {Record("10201", "2023-12", v1::SCHEME_HEALTH, 7)}, {}, "elsewhere");
  Health(*other, "101", "2023");  // 101 was not touched by a write to 10201
  EXPECT_EQ(other->service().stats().entries_computed, before.entries_computed);
  EXPECT_GT(other->service().stats().entries_served, before.entries_served);
  // A replica started after the writes (it saw no change feed before) is right too.
  std::unique_ptr<AggregationHarness> late = StartAggregation();
  EXPECT_EQ(Health(*late, "10", "2023"), 7);
}

TEST_P(AggregationServiceTest, ReadYourWritesUnderConcurrentLoad) {
  // Writers and readers at once on two replicas: every reader that starts after a write was
  // acknowledged sees it, while head lookups are shared between concurrent requests.
  LoadSmallTree(ingestion_->stub());
  std::unique_ptr<AggregationHarness> other = StartAggregation();
  const std::vector<std::string> communes = {"10101", "10102", "10201"};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (size_t t = 0; t < communes.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int round = 1; round <= 15; ++round) {
        const int64_t value = 100 * static_cast<int64_t>(t) + round;
        Submit(ingestion_->stub(), {Record(communes[t], "2023-12", v1::SCHEME_HEALTH, value)}, {},
               absl::StrCat("load-", t, "-", round));
        AggregationHarness& replica = round % 2 == 0 ? *agg_ : *other;
        if (Health(replica, communes[t], "2023") != value) {
          ++failures;
        }
      }
    });
  }
  // Readers of the province keep the cache busy meanwhile.
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop) {
      Health(*agg_, "10", "2023");
      Health(*other, "10", "2023");
    }
  });
  for (auto& t : threads) {
    t.join();
  }
  stop = true;
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  // After the last writes, both replicas agree on the total.
  EXPECT_EQ(Health(*agg_, "10", "2023"), 15 + 115 + 215);
  EXPECT_EQ(Health(*other, "10", "2023"), 15 + 115 + 215);
}

TEST_P(AggregationServiceTest, DenominatorAndUnitChangesInvalidate) {
  LoadSmallTree(ingestion_->stub());
  Submit(ingestion_->stub(), {Record("10101", "2023-12", v1::SCHEME_HEALTH, 50)},
         {Denominator("10", 2023, v1::DENOMINATOR_KIND_POPULATION, 100)}, "d1");
  EXPECT_DOUBLE_EQ(Scheme(MustGet(*agg_, "10", "2023"), v1::SCHEME_HEALTH).coverage_percent(), 50);
  Submit(ingestion_->stub(), {}, {Denominator("10", 2023, v1::DENOMINATOR_KIND_POPULATION, 200)},
         "d2");
  EXPECT_DOUBLE_EQ(Scheme(MustGet(*agg_, "10", "2023"), v1::SCHEME_HEALTH).coverage_percent(), 25);
  // A new commune under district 101 changes the expected units.
  EXPECT_EQ(Scheme(MustGet(*agg_, "101", "2023"), v1::SCHEME_HEALTH).expected_units(), 2);
  ImportUnits(ingestion_->stub(), {Unit("10103", v1::ADMIN_LEVEL_COMMUNE, "101")}, "new-commune");
  EXPECT_EQ(Scheme(MustGet(*agg_, "101", "2023"), v1::SCHEME_HEALTH).expected_units(), 3);
}

INSTANTIATE_TEST_SUITE_P(Caches, AggregationServiceTest, ::testing::Values("in_process", "redis"),
                         [](const auto& info) { return info.param; });

// Redis going away and coming back, and being flushed, under a running service.
class AggregationRedisOutageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::optional<std::string> binary = RedisProcess::ServerBinary();
    COVTRACK_REQUIRE_SERVER(binary, "redis-server (COVTRACK_TEST_REDIS_SERVER)");
    redis_ = RedisProcess::Start(*binary);
    ASSERT_NE(redis_, nullptr);
    ingestion_ = IngestionHarness::Start();
    LoadSmallTree(ingestion_->stub());
    aggregation::AggregationOptions options;
    options.ingestion_addr = ingestion_->address();
    options.redis_addr = redis_->address();
    options.cache_key = kTestCacheKey;
    options.redis_timeout = absl::Milliseconds(100);
    options.stats_log_interval = absl::ZeroDuration();
    options.cache_namespace = "outage-test";
    options.default_consistency = v1::CONSISTENCY_FULL;  // reads right after writes
    agg_ = AggregationHarness::Start(options);
    ASSERT_TRUE(Eventually([&] { return agg_->service().stats().cache.available; }));
  }

  std::unique_ptr<RedisProcess> redis_;
  std::unique_ptr<IngestionHarness> ingestion_;
  std::unique_ptr<AggregationHarness> agg_;
};

TEST_F(AggregationRedisOutageTest, KilledAndRestartedMidTest) {
  Submit(ingestion_->stub(), {Record("10101", "2023-12", v1::SCHEME_HEALTH, 11)}, {}, "a");
  EXPECT_EQ(Health(*agg_, "10", "2023"), 11);
  EXPECT_EQ(Health(*agg_, "10", "2023"), 11);
  EXPECT_GE(agg_->service().stats().entries_served, 1);

  redis_->Kill();
  // Answers stay correct without Redis, writes included.
  EXPECT_EQ(Health(*agg_, "10", "2023"), 11);
  Submit(ingestion_->stub(), {Record("10101", "2023-12", v1::SCHEME_HEALTH, 12)}, {}, "b");
  EXPECT_EQ(Health(*agg_, "10", "2023"), 12);
  EXPECT_EQ(Health(*agg_, "101", "2023"), 12);
  const aggregation::AggregationStats down = agg_->service().stats();
  EXPECT_FALSE(down.cache.available);
  EXPECT_GE(down.cache.outages, 1);  // the metric says so
  EXPECT_GE(down.cache.errors + down.cache.skipped_unavailable, 1);

  ASSERT_TRUE(redis_->Restart());
  ASSERT_TRUE(Eventually([&] { return agg_->service().stats().cache.available; }))
      << "the service did not reconnect to Redis";
  // Redis came back empty; the cache fills and serves again.
  EXPECT_EQ(Health(*agg_, "10", "2023"), 12);
  const aggregation::AggregationStats back = agg_->service().stats();
  EXPECT_EQ(Health(*agg_, "10", "2023"), 12);
  EXPECT_GT(agg_->service().stats().entries_served, back.entries_served);
  EXPECT_EQ(agg_->service().stats().entries_computed, back.entries_computed);
  ASSERT_TRUE(agg_->service().WaitShared(absl::Seconds(10)));  // written after the answers
  EXPECT_NE(RedisCommand(redis_->address(), "DBSIZE"), std::optional<std::string>("0"));
}

TEST_F(AggregationRedisOutageTest, FlushedMidTest) {
  Submit(ingestion_->stub(), {Record("10101", "2023-12", v1::SCHEME_HEALTH, 21)}, {}, "a");
  EXPECT_EQ(Health(*agg_, "10", "2023"), 21);
  ASSERT_TRUE(agg_->service().WaitShared(absl::Seconds(10)));  // flushed after the write lands
  ASSERT_EQ(RedisCommand(redis_->address(), "FLUSHALL"), std::optional<std::string>("OK"));
  EXPECT_EQ(Health(*agg_, "10", "2023"), 21);
  Submit(ingestion_->stub(), {Record("10101", "2023-12", v1::SCHEME_HEALTH, 22)}, {}, "b");
  ASSERT_TRUE(agg_->service().WaitShared(absl::Seconds(10)));
  ASSERT_EQ(RedisCommand(redis_->address(), "FLUSHALL"), std::optional<std::string>("OK"));
  EXPECT_EQ(Health(*agg_, "10", "2023"), 22);
  const aggregation::AggregationStats refilled = agg_->service().stats();
  EXPECT_EQ(Health(*agg_, "10", "2023"), 22);
  EXPECT_GT(agg_->service().stats().entries_served, refilled.entries_served);
  EXPECT_EQ(agg_->service().stats().entries_computed, refilled.entries_computed);
}

TEST_F(AggregationRedisOutageTest, StaleEntryWrittenBackIsNeverServed) {
  // A slow replica may write an entry computed before a change after the change committed
  // (or Redis may be restored from an old snapshot): the seq tag keeps it from being served.
  Submit(ingestion_->stub(), {Record("10101", "2023-12", v1::SCHEME_HEALTH, 31)}, {}, "a");
  EXPECT_EQ(Health(*agg_, "10", "2023"), 31);
  // A second replica, following the feed from here on, that has not read unit 10 yet (so it
  // has only the shared cache to go on for it).
  aggregation::AggregationOptions options;
  options.ingestion_addr = ingestion_->address();
  options.redis_addr = redis_->address();
  options.cache_key = kTestCacheKey;
  options.stats_log_interval = absl::ZeroDuration();
  options.cache_namespace = "outage-test";
  options.default_consistency = v1::CONSISTENCY_FULL;  // reads right after writes
  std::unique_ptr<AggregationHarness> other = AggregationHarness::Start(options);
  ASSERT_TRUE(Eventually([&] { return other->service().stats().cache.available; }));
  EXPECT_EQ(Health(*other, "102", "2023"), 0);

  const std::string key = "outage-test:agg:v3:10:2023";
  ASSERT_TRUE(agg_->service().WaitShared(absl::Seconds(10)));  // written after the answer
  std::optional<std::string> old_entry = RedisCommand(redis_->address(), "GET " + key);
  ASSERT_TRUE(old_entry.has_value() && !old_entry->empty());
  Submit(ingestion_->stub(), {Record("10101", "2023-12", v1::SCHEME_HEALTH, 32)}, {}, "b");
  EXPECT_EQ(Health(*agg_, "10", "2023"), 32);
  // Put the old entry back, as a lagging replica would (after this replica's own write).
  ASSERT_TRUE(agg_->service().WaitShared(absl::Seconds(10)));
  redisContext* c = redisConnect("127.0.0.1", std::stoi(redis_->address().substr(10)));
  ASSERT_NE(c, nullptr);
  auto* reply = static_cast<redisReply*>(
      redisCommand(c, "SET %b %b", key.data(), key.size(), old_entry->data(), old_entry->size()));
  freeReplyObject(reply);
  redisFree(c);
  const int64_t stale = other->service().stats().entries_stale;
  EXPECT_EQ(Health(*other, "10", "2023"), 32);
  EXPECT_GE(other->service().stats().entries_stale, stale + 1);
  EXPECT_EQ(Health(*agg_, "10", "2023"), 32);
}

// A rollup this replica held and a change made stale is recomputed from memory: the shared
// cache is asked only for rollups the replica never held (rollup_cache.cc, Rollups).
TEST_F(AggregationRedisOutageTest, StaleRollupIsRecomputedWithoutAskingRedis) {
  Submit(ingestion_->stub(), {Record("10101", "2023-12", v1::SCHEME_HEALTH, 51)}, {}, "a");
  EXPECT_EQ(Health(*agg_, "10", "2023"), 51);
  const aggregation::AggregationStats before = agg_->service().stats();
  Submit(ingestion_->stub(), {Record("10101", "2023-12", v1::SCHEME_HEALTH, 52)}, {}, "b");
  EXPECT_EQ(Health(*agg_, "10", "2023"), 52);
  const aggregation::AggregationStats after = agg_->service().stats();
  EXPECT_GT(after.entries_stale, before.entries_stale);
  EXPECT_GT(after.entries_computed, before.entries_computed);
  EXPECT_EQ(after.cache.hits + after.cache.misses, before.cache.hits + before.cache.misses)
      << "a stale rollup was looked up in Redis";
  // A rollup it never held is still asked of the shared cache.
  EXPECT_EQ(Health(*agg_, "101", "2023"), 52);
  EXPECT_GT(agg_->service().stats().cache.hits + agg_->service().stats().cache.misses,
            after.cache.hits + after.cache.misses);
}

// Issue 13's probe: an entry a third party wrote into Redis, under the key aggregation reads and
// tagged with a seq beyond any change, was served, and kept being served after later writes
// and a FLUSHALL (this replica kept the decoded entry, and no change came after its seq).
// Entries are signed with the replicas' key, and one from beyond the feed is refused anyway.
TEST_F(AggregationRedisOutageTest, ForgedEntryIsNeverServed) {
  Submit(ingestion_->stub(), {Record("10101", "2023-12", v1::SCHEME_HEALTH, 41)}, {}, "a");
  v1::Coverage forged = MustGet(*agg_, "10", "2023");
  for (v1::SchemeCoverage& sc : *forged.mutable_schemes()) {
    sc.set_participants(999'999);
  }
  const std::string key = "outage-test:agg:v3:10:2023";
  const std::string payload = forged.SerializeAsString();
  for (const std::string& tag : {std::string("9223372036854775807:0000000000000000|"),
                                 std::string("9223372036854775807|")}) {
    // The forged entry must not be overwritten by this replica's own write of the key, queued
    // by its last answer.
    ASSERT_TRUE(agg_->service().WaitShared(absl::Seconds(10)));
    const std::string value = tag + payload;
    redisContext* c = redisConnect("127.0.0.1", std::stoi(redis_->address().substr(10)));
    ASSERT_NE(c, nullptr);
    auto* reply = static_cast<redisReply*>(
        redisCommand(c, "SET %b %b", key.data(), key.size(), value.data(), value.size()));
    freeReplyObject(reply);
    redisFree(c);
    // A fresh replica, which has only Redis to go on for unit 10.
    aggregation::AggregationOptions options;
    options.ingestion_addr = ingestion_->address();
    options.redis_addr = redis_->address();
    options.cache_key = kTestCacheKey;
    options.stats_log_interval = absl::ZeroDuration();
    options.cache_namespace = "outage-test";
    options.default_consistency = v1::CONSISTENCY_FULL;  // reads right after writes
    std::unique_ptr<AggregationHarness> other = AggregationHarness::Start(options);
    ASSERT_TRUE(Eventually([&] { return other->service().stats().cache.available; }));
    EXPECT_EQ(Health(*other, "10", "2023"), 41);
    EXPECT_GE(other->service().stats().cache.rejected, 1);
    ASSERT_EQ(RedisCommand(redis_->address(), "FLUSHALL"), std::optional<std::string>("OK"));
    EXPECT_EQ(Health(*other, "10", "2023"), 41);
    Submit(ingestion_->stub(), {Record("10102", "2023-12", v1::SCHEME_HEALTH, 1)}, {},
           absl::StrCat("later-", tag.size()));
    EXPECT_EQ(Health(*other, "10", "2023"), 42);
    EXPECT_EQ(Health(*agg_, "10", "2023"), 42);
    Submit(ingestion_->stub(), {Record("10102", "2023-12", v1::SCHEME_HEALTH, 0)}, {},
           absl::StrCat("undo-", tag.size()));
  }
}

// A Redis that takes connections and answers PING (its health check) and MGET (all misses), but
// never answers anything else: a server stalled in the middle of the replica's write of entries.
class StalledRedis {
 public:
  StalledRedis() {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (listener_ < 0 || bind(listener_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(listener_, 16) != 0 ||
        getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  // Closes every connection (a stalled write then fails at once) and stops listening.
  ~StalledRedis() { Stop(); }
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) {
        return;
      }
      stopping_ = true;
      for (int fd : connections_) {
        shutdown(fd, SHUT_RDWR);
      }
    }
    if (acceptor_.joinable()) {
      acceptor_.join();
    }
    for (std::thread& t : servers_) {
      t.join();
    }
    close(listener_);
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  int writes_seen() {
    absl::MutexLock lock(&mu_);
    return writes_seen_;
  }

 private:
  bool Stopping() {
    absl::MutexLock lock(&mu_);
    return stopping_;
  }
  void Accept() {
    while (!Stopping()) {
      pollfd p{listener_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) {
        continue;
      }
      const int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0) {
        continue;
      }
      absl::MutexLock lock(&mu_);
      if (stopping_) {
        close(fd);  // accepted after Stop shut the others down
        return;
      }
      connections_.push_back(fd);
      servers_.emplace_back([this, fd] { Serve(fd); });
    }
  }
  // Reads RESP commands ("*N\r\n" then N "$len\r\n<bytes>\r\n") and answers PING and MGET.
  void Serve(int fd) {
    std::string in;
    char buf[4096];
    while (true) {
      const ssize_t n = read(fd, buf, sizeof(buf));
      if (n <= 0) {
        break;
      }
      in.append(buf, static_cast<size_t>(n));
      std::vector<std::string> args;
      while (ParseCommand(in, &args)) {
        const std::string name = absl::AsciiStrToUpper(args.empty() ? "" : args[0]);
        std::string reply;
        if (name == "PING") {
          reply = "+PONG\r\n";
        } else if (name == "MGET") {
          reply = absl::StrCat("*", args.size() - 1, "\r\n");
          for (size_t i = 1; i < args.size(); ++i) {
            absl::StrAppend(&reply, "$-1\r\n");
          }
        } else {
          absl::MutexLock lock(&mu_);
          ++writes_seen_;
          continue;  // stalled: no answer, ever
        }
        if (write(fd, reply.data(), reply.size()) != static_cast<ssize_t>(reply.size())) {
          break;
        }
      }
    }
    close(fd);
  }
  // Takes one whole command off the front of `in` into `args`; false while it is incomplete.
  static bool ParseCommand(std::string& in, std::vector<std::string>* args) {
    args->clear();
    size_t pos = 0;
    auto line = [&](std::string* out) {
      const size_t end = in.find("\r\n", pos);
      if (end == std::string::npos) {
        return false;
      }
      *out = in.substr(pos, end - pos);
      pos = end + 2;
      return true;
    };
    std::string header;
    int count = 0;
    if (!line(&header) || header.empty() || header[0] != '*' ||
        !absl::SimpleAtoi(header.substr(1), &count)) {
      return false;
    }
    for (int i = 0; i < count; ++i) {
      std::string size_line;
      size_t size = 0;
      if (!line(&size_line) || size_line.empty() || !absl::SimpleAtoi(size_line.substr(1), &size) ||
          in.size() < pos + size + 2) {
        return false;
      }
      args->push_back(in.substr(pos, size));
      pos += size + 2;
    }
    in.erase(0, pos);
    return true;
  }

  int listener_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int writes_seen_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<int> connections_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> servers_;  // joined in Stop, after the acceptor
};

// Answers never wait on the shared cache: the entries an answer computed are written to Redis
// after it, by the replica's sharer. With a Redis that stalls on that write (and a command
// timeout far beyond the call's deadline), answers still come, right, at once.
TEST(AggregationSharerTest, AnswersDoNotWaitForTheSharedCachesWrite) {
  StalledRedis redis;
  std::unique_ptr<IngestionHarness> ingestion = IngestionHarness::Start();
  LoadSmallTree(ingestion->stub());
  Submit(ingestion->stub(), {Record("10101", "2023-12", v1::SCHEME_HEALTH, 5)}, {}, "a");
  aggregation::AggregationOptions options;
  options.ingestion_addr = ingestion->address();
  options.redis_addr = redis.address();
  options.cache_key = kTestCacheKey;
  options.redis_timeout = absl::Seconds(120);  // beyond Get's 30 s deadline
  options.stats_log_interval = absl::ZeroDuration();
  options.cache_namespace = "sharer-test";
  options.default_consistency = v1::CONSISTENCY_FULL;
  std::unique_ptr<AggregationHarness> agg = AggregationHarness::Start(options);
  ASSERT_TRUE(Eventually([&] { return agg->service().stats().cache.available; }));
  EXPECT_EQ(Health(*agg, "10", "2023"), 5);
  EXPECT_EQ(Health(*agg, "101", "2023"), 5);
  Submit(ingestion->stub(), {Record("10101", "2023-12", v1::SCHEME_HEALTH, 6)}, {}, "b");
  EXPECT_EQ(Health(*agg, "10", "2023"), 6);
  // The write did reach Redis, and is still waiting there.
  EXPECT_TRUE(Eventually([&] { return redis.writes_seen() > 0; }));
  EXPECT_FALSE(agg->service().WaitShared(absl::Milliseconds(200)));
  // Redis gone: the stalled write fails, and the queue drains (the entries are offered again
  // on their next use).
  redis.Stop();
  EXPECT_TRUE(agg->service().WaitShared(absl::Seconds(10)));
  EXPECT_EQ(Health(*agg, "10", "2023"), 6);
}

// With Redis but no key to sign entries with, aggregation does not start: the message says
// which flag is missing.
TEST(AggregationConfigTest, RedisWithoutACacheKeyIsRefused) {
  aggregation::AggregationOptions options;
  options.ingestion_addr = "127.0.0.1:1";
  options.redis_addr = "127.0.0.1:6379";
  absl::StatusOr<std::unique_ptr<aggregation::AggregationServiceImpl>> made =
      aggregation::AggregationServiceImpl::Create(options);
  EXPECT_TRUE(absl::IsInvalidArgument(made.status()));
  EXPECT_THAT(made.status().message(), HasSubstr("--cache_key_file"));
}

}  // namespace
}  // namespace covtrack::testing
