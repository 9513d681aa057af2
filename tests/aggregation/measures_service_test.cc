// The measures beyond participants through the real services (issue 11): a real ingestion
// service in-process (SQLite), the real aggregation service over gRPC on loopback, following the
// feed from before the first value was written (and a second replica loading them as a
// snapshot). Communes' figures rolled up to districts by each measure's rule.
//
// Province 01; district 001 (communes 00001, 00004, 00006), 002 (00010, 00011), 003 (00013),
// 004 (00016, which reports nothing).
#include <grpcpp/grpcpp.h>

#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/measures.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/aggregation/measure_rollup.h"
#include "tests/aggregation/aggregation_harness.h"
#include "tests/testing/builders.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/status_matchers.h"

namespace covtrack::testing {
namespace {

using ::testing::HasSubstr;

constexpr v1::AdminLevel kProvince = v1::ADMIN_LEVEL_PROVINCE;
constexpr v1::AdminLevel kDistrict = v1::ADMIN_LEVEL_DISTRICT;
constexpr v1::AdminLevel kCommune = v1::ADMIN_LEVEL_COMMUNE;
constexpr v1::Scheme kHealth = v1::SCHEME_HEALTH;
constexpr v1::Scheme kCompulsory = v1::SCHEME_COMPULSORY_SOCIAL;
constexpr v1::PayerGroup kHousehold = v1::PAYER_GROUP_HOUSEHOLD;

std::string MonthOf(int year, int month) { return absl::StrFormat("%04d-%02d", year, month); }

const v1::MeasureValue* Find(const v1::MeasureSummary& s, v1::Measure measure,
                             v1::Scheme scheme = v1::SCHEME_UNSPECIFIED,
                             v1::PayerGroup group = v1::PAYER_GROUP_UNSPECIFIED) {
  for (const v1::MeasureValue& v : s.values()) {
    if (v.measure() == measure && v.scheme() == scheme && v.payer_group() == group) {
      return &v;
    }
  }
  return nullptr;
}

class MeasuresServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ingestion_ = IngestionHarness::Start();
    ImportUnits(
        ingestion_->stub(),
        {Unit("01", kProvince, "", "", "", "Thành phố Hà Nội"),
         Unit("001", kDistrict, "01", "", "", "Quận Ba Đình"), Unit("00001", kCommune, "001"),
         Unit("00004", kCommune, "001"), Unit("00006", kCommune, "001"),
         Unit("002", kDistrict, "01", "", "", "Quận Hoàn Kiếm"), Unit("00010", kCommune, "002"),
         Unit("00011", kCommune, "002"), Unit("003", kDistrict, "01", "", "", "Quận Tây Hồ"),
         Unit("00013", kCommune, "003"), Unit("004", kDistrict, "01", "", "", "Quận Long Biên"),
         Unit("00016", kCommune, "004")},
        "units");
    // Started before any figure is written: every value below reaches it on the feed.
    agg_ = AggregationHarness::Start(ingestion_->address());
    const std::vector<std::string> d1 = {"00001", "00004", "00006"};
    std::vector<v1::ParticipationRecord> records;
    std::vector<v1::MeasureRecord> m;
    // Stocks of 001: health 6,000 -> 6,150 over 2024; compulsory 300 -> 330.
    const int64_t health_2023[] = {1000, 2000, 3000};
    const int64_t health_2024[] = {1100, 2050, 3000};
    for (int i = 0; i < 3; ++i) {
      records.push_back(Record(d1[i], "2023-12", kHealth, health_2023[i]));
      records.push_back(Record(d1[i], "2024-12", kHealth, health_2024[i]));
      records.push_back(Record(d1[i], "2023-12", kCompulsory, 100));
      records.push_back(Record(d1[i], "2024-12", kCompulsory, 110));
    }
    for (int month = 1; month <= 12; ++month) {
      for (const std::string& c : d1) {
        // Health flows: 360 new, 180 + 30 lost in 2024 = +150, as the stock (no finding).
        m.push_back(
            MakeMeasureRecord(c, MonthOf(2024, month), v1::MEASURE_NEW_PARTICIPANTS, 10, kHealth));
        m.push_back(MakeMeasureRecord(c, MonthOf(2024, month), v1::MEASURE_LOST_PARTICIPANTS,
                                      c == "00001" && month == 12 ? 35 : 5, kHealth));
        m.push_back(
            MakeMeasureRecord(c, MonthOf(2023, month), v1::MEASURE_NEW_PARTICIPANTS, 8, kHealth));
        m.push_back(
            MakeMeasureRecord(c, MonthOf(2024, month), v1::MEASURE_CONTRIBUTIONS_DUE_VND, 1000));
      }
      // Distinct participants, a stock: 00004 stops reporting after November.
      m.push_back(MakeMeasureRecord("00001", MonthOf(2024, month),
                                    v1::MEASURE_DISTINCT_PARTICIPANTS, 5000 + month));
      if (month <= 11) {
        m.push_back(MakeMeasureRecord("00004", MonthOf(2024, month),
                                      v1::MEASURE_DISTINCT_PARTICIPANTS, 6000 + month));
      }
    }
    m.push_back(MakeMeasureRecord("00006", "2024-12", v1::MEASURE_DISTINCT_PARTICIPANTS, 7000));
    // Compulsory flows: +45 against a stock change of +30 (a finding).
    for (const std::string& c : d1) {
      m.push_back(MakeMeasureRecord(c, "2024-06", v1::MEASURE_NEW_PARTICIPANTS, 20, kCompulsory));
      m.push_back(MakeMeasureRecord(c, "2024-06", v1::MEASURE_LOST_PARTICIPANTS, 5, kCompulsory));
    }
    // Households paying for themselves in 00001: 400 -> 450, flows +10 (a finding).
    m.push_back(MakeMeasureRecord("00001", "2023-12", v1::MEASURE_HEALTH_BY_PAYER, 400, kHealth,
                                  kHousehold));
    m.push_back(MakeMeasureRecord("00001", "2024-12", v1::MEASURE_HEALTH_BY_PAYER, 450, kHealth,
                                  kHousehold));
    m.push_back(MakeMeasureRecord("00001", "2024-03", v1::MEASURE_NEW_PARTICIPANTS, 10, kHealth,
                                  kHousehold));
    m.push_back(MakeMeasureRecord("00001", "2024-03", v1::MEASURE_LOST_PARTICIPANTS, 0, kHealth,
                                  kHousehold));
    // 001 reported its own March due (overriding its communes' for that month) and its own June
    // arrears (older than its communes' December ones, which count).
    m.push_back(MakeMeasureRecord("001", "2024-03", v1::MEASURE_CONTRIBUTIONS_DUE_VND, 5000));
    m.push_back(MakeMeasureRecord("001", "2024-06", v1::MEASURE_ARREARS_OWED_VND, 10000));
    m.push_back(MakeMeasureRecord("00001", "2024-12", v1::MEASURE_ARREARS_OWED_VND, 100));
    m.push_back(MakeMeasureRecord("00004", "2024-12", v1::MEASURE_ARREARS_OWED_VND, 200));
    m.push_back(MakeMeasureRecord("00006", "2024-12", v1::MEASURE_ARREARS_OWED_VND, 300));
    // 2023's ratio for 001: 300 / 10,000 = 3 %.
    m.push_back(MakeMeasureRecord("00001", "2023-12", v1::MEASURE_ARREARS_OWED_VND, 300));
    m.push_back(MakeMeasureRecord("00001", "2023-12", v1::MEASURE_CONTRIBUTIONS_DUE_VND, 10000));
    // 002: 1 % and 90 % in its communes; 100 / 1,100 = 9.09 % as a whole (not 45.5 %).
    m.push_back(MakeMeasureRecord("00010", "2024-12", v1::MEASURE_ARREARS_OWED_VND, 10));
    m.push_back(MakeMeasureRecord("00010", "2024-12", v1::MEASURE_CONTRIBUTIONS_DUE_VND, 1000));
    m.push_back(MakeMeasureRecord("00011", "2024-12", v1::MEASURE_ARREARS_OWED_VND, 90));
    m.push_back(MakeMeasureRecord("00011", "2024-12", v1::MEASURE_CONTRIBUTIONS_DUE_VND, 100));
    m.push_back(MakeMeasureRecord("00010", "2024-12", v1::MEASURE_EMPLOYERS_OWING, 0));
    m.push_back(MakeMeasureRecord("00011", "2024-12", v1::MEASURE_EMPLOYERS_OWING, 0));
    // 003 reported its own December figures, which override its commune's: 777 / 100,000.
    m.push_back(MakeMeasureRecord("00013", "2024-12", v1::MEASURE_ARREARS_OWED_VND, 5));
    m.push_back(MakeMeasureRecord("003", "2024-12", v1::MEASURE_ARREARS_OWED_VND, 777));
    m.push_back(MakeMeasureRecord("003", "2024-12", v1::MEASURE_CONTRIBUTIONS_DUE_VND, 100000));

