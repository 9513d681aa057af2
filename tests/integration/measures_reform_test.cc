// Issue 11's measures read across the July 2025 reform, through the real services: ingestion,
// aggregation and targets in-process on loopback ports over gRPC (SQLite stores), the reference
// catalogue (data/vn-admin-units) imported, and the links of its old→new map that make the new
// 82 Đồng Tháp (old 82 Tiền Giang + old 87 Đồng Tháp from 2025-07-01) imported as the crosswalk.
// The old provinces report their own measures for 2023–2024, the new 82 for 2025-07..12. Every
// figure the services answer is checked against a sum this test makes from the rows it sent:
// the 2024 distinct participants and arrears ratio of the new 82 (the ratio from the summed
// amounts, never a mix of the two ratios), its 2025 compared with 2024 across the reform, and
// its 2025 targets re-expressed from the old provinces' (an amount summed, the ratio's ceiling
// weighted by what was due).

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/measures.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/aggregation/aggregation_harness.h"
#include "tests/targets/targets_harness.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/status_matchers.h"
#include "tools/sampledata/csv.h"
#include "tools/sampledata/sample_data.h"

namespace covtrack {
namespace {

using ::covtrack::testing::AggregationHarness;
using ::covtrack::testing::IngestionHarness;
using ::covtrack::testing::IsOk;
using ::covtrack::testing::TargetsHarness;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr char kReform[] = "2025-07-01";

// (code, measure, scheme, month) -> the value sent.
using Sent = std::map<std::tuple<std::string, v1::Measure, v1::Scheme, std::string>, int64_t>;

std::string MonthText(int year, int month) { return absl::StrFormat("%d-%02d", year, month); }

// Deterministic figures of one province for one month: the two old provinces differ in size
// and in arrears ratio, so that a mix of their ratios is not the ratio of their sums.
void AddFigures(const std::string& code, int year, int month, int64_t scale,
                std::vector<v1::MeasureRecord>& out, Sent& sent) {
  const std::string m = MonthText(year, month);
  const int64_t i = (year - 2023) * 12 + month;
  auto add = [&](v1::Measure measure, int64_t value, v1::Scheme scheme = v1::SCHEME_UNSPECIFIED) {
    out.push_back(MakeMeasureRecord(code, m, measure, value, scheme));
    sent[{code, measure, scheme, m}] = value;
  };
  add(v1::MEASURE_DISTINCT_PARTICIPANTS, scale * 1000 + i * 37);
  add(v1::MEASURE_NEW_PARTICIPANTS, scale * 11 + i, v1::SCHEME_HEALTH);
  add(v1::MEASURE_CONTRIBUTIONS_DUE_VND, scale * scale * 1'000'000'000 + i * 1'000'003);
  add(v1::MEASURE_ARREARS_OWED_VND, scale * scale * scale * 90'000'000 + i * 77'777);
}

class MeasuresReformTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ingestion_ = IngestionHarness::Start().release();
    absl::StatusOr<std::unique_ptr<sampledata::SampleData>> data = sampledata::SampleData::Load();
    ASSERT_THAT(data, IsOk());
    testing::ImportUnits(ingestion_->stub(), (*data)->units(), "catalogue");

    // The catalogue's map: the provinces that became the new 82, each whole.
    absl::StatusOr<std::string> text =
        sampledata::ReadFileToString(sampledata::DefaultDataDir() + "/merge_map_2025.csv");
    ASSERT_THAT(text, IsOk());
    absl::StatusOr<sampledata::CsvTable> map = sampledata::ParseCsv(*text);
    ASSERT_THAT(map, IsOk());
    v1::ImportCrosswalkRequest links;
    links.set_request_id("map-82");
    links.set_source("Nghị quyết 202/2025/QH15");
    predecessors_ = new std::vector<std::string>;
    for (const sampledata::CsvRow& row : map->rows) {
      if (row.fields.at(1) == "82" && row.fields.at(2) == "province") {
        predecessors_->push_back(row.fields.at(0));
        v1::CrosswalkLink* link = links.add_links();
        link->set_from_code(row.fields.at(0));
        link->set_to_code("82");
        link->set_effective_date(kReform);
        link->set_population_share(1);
      }
    }
    ASSERT_THAT(*predecessors_, UnorderedElementsAre("82", "87"));
    v1::ImportCrosswalkResponse imported;
    grpc::ClientContext link_context;
    ASSERT_THAT(ingestion_->stub().ImportCrosswalk(&link_context, links, &imported), IsOk());

    // Old 82 and old 87 for 2023–2024, the new 82 from its first month.
    sent_ = new Sent;
    std::vector<v1::MeasureRecord> records;
    for (int year : {2023, 2024}) {
      for (int month = 1; month <= 12; ++month) {
        AddFigures("82", year, month, 3, records, *sent_);
        AddFigures("87", year, month, 2, records, *sent_);
      }
    }
    for (int month = 7; month <= 12; ++month) {
      AddFigures("82", 2025, month, 5, records, *sent_);
    }
    v1::SubmitReportRequest request;
    request.set_request_id("measures-reform");
    for (const v1::MeasureRecord& r : records) {
      *request.add_measures() = r;
    }
    v1::SubmitReportResponse response;
    grpc::ClientContext context;
    ASSERT_THAT(ingestion_->stub().SubmitReport(&context, request, &response), IsOk());

    aggregation_ = AggregationHarness::Start(ingestion_->address()).release();
    targets_ =
        TargetsHarness::Start(aggregation_->address(), ingestion_->address(), absl::Seconds(10))
            .release();
  }

  static void TearDownTestSuite() {
    delete targets_;
    delete aggregation_;
    delete ingestion_;
    delete sent_;
    delete predecessors_;
  }

  // What the test sent for `code`: a stock at `month`, a flow summed over `year`.
  static int64_t At(const std::string& code, v1::Measure m, const std::string& month,
                    v1::Scheme s = v1::SCHEME_UNSPECIFIED) {
    auto it = sent_->find({code, m, s, month});
    return it == sent_->end() ? 0 : it->second;
  }
  static int64_t Year(const std::string& code, v1::Measure m, int year,
                      v1::Scheme s = v1::SCHEME_UNSPECIFIED) {
    int64_t sum = 0;
    for (int month = 1; month <= 12; ++month) {
      sum += At(code, m, MonthText(year, month), s);
    }
    return sum;
  }
  // Over the new 82's predecessors (read from the map).
  static int64_t OldAt(v1::Measure m, const std::string& month,
                       v1::Scheme s = v1::SCHEME_UNSPECIFIED) {
    int64_t sum = 0;
    for (const std::string& code : *predecessors_) {
      sum += At(code, m, month, s);
    }
    return sum;
  }
  static int64_t OldYear(v1::Measure m, int year, v1::Scheme s = v1::SCHEME_UNSPECIFIED) {
    int64_t sum = 0;
    for (const std::string& code : *predecessors_) {
      sum += Year(code, m, year, s);
    }
    return sum;
  }

  static grpc::Status Measures(const std::string& code, const std::string& period,
                               const std::string& territory_date, v1::MeasureSummary* summary) {
    v1::GetMeasuresRequest request;
    request.set_unit_code(code);
    request.set_period(period);
    request.set_territory_date(territory_date);
    grpc::ClientContext context;
    return aggregation_->stub().GetMeasures(&context, request, summary);
  }

  static const v1::MeasureValue* Find(const v1::MeasureSummary& summary, v1::Measure measure,
                                      v1::Scheme scheme = v1::SCHEME_UNSPECIFIED) {
    for (const v1::MeasureValue& value : summary.values()) {
      if (value.measure() == measure && value.scheme() == scheme &&
          value.payer_group() == v1::PAYER_GROUP_UNSPECIFIED) {
        return &value;
      }
    }
    ADD_FAILURE() << "no " << MeasureName(measure) << " in "
                  << summary.ShortDebugString().substr(0, 2000);
    return nullptr;
  }

  static IngestionHarness* ingestion_;
  static AggregationHarness* aggregation_;
  static TargetsHarness* targets_;
  static Sent* sent_;
  static std::vector<std::string>* predecessors_;
};

IngestionHarness* MeasuresReformTest::ingestion_ = nullptr;
AggregationHarness* MeasuresReformTest::aggregation_ = nullptr;
TargetsHarness* MeasuresReformTest::targets_ = nullptr;
Sent* MeasuresReformTest::sent_ = nullptr;
std::vector<std::string>* MeasuresReformTest::predecessors_ = nullptr;

TEST_F(MeasuresReformTest, The2024OfTheNew82IsOld82PlusOld87) {
  v1::MeasureSummary year;
  ASSERT_THAT(Measures("82", "2024", kReform, &year), IsOk());
  EXPECT_EQ(year.unit().valid_from(), kReform);
  std::vector<std::string> codes;
  for (const v1::Predecessor& p : year.predecessors()) {
    codes.push_back(p.unit().code());
    EXPECT_EQ(p.population_share(), 1);
  }
  EXPECT_THAT(codes, UnorderedElementsAre("82", "87"));

  const v1::MeasureValue* distinct = Find(year, v1::MEASURE_DISTINCT_PARTICIPANTS);
  ASSERT_NE(distinct, nullptr);
  EXPECT_EQ(distinct->value(), OldAt(v1::MEASURE_DISTINCT_PARTICIPANTS, "2024-12"));
  EXPECT_EQ(distinct->as_of_month(), "2024-12");
  EXPECT_EQ(distinct->reexpression().kind(), v1::REEXPRESSION_KIND_EXACT);

  const v1::MeasureValue* fresh = Find(year, v1::MEASURE_NEW_PARTICIPANTS, v1::SCHEME_HEALTH);
  ASSERT_NE(fresh, nullptr);
  EXPECT_EQ(fresh->value(), OldYear(v1::MEASURE_NEW_PARTICIPANTS, 2024, v1::SCHEME_HEALTH));
  EXPECT_EQ(fresh->months_reported(), 12);

  // The ratio from the summed amounts; the mix of the two provinces' ratios differs from it.
  const int64_t owed = OldAt(v1::MEASURE_ARREARS_OWED_VND, "2024-12");
  const int64_t due = OldYear(v1::MEASURE_CONTRIBUTIONS_DUE_VND, 2024);
  const v1::MeasureValue* ratio = Find(year, v1::MEASURE_ARREARS_RATIO);
  ASSERT_NE(ratio, nullptr);
  const double expected = 100.0 * static_cast<double>(owed) / static_cast<double>(due);
  EXPECT_NEAR(ratio->percent(), expected, 1e-9);
  double mix = 0;
  for (const std::string& code : *predecessors_) {
    mix += 50.0 * static_cast<double>(At(code, v1::MEASURE_ARREARS_OWED_VND, "2024-12")) /
           static_cast<double>(Year(code, v1::MEASURE_CONTRIBUTIONS_DUE_VND, 2024));
  }
  EXPECT_GT(std::abs(mix - expected), 0.1);
  EXPECT_EQ(Find(year, v1::MEASURE_ARREARS_OWED_VND)->value(), owed);
  EXPECT_EQ(Find(year, v1::MEASURE_CONTRIBUTIONS_DUE_VND)->value(), due);
  // Findings are the reporting units' own: none made on a re-expressed figure.
  EXPECT_EQ(year.findings_size(), 0);

  // Without the date, code 82 in 2024 is old Tiền Giang alone, as before.
  v1::MeasureSummary old82;
  ASSERT_THAT(Measures("82", "2024", "", &old82), IsOk());
  EXPECT_EQ(old82.predecessors_size(), 0);
  const v1::MeasureValue* own = Find(old82, v1::MEASURE_DISTINCT_PARTICIPANTS);
  ASSERT_NE(own, nullptr);
  EXPECT_EQ(own->value(), At("82", v1::MEASURE_DISTINCT_PARTICIPANTS, "2024-12"));
  EXPECT_EQ(own->reexpression().kind(), v1::REEXPRESSION_KIND_SAME_UNIT);

  // The list in the same territory carries the new 82 with the same figures.
  v1::ListMeasuresRequest list;
  list.set_parent_code("VN");
  list.set_level(v1::ADMIN_LEVEL_PROVINCE);
  list.set_period("2024");
  list.set_territory_date(kReform);
  list.add_measures(v1::MEASURE_ARREARS_RATIO);
  list.mutable_order_by()->set_measure(v1::MEASURE_ARREARS_RATIO);
  list.mutable_order_by()->set_descending(true);
  v1::ListMeasuresResponse listed;
  grpc::ClientContext context;
  ASSERT_THAT(aggregation_->stub().ListMeasures(&context, list, &listed), IsOk());
  ASSERT_GE(listed.summaries_size(), 1);
  EXPECT_EQ(listed.summaries(0).unit().code(), "82");  // the only one with a figure
  EXPECT_EQ(listed.summaries(0).unit().valid_from(), kReform);
  ASSERT_EQ(listed.summaries(0).values_size(), 1);
  EXPECT_NEAR(listed.summaries(0).values(0).percent(), expected, 1e-9);
}

TEST_F(MeasuresReformTest, The2025OfTheNew82IsComparedWith2024InItsTerritory) {
  v1::MeasureSummary year;
  ASSERT_THAT(Measures("82", "2025", "", &year), IsOk());
  const v1::MeasureValue* distinct = Find(year, v1::MEASURE_DISTINCT_PARTICIPANTS);
  ASSERT_NE(distinct, nullptr);
  const int64_t now = At("82", v1::MEASURE_DISTINCT_PARTICIPANTS, "2025-12");
  EXPECT_EQ(distinct->value(), now);
  EXPECT_EQ(distinct->reexpression().kind(), v1::REEXPRESSION_KIND_SAME_UNIT);
  const v1::MeasureComparison& before = distinct->same_period_last_year();
  EXPECT_EQ(before.period(), "2024");
  const int64_t then = OldAt(v1::MEASURE_DISTINCT_PARTICIPANTS, "2024-12");
  EXPECT_EQ(before.value(), then);
  EXPECT_EQ(before.value_change(), now - then);
  EXPECT_EQ(before.reexpression().kind(), v1::REEXPRESSION_KIND_EXACT);
  EXPECT_FALSE(before.territory_changed());

  const v1::MeasureValue* ratio = Find(year, v1::MEASURE_ARREARS_RATIO);
  ASSERT_NE(ratio, nullptr);
  const double then_ratio = 100.0 *
                            static_cast<double>(OldAt(v1::MEASURE_ARREARS_OWED_VND, "2024-12")) /
                            static_cast<double>(OldYear(v1::MEASURE_CONTRIBUTIONS_DUE_VND, 2024));
  EXPECT_NEAR(ratio->same_period_last_year().percent(), then_ratio, 1e-9);
  EXPECT_NEAR(ratio->same_period_last_year().percent_points_change(), ratio->percent() - then_ratio,
              1e-9);
}

TEST_F(MeasuresReformTest, TerritoryDateIsValidatedAsForCoverage) {
  v1::MeasureSummary summary;
  grpc::Status bad = Measures("82", "2024", "2025-13-01", &summary);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), HasSubstr("territory_date"));
  // 87 names nothing after the reform.
  grpc::Status gone = Measures("87", "2024", kReform, &summary);
  EXPECT_EQ(gone.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(gone.error_message(), HasSubstr("(territory_date)"));
  // The new 82 read in a territory before it existed: old 87 cannot be followed forward into it
  // alone, as GetCoverage says.
  grpc::Status back = Measures("87", "2025", "2024-12-31", &summary);
  EXPECT_EQ(back.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(MeasuresReformTest, TheNew82IsMeasuredAgainstItsPredecessorsTargets) {
  // The old provinces' 2025 targets, set before the reform (82's under the date naming old 82,
  // as the code names the new 82 on 31 December 2025).
  const std::map<std::string, std::pair<double, double>> targets = {
      {"82", {5000, 2.5}}, {"87", {3000, 4.0}}};  // distinct participants, ratio ceiling
  for (const auto& [code, values] : targets) {
    for (bool ratio : {false, true}) {
      v1::SetTargetRequest set;
      set.set_request_id(absl::StrCat("target-", code, ratio ? "-ratio" : "-distinct"));
      v1::Target* t = set.mutable_target();
      t->set_unit_code(code);
      t->set_unit_as_of(code == "82" ? "2025-06-30" : "");
      t->set_year(2025);
      t->set_measure(ratio ? v1::MEASURE_ARREARS_RATIO : v1::MEASURE_DISTINCT_PARTICIPANTS);
      t->set_value(ratio ? values.second : values.first);
      t->set_assigned_by("UBND tỉnh");
      v1::Target stored;
      grpc::ClientContext context;
      ASSERT_THAT(targets_->stub().SetTarget(&context, set, &stored), IsOk()) << code;
    }
  }
  v1::GetAchievementRequest request;
  request.set_unit_code("82");
  request.set_period("2025");
  request.add_schemes(v1::SCHEME_HEALTH);
  v1::Achievement achievement;
  grpc::ClientContext context;
  ASSERT_THAT(targets_->stub().GetAchievement(&context, request, &achievement), IsOk());
  ASSERT_EQ(achievement.measures_size(), 2) << achievement.ShortDebugString().substr(0, 2000);
  // The ceiling weighted by what each was due in 2024 (a full year for both).
  const double due82 = static_cast<double>(Year("82", v1::MEASURE_CONTRIBUTIONS_DUE_VND, 2024));
  const double due87 = static_cast<double>(Year("87", v1::MEASURE_CONTRIBUTIONS_DUE_VND, 2024));
  const double ceiling = (2.5 * due82 + 4.0 * due87) / (due82 + due87);
  for (const v1::MeasureAchievement& m : achievement.measures()) {
    SCOPED_TRACE(MeasureName(m.measure()));
    EXPECT_TRUE(m.target_reexpressed());
    EXPECT_EQ(m.source_targets_size(), 2);
    EXPECT_EQ(m.target().unit_code(), "82");
    EXPECT_NE(m.status(), v1::ACHIEVEMENT_STATUS_NO_TARGET);
    EXPECT_NE(m.status(), v1::ACHIEVEMENT_STATUS_NO_DATA);
    if (m.measure() == v1::MEASURE_DISTINCT_PARTICIPANTS) {
      EXPECT_EQ(m.target().value(), 8000);
      EXPECT_EQ(m.actual(),
                static_cast<double>(At("82", v1::MEASURE_DISTINCT_PARTICIPANTS, "2025-12")));
    } else {
      EXPECT_NEAR(m.target().value(), ceiling, 1e-9);
    }
  }

  // The provinces lagging on each measure read the same re-expressed target: the new 82 has one
  // (the only province with a target), and is listed exactly when its achievement lags.
  for (const v1::MeasureAchievement& m : achievement.measures()) {
    SCOPED_TRACE(MeasureName(m.measure()));
    v1::ListLaggingUnitsRequest lagging_request;
    lagging_request.set_parent_code("VN");
    lagging_request.set_period("2025");
    lagging_request.set_measure(m.measure());
    v1::ListLaggingUnitsResponse lagging;
    grpc::ClientContext lagging_context;
    ASSERT_THAT(targets_->stub().ListLaggingUnits(&lagging_context, lagging_request, &lagging),
                IsOk());
    EXPECT_EQ(lagging.units_with_target(), 1);
    const bool lags =
        m.status() == v1::ACHIEVEMENT_STATUS_BEHIND || m.status() == v1::ACHIEVEMENT_STATUS_AT_RISK;
    ASSERT_EQ(lagging.units_size(), lags ? 1 : 0) << lagging.ShortDebugString().substr(0, 2000);
    if (lags) {
      EXPECT_EQ(lagging.units(0).unit().code(), "82");
      EXPECT_TRUE(lagging.units(0).measure_achievement().target_reexpressed());
      EXPECT_EQ(lagging.units(0).measure_achievement().target().value(), m.target().value());
    }
  }

  // The paragraph says the target was given to the units before the reform.
  v1::GetReportRequest report_request;
  report_request.set_unit_code("82");
  report_request.set_period("2025");
  v1::Report report;
  grpc::ClientContext report_context;
  ASSERT_THAT(targets_->stub().GetReport(&report_context, report_request, &report), IsOk());
  EXPECT_THAT(report.text(), HasSubstr("chỉ tiêu giao cho các đơn vị trước sắp xếp"));
}

}  // namespace
}  // namespace covtrack