    v1::SubmitReportRequest request;
    request.set_request_id("figures");
    request.set_source("test");
    for (const auto& r : records) {
      *request.add_records() = r;
    }
    for (const auto& r : m) {
      *request.add_measures() = r;
    }
    grpc::ClientContext context;
    ASSERT_THAT(ingestion_->stub().SubmitReport(&context, request, &submitted_), IsOk());
  }

  grpc::Status Get(const std::string& code, const std::string& period,
                   const std::vector<v1::Measure>& measures, v1::MeasureSummary* summary,
                   AggregationHarness* agg = nullptr) {
    v1::GetMeasuresRequest request;
    request.set_unit_code(code);
    request.set_period(period);
    for (v1::Measure measure : measures) {
      request.add_measures(measure);
    }
    request.mutable_freshness()->set_at_least_seq(submitted_.change_seq());
    grpc::ClientContext context;
    return (agg != nullptr ? agg : agg_.get())->stub().GetMeasures(&context, request, summary);
  }

  v1::MeasureSummary MustGet(const std::string& code, const std::string& period,
                             const std::vector<v1::Measure>& measures = {}) {
    v1::MeasureSummary summary;
    EXPECT_THAT(Get(code, period, measures, &summary), IsOk()) << code << " " << period;
    return summary;
  }

  std::unique_ptr<IngestionHarness> ingestion_;
  std::unique_ptr<AggregationHarness> agg_;
  v1::SubmitReportResponse submitted_;
};

TEST_F(MeasuresServiceTest, DistrictYearFromCommunesStocksLastFlowsSummed) {
  const v1::MeasureSummary s = MustGet("001", "2024");
  EXPECT_EQ(s.unit().name(), "Quận Ba Đình");
  EXPECT_EQ(s.period(), "2024");
  EXPECT_GE(s.reflects_seq(), submitted_.change_seq());
  // A flow: every month of every commune, 12 × 3 × 10.
  const v1::MeasureValue* gained = Find(s, v1::MEASURE_NEW_PARTICIPANTS, kHealth);
  ASSERT_NE(gained, nullptr);
  EXPECT_EQ(gained->value(), 360);
  EXPECT_EQ(gained->months_reported(), 12);
  EXPECT_EQ(gained->as_of_month(), "2024-12");
  EXPECT_EQ(gained->reporting_units(), 3);
  EXPECT_EQ(gained->expected_units(), 3);
  // A stock: each commune's latest month (00004's November), never a sum of months.
  const v1::MeasureValue* distinct = Find(s, v1::MEASURE_DISTINCT_PARTICIPANTS);
  ASSERT_NE(distinct, nullptr);
  EXPECT_EQ(distinct->value(), 5012 + 6011 + 7000);
  EXPECT_EQ(distinct->as_of_month(), "2024-12");
  EXPECT_EQ(distinct->reporting_units(), 2);
  EXPECT_EQ(distinct->expected_units(), 3);
  EXPECT_EQ(distinct->months_reported(), 0);
  // The first half: June's stock, and six months of flows.
  const v1::MeasureSummary h1 = MustGet("001", "2024-H1");
  EXPECT_EQ(Find(h1, v1::MEASURE_DISTINCT_PARTICIPANTS)->value(), 5006 + 6006);
  EXPECT_EQ(Find(h1, v1::MEASURE_NEW_PARTICIPANTS, kHealth)->value(), 180);
  // The province: the same communes through their districts.
  const v1::MeasureSummary province = MustGet("01", "2024");
  EXPECT_EQ(Find(province, v1::MEASURE_NEW_PARTICIPANTS, kHealth)->value(), 360);
  EXPECT_EQ(Find(province, v1::MEASURE_NEW_PARTICIPANTS, kHealth)->expected_units(), 7);
}

TEST_F(MeasuresServiceTest, AUnitsOwnFigureOverridesItsChildrensForItsMonth) {
  const v1::MeasureSummary s001 = MustGet("001", "2024");
  // The due, a flow: 001's own March (5,000) instead of its communes' (3,000), other months
  // from the communes.
  const v1::MeasureValue* due = Find(s001, v1::MEASURE_CONTRIBUTIONS_DUE_VND);
  ASSERT_NE(due, nullptr);
  EXPECT_EQ(due->value(), 11 * 3000 + 5000);
  // The owed, a stock: 001's own June is older than its communes' December, which count.
  EXPECT_EQ(Find(s001, v1::MEASURE_ARREARS_OWED_VND)->value(), 600);
  EXPECT_EQ(Find(s001, v1::MEASURE_ARREARS_OWED_VND)->reporting_units(), 3);
  // In the first half, 001's own June is the latest: it stands for the whole district.
  EXPECT_EQ(Find(MustGet("001", "2024-H1"), v1::MEASURE_ARREARS_OWED_VND)->value(), 10000);
  // 003's own December overrides its commune's December (never added to it).
  const v1::MeasureSummary s003 = MustGet("003", "2024");
  EXPECT_EQ(Find(s003, v1::MEASURE_ARREARS_OWED_VND)->value(), 777);
  EXPECT_EQ(Find(s003, v1::MEASURE_ARREARS_OWED_VND)->reporting_units(), 1);
}

TEST_F(MeasuresServiceTest, ArrearsRatioFromSumsNotAnAverageOfRatios) {
  const v1::MeasureSummary s = MustGet("002", "2024");
  const v1::MeasureValue* ratio = Find(s, v1::MEASURE_ARREARS_RATIO);
  ASSERT_NE(ratio, nullptr);
  EXPECT_FALSE(ratio->has_value());
  EXPECT_DOUBLE_EQ(ratio->percent(), 100.0 * 100 / 1100);  // 9.09 %, not (1 % + 90 %) / 2
  EXPECT_EQ(ratio->as_of_month(), "2024-12");
  // Asked alone, the ratio comes alone (its parts are computed, not listed).
  const v1::MeasureSummary alone = MustGet("002", "2024", {v1::MEASURE_ARREARS_RATIO});
  ASSERT_EQ(alone.values_size(), 1);
  EXPECT_DOUBLE_EQ(alone.values(0).percent(), 100.0 * 100 / 1100);
}

TEST_F(MeasuresServiceTest, NothingReportedIsAbsentAndAReportedZeroIsZero) {
  const v1::MeasureSummary s = MustGet("002", "2024");
  const v1::MeasureValue* owing = Find(s, v1::MEASURE_EMPLOYERS_OWING);
  ASSERT_NE(owing, nullptr);
  EXPECT_TRUE(owing->has_value());
  EXPECT_EQ(owing->value(), 0);
  EXPECT_EQ(Find(s, v1::MEASURE_ARREARS_OVERDUE_3M_VND), nullptr);
  EXPECT_EQ(Find(s, v1::MEASURE_DISTINCT_PARTICIPANTS), nullptr);
  // 004 reported nothing at all: no values, no findings.
  const v1::MeasureSummary none = MustGet("004", "2024");
  EXPECT_EQ(none.values_size(), 0);
  EXPECT_EQ(none.findings_size(), 0);
  // The ratio of a half year: December's owed over six months' due.
  EXPECT_DOUBLE_EQ(
      Find(MustGet("001", "2024-H2", {v1::MEASURE_ARREARS_RATIO}), v1::MEASURE_ARREARS_RATIO)
          ->percent(),
      100.0 * 600 / 18000);
  // A ratio without its due is absent, not 0 and not infinite.
  EXPECT_EQ(MustGet("00013", "2024", {v1::MEASURE_ARREARS_RATIO}).values_size(), 0);
}

TEST_F(MeasuresServiceTest, ComparedWithTheYearBefore) {
  const v1::MeasureSummary s = MustGet("001", "2024");
  const v1::MeasureValue* gained = Find(s, v1::MEASURE_NEW_PARTICIPANTS, kHealth);
  ASSERT_NE(gained, nullptr);
  EXPECT_EQ(gained->same_period_last_year().period(), "2023");
  EXPECT_EQ(gained->same_period_last_year().value(), 288);  // 2023's months summed
  EXPECT_EQ(gained->same_period_last_year().value_change(), 72);
  ASSERT_EQ(gained->previous_year_ends_size(), 3);
  EXPECT_EQ(gained->previous_year_ends(0).period(), "2023");
  EXPECT_EQ(gained->previous_year_ends(1).period(), "2022");
  EXPECT_FALSE(gained->previous_year_ends(1).has_value());  // nothing reported: absent
  EXPECT_FALSE(gained->previous_year_ends(1).has_value_change());
  const v1::MeasureValue* ratio = Find(s, v1::MEASURE_ARREARS_RATIO);
  ASSERT_NE(ratio, nullptr);
  EXPECT_DOUBLE_EQ(ratio->same_period_last_year().percent(), 3.0);
  EXPECT_DOUBLE_EQ(ratio->same_period_last_year().percent_points_change(),
                   100.0 * 600 / 38000 - 3.0);
  EXPECT_FALSE(ratio->same_period_last_year().has_value());
}

TEST_F(MeasuresServiceTest, StockChangeAgainstNetFlowIsAFindingWhereTheyDiffer) {
  const v1::MeasureSummary s = MustGet("001", "2024");
  ASSERT_EQ(s.findings_size(), 2) << s.ShortDebugString();
  // Compulsory: +30 in the stock, +45 in the flows. Health as a whole reconciles (+150).
  EXPECT_EQ(s.findings(0).unit_code(), "001");
  EXPECT_EQ(s.findings(0).scheme(), kCompulsory);
  EXPECT_EQ(s.findings(0).payer_group(), v1::PAYER_GROUP_UNSPECIFIED);
  EXPECT_EQ(s.findings(0).stock_change(), 30);
  EXPECT_EQ(s.findings(0).net_flow(), 45);
  // Households: +50 in the stock, +10 in the flows.
  EXPECT_EQ(s.findings(1).scheme(), kHealth);
  EXPECT_EQ(s.findings(1).payer_group(), kHousehold);
  EXPECT_EQ(s.findings(1).stock_change(), 50);
  EXPECT_EQ(s.findings(1).net_flow(), 10);
  // Without both stocks there is nothing to reconcile (the first half has no stock in June).
  EXPECT_EQ(MustGet("001", "2024-H1").findings_size(), 0);
  // Findings are about flows: not made when only arrears are asked.
  EXPECT_EQ(MustGet("001", "2024", {v1::MEASURE_ARREARS_OWED_VND}).findings_size(), 0);
}

TEST_F(MeasuresServiceTest, ListOrderedByWorstArrearsRatioFirstAbsentLast) {
  v1::ListMeasuresRequest request;
  request.set_parent_code("01");
  request.set_period("2024");
  request.add_measures(v1::MEASURE_ARREARS_RATIO);
  request.mutable_order_by()->set_measure(v1::MEASURE_ARREARS_RATIO);
  request.mutable_order_by()->set_descending(true);
  request.mutable_freshness()->set_at_least_seq(submitted_.change_seq());
  auto codes = [&](const v1::ListMeasuresRequest& r) {
    std::vector<std::string> out;
    std::string token;
    do {
      v1::ListMeasuresRequest page = r;
      page.set_page_size(1);
      page.set_page_token(token);
      v1::ListMeasuresResponse response;
      grpc::ClientContext context;
      EXPECT_THAT(agg_->stub().ListMeasures(&context, page, &response), IsOk());
      EXPECT_GE(response.reflects_seq(), submitted_.change_seq());
      for (const v1::MeasureSummary& s : response.summaries()) {
        out.push_back(s.unit().code());
        EXPECT_FALSE(s.values_size() > 0 &&
                     s.values(0).has_same_period_last_year());  // no comparisons in lists
      }
      token = response.next_page_token();
    } while (!token.empty() && out.size() < 10);
    return out;
  };
  EXPECT_THAT(codes(request), ::testing::ElementsAre("002", "001", "003", "004"));
  request.mutable_order_by()->set_descending(false);
  EXPECT_THAT(codes(request), ::testing::ElementsAre("003", "001", "002", "004"));
  // Ordered by a measure not listed; ties (nothing reported) by code.
  request.mutable_order_by()->set_measure(v1::MEASURE_DISTINCT_PARTICIPANTS);
  EXPECT_THAT(codes(request), ::testing::ElementsAre("001", "002", "003", "004"));
  // Every commune of the province, by code.
  request.clear_order_by();
  request.set_level(kCommune);
  EXPECT_THAT(codes(request), ::testing::ElementsAre("00001", "00004", "00006", "00010", "00011",
                                                     "00013", "00016"));
}

TEST_F(MeasuresServiceTest, ParticipantAnswersUnchanged) {
  v1::GetCoverageRequest request;
  request.set_unit_code("001");
  request.set_period("2024");
  request.mutable_freshness()->set_at_least_seq(submitted_.change_seq());
  v1::Coverage coverage;
  grpc::ClientContext context;
  ASSERT_THAT(agg_->stub().GetCoverage(&context, request, &coverage), IsOk());
  for (const v1::SchemeCoverage& sc : coverage.schemes()) {
    if (sc.scheme() == kHealth) {
      EXPECT_EQ(sc.participants(), 6150);
      EXPECT_EQ(sc.reporting_units(), 3);
      EXPECT_EQ(sc.same_period_last_year().participants(), 6000);
    }
  }
}

TEST_F(MeasuresServiceTest, ASnapshotAnswersAsTheFeedDid) {
  // A second replica loads everything as its snapshot (ExportData with include_measures).
  std::unique_ptr<AggregationHarness> loaded = AggregationHarness::Start(ingestion_->address());
  for (const char* code : {"01", "001", "002", "003"}) {
    v1::MeasureSummary followed, snapshot;
    ASSERT_THAT(Get(code, "2024", {}, &followed), IsOk());
    ASSERT_THAT(Get(code, "2024", {}, &snapshot, loaded.get()), IsOk());
    EXPECT_GT(followed.values_size(), 0);
    followed.clear_reflects_seq();
    snapshot.clear_reflects_seq();
    EXPECT_EQ(followed.SerializeAsString(), snapshot.SerializeAsString()) << code;
  }
  // A later value replaces the earlier one on both.
  v1::SubmitReportRequest request;
  request.set_request_id("later");
  request.set_source("test");
  *request.add_measures() = MakeMeasureRecord("00010", "2024-12", v1::MEASURE_ARREARS_OWED_VND, 40);
  v1::SubmitReportResponse response;
  grpc::ClientContext context;
  ASSERT_THAT(ingestion_->stub().SubmitReport(&context, request, &response), IsOk());
  submitted_ = response;
  for (AggregationHarness* agg : {agg_.get(), loaded.get()}) {
    v1::MeasureSummary s;
    ASSERT_THAT(Get("002", "2024", {v1::MEASURE_ARREARS_OWED_VND}, &s, agg), IsOk());
    ASSERT_EQ(s.values_size(), 1);
    EXPECT_EQ(s.values(0).value(), 130);
    EXPECT_GE(s.reflects_seq(), response.change_seq());
  }
}

TEST_F(MeasuresServiceTest, BadRequestsNameTheField) {
  v1::MeasureSummary s;
  EXPECT_THAT(Get("001", "2024-Q5", {}, &s),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("period")));
  EXPECT_THAT(Get("001", "2024", {v1::MEASURE_PARTICIPANTS}, &s),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("measures[0]")));
  EXPECT_THAT(Get("001", "2024", {v1::MEASURE_ARREARS_RATIO, static_cast<v1::Measure>(99)}, &s),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("measures[1]")));
  EXPECT_THAT(Get("999", "2024", {}, &s), StatusIs(grpc::StatusCode::NOT_FOUND, HasSubstr("999")));
  auto list = [&](const v1::MeasureOrder& order) {
    v1::ListMeasuresRequest request;
    request.set_parent_code("01");
    request.set_period("2024");
    *request.mutable_order_by() = order;
    v1::ListMeasuresResponse response;
    grpc::ClientContext context;
    return agg_->stub().ListMeasures(&context, request, &response);
  };
  v1::MeasureOrder order;
  order.set_measure(static_cast<v1::Measure>(99));
  EXPECT_THAT(list(order),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("order_by.measure")));
  order.set_measure(v1::MEASURE_ARREARS_RATIO);
  order.set_scheme(kHealth);
  EXPECT_THAT(list(order),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("order_by.scheme")));
  order.set_measure(v1::MEASURE_NEW_PARTICIPANTS);
  order.set_scheme(kCompulsory);
  order.set_payer_group(kHousehold);
  EXPECT_THAT(list(order),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("order_by.payer_group")));
  order.set_measure(v1::MEASURE_PARTICIPANTS);
  order.set_payer_group(v1::PAYER_GROUP_UNSPECIFIED);
  EXPECT_THAT(list(order),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("order_by.measure")));
}

// Plain data: a value outside its measure's bound makes the rollup an error, never a figure.
TEST(MeasureRollupTest, AValueOutsideItsBoundIsAnError) {
  const std::vector<v1::AdminUnit> units = {Unit("01", kProvince, ""),
                                            Unit("001", kDistrict, "01")};
  auto hierarchy = std::make_shared<const Hierarchy>(units);
  aggregation::TreeIndex tree(hierarchy, units);
  aggregation::CoverageData data;
  data.AddMeasure(MakeMeasureRecord("001", "2024-12", v1::MEASURE_ARREARS_OWED_VND, kMaxVnd));
  const absl::StatusOr<Period> year = Period::Parse("2024");
  ASSERT_TRUE(year.ok());
  absl::StatusOr<std::vector<aggregation::MeasureFigure>> ok =
      aggregation::RollupMeasures(tree, data, "01", *year, {});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)[aggregation::MeasureKeyIndex(v1::MEASURE_ARREARS_OWED_VND, v1::SCHEME_UNSPECIFIED,
                                               v1::PAYER_GROUP_UNSPECIFIED)]
                .value,
            kMaxVnd);
  data.AddMeasure(MakeMeasureRecord("001", "2024-12", v1::MEASURE_ARREARS_OWED_VND, kMaxVnd + 1));
  absl::StatusOr<std::vector<aggregation::MeasureFigure>> bad =
      aggregation::RollupMeasures(tree, data, "01", *year, {});
  EXPECT_TRUE(absl::IsInternal(bad.status())) << bad.status();
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("arrears_owed_vnd"));
}

}  // namespace
}  // namespace covtrack::testing
