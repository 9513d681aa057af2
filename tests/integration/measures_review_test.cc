// Issue 11's "must show", through the real services: a district's year assembled from commune
// data. Ingestion, aggregation and targets run in-process on loopback ports over gRPC (SQLite
// stores), loaded with the reference catalogue and covtrack-datagen's figures for the communes
// of 815 (Thành phố Mỹ Tho, Tiền Giang) in 2023 and 2024: participants, denominators and every
// measure. Each figure the services answer is checked against a sum this test makes itself
// from the commune rows it sent: the distinct participants, the five payer groups adding up to
// the health total, new participants summed over the year and compared with the year before,
// the arrears ratio from sums; then each against its target (the arrears ratio's a ceiling),
// and the paragraph carrying them in Vietnamese number format at two decimals.

#include <algorithm>
#include <cmath>
#include <cstdlib>
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
#include "services/targets/vi_format.h"
#include "tests/aggregation/aggregation_harness.h"
#include "tests/targets/targets_harness.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tools/sampledata/sample_data.h"
#include "tools/sampledata/sample_measures.h"

namespace covtrack {
namespace {

using ::covtrack::testing::AggregationHarness;
using ::covtrack::testing::IngestionHarness;
using ::covtrack::testing::IsOk;
using ::covtrack::testing::TargetsHarness;
using ::testing::HasSubstr;

constexpr char kDistrict[] = "815";

// The sums this test expects, made from the rows sent (never from a service's answer).
struct Expected {
  // (measure, scheme, payer group, month) -> Σ over the district's communes.
  std::map<std::tuple<v1::Measure, v1::Scheme, v1::PayerGroup, std::string>, int64_t> by_month;
  std::map<std::string, int64_t> health_participants;  // month -> Σ health participants

  int64_t At(v1::Measure m, v1::Scheme s, v1::PayerGroup g, const std::string& month) const {
    auto it = by_month.find({m, s, g, month});
    return it == by_month.end() ? 0 : it->second;
  }
  // A flow over a year: the sum of its months.
  int64_t Year(v1::Measure m, v1::Scheme s, v1::PayerGroup g, int year) const {
    int64_t sum = 0;
    for (int month = 1; month <= 12; ++month) {
      sum += At(m, s, g, absl::StrFormat("%d-%02d", year, month));
    }
    return sum;
  }
};

class MeasuresReviewTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ingestion_ = IngestionHarness::Start().release();
    absl::StatusOr<std::unique_ptr<sampledata::SampleData>> data = sampledata::SampleData::Load();
    ASSERT_THAT(data, IsOk());
    covtrack::testing::ImportUnits(ingestion_->stub(), (*data)->units(), "catalogue");
    absl::StatusOr<std::vector<v1::ParticipationRecord>> records =
        (*data)->Records({kDistrict}, Month{2023, 1}, Month{2024, 12});
    ASSERT_THAT(records, IsOk());
    absl::StatusOr<std::vector<v1::DenominatorRecord>> denominators =
        (*data)->Denominators({kDistrict}, 2023, 2024);
    ASSERT_THAT(denominators, IsOk());
    const std::vector<v1::MeasureRecord> measures = sampledata::SampleMeasures(*records);

    expected_ = new Expected;
    for (const v1::ParticipationRecord& r : *records) {
      if (r.scheme() == v1::SCHEME_HEALTH) {
        expected_->health_participants[r.month()] += r.participants();
      }
    }
    for (const v1::MeasureRecord& m : measures) {
      expected_->by_month[{m.measure(), m.scheme(), m.payer_group(), m.month()}] += m.value();
    }

    // Sent in messages of at most 5,000 items, as covctl would.
    v1::SubmitReportRequest request;
    int sent = 0;
    auto flush = [&]() {
      if (request.records_size() + request.denominators_size() + request.measures_size() == 0) {
        return;
      }
      request.set_request_id(absl::StrCat("review-", sent++));
      v1::SubmitReportResponse response;
      grpc::ClientContext context;
      ASSERT_THAT(ingestion_->stub().SubmitReport(&context, request, &response), IsOk());
      request.Clear();
    };
    for (const v1::ParticipationRecord& r : *records) {
      *request.add_records() = r;
      if (request.records_size() == 5000) flush();
    }
    for (const v1::DenominatorRecord& d : *denominators) {
      *request.add_denominators() = d;
    }
    flush();
    for (const v1::MeasureRecord& m : measures) {
      *request.add_measures() = m;
      if (request.measures_size() == 5000) flush();
    }
    flush();
    aggregation_ = AggregationHarness::Start(ingestion_->address()).release();

    targets_ =
        TargetsHarness::Start(aggregation_->address(), ingestion_->address(), absl::Seconds(10))
            .release();
  }

  static void TearDownTestSuite() {
    delete targets_;
    delete aggregation_;
    delete ingestion_;
    delete expected_;
  }

  static v1::MeasureSummary Measures(const std::string& period) {
    v1::GetMeasuresRequest request;
    request.set_unit_code(kDistrict);
    request.set_period(period);
    v1::MeasureSummary summary;
    grpc::ClientContext context;
    EXPECT_THAT(aggregation_->stub().GetMeasures(&context, request, &summary), IsOk());
    return summary;
  }

  static const v1::MeasureValue* Find(const v1::MeasureSummary& summary, v1::Measure measure,
                                      v1::Scheme scheme = v1::SCHEME_UNSPECIFIED,
                                      v1::PayerGroup group = v1::PAYER_GROUP_UNSPECIFIED) {
    for (const v1::MeasureValue& value : summary.values()) {
      if (value.measure() == measure && value.scheme() == scheme && value.payer_group() == group) {
        return &value;
      }
    }
    ADD_FAILURE() << "no " << MeasureName(measure) << " " << scheme << " " << group << " in "
                  << summary.ShortDebugString().substr(0, 2000);
    return nullptr;
  }

  static void SetTarget(v1::Measure measure, v1::Scheme scheme, double value) {
    v1::SetTargetRequest request;
    request.set_request_id(absl::StrCat("target-", MeasureName(measure), "-", scheme));
    v1::Target* target = request.mutable_target();
    target->set_unit_code(kDistrict);
    target->set_year(2024);
    target->set_measure(measure);
    target->set_scheme(scheme);
    target->set_value(value);
    target->set_assigned_by("UBND tỉnh Tiền Giang");
    v1::Target stored;
    grpc::ClientContext context;
    EXPECT_THAT(targets_->stub().SetTarget(&context, request, &stored), IsOk());
  }

  static const v1::MeasureAchievement* FindTarget(const v1::Achievement& achievement,
                                                  v1::Measure measure) {
    for (const v1::MeasureAchievement& m : achievement.measures()) {
      if (m.measure() == measure) {
        return &m;
      }
    }
    ADD_FAILURE() << "no target on " << MeasureName(measure);
    return nullptr;
  }

  static IngestionHarness* ingestion_;
  static AggregationHarness* aggregation_;
  static TargetsHarness* targets_;
  static Expected* expected_;
};

IngestionHarness* MeasuresReviewTest::ingestion_ = nullptr;
AggregationHarness* MeasuresReviewTest::aggregation_ = nullptr;
TargetsHarness* MeasuresReviewTest::targets_ = nullptr;
Expected* MeasuresReviewTest::expected_ = nullptr;

TEST_F(MeasuresReviewTest, TheDistrictsYearIsAssembledFromItsCommunes) {
  const v1::MeasureSummary year = Measures("2024");
  ASSERT_EQ(year.unit().code(), kDistrict);
  const Expected& e = *expected_;

  // Distinct participants: a stock, December's, summed over the communes.
  const v1::MeasureValue* distinct = Find(year, v1::MEASURE_DISTINCT_PARTICIPANTS);
  ASSERT_NE(distinct, nullptr);
  EXPECT_EQ(distinct->value(), e.At(v1::MEASURE_DISTINCT_PARTICIPANTS, v1::SCHEME_UNSPECIFIED,
                                    v1::PAYER_GROUP_UNSPECIFIED, "2024-12"));
  EXPECT_EQ(distinct->as_of_month(), "2024-12");
  EXPECT_EQ(distinct->reporting_units(), distinct->expected_units());

  // The five payer groups: each December's sum, and together the health total.
  int64_t groups = 0;
  for (v1::PayerGroup group : {v1::PAYER_GROUP_EMPLOYER_EMPLOYEE,
                               v1::PAYER_GROUP_SOCIAL_INSURANCE_FUND, v1::PAYER_GROUP_STATE_BUDGET,
                               v1::PAYER_GROUP_STATE_BUDGET_SUPPORTED, v1::PAYER_GROUP_HOUSEHOLD}) {
    const v1::MeasureValue* value =
        Find(year, v1::MEASURE_HEALTH_BY_PAYER, v1::SCHEME_HEALTH, group);
    ASSERT_NE(value, nullptr);
    EXPECT_EQ(value->value(),
              e.At(v1::MEASURE_HEALTH_BY_PAYER, v1::SCHEME_HEALTH, group, "2024-12"))
        << PayerGroupName(group);
    groups += value->value();
  }
  EXPECT_EQ(groups, e.health_participants.at("2024-12"));

  // New participants in health insurance: a flow, the sum of the year's months, compared with
  // the sum of the year before.
  const v1::MeasureValue* joined =
      Find(year, v1::MEASURE_NEW_PARTICIPANTS, v1::SCHEME_HEALTH, v1::PAYER_GROUP_UNSPECIFIED);
  ASSERT_NE(joined, nullptr);
  const int64_t joined_2024 =
      e.Year(v1::MEASURE_NEW_PARTICIPANTS, v1::SCHEME_HEALTH, v1::PAYER_GROUP_UNSPECIFIED, 2024);
  const int64_t joined_2023 =
      e.Year(v1::MEASURE_NEW_PARTICIPANTS, v1::SCHEME_HEALTH, v1::PAYER_GROUP_UNSPECIFIED, 2023);
  ASSERT_GT(joined_2024, e.At(v1::MEASURE_NEW_PARTICIPANTS, v1::SCHEME_HEALTH,
                              v1::PAYER_GROUP_UNSPECIFIED, "2024-12"));  // not December's alone
  EXPECT_EQ(joined->value(), joined_2024);
  EXPECT_EQ(joined->months_reported(), 12);
  EXPECT_EQ(joined->same_period_last_year().period(), "2023");
  EXPECT_EQ(joined->same_period_last_year().value(), joined_2023);
  EXPECT_EQ(joined->same_period_last_year().value_change(), joined_2024 - joined_2023);

  // The arrears ratio: December's owed over the year's due, both summed over communes first.
  const int64_t owed = e.At(v1::MEASURE_ARREARS_OWED_VND, v1::SCHEME_UNSPECIFIED,
                            v1::PAYER_GROUP_UNSPECIFIED, "2024-12");
  const int64_t due = e.Year(v1::MEASURE_CONTRIBUTIONS_DUE_VND, v1::SCHEME_UNSPECIFIED,
                             v1::PAYER_GROUP_UNSPECIFIED, 2024);
  const v1::MeasureValue* ratio = Find(year, v1::MEASURE_ARREARS_RATIO);
  ASSERT_NE(ratio, nullptr);
  EXPECT_FALSE(ratio->has_value());
  EXPECT_DOUBLE_EQ(ratio->percent(), 100.0 * static_cast<double>(owed) / static_cast<double>(due));
  EXPECT_GT(ratio->percent(), 0.5);  // the sample's arrears: a few percent of a year's due
  EXPECT_LT(ratio->percent(), 5.0);

  // covtrack-datagen's flows reconcile with its stocks (new − lost = the stock's change), so
  // there is no data-quality finding to report.
  EXPECT_THAT(year.findings(), ::testing::IsEmpty());
}

TEST_F(MeasuresReviewTest, EachFigureAgainstItsTargetAndInTheParagraph) {
  const Expected& e = *expected_;
  const int64_t distinct = e.At(v1::MEASURE_DISTINCT_PARTICIPANTS, v1::SCHEME_UNSPECIFIED,
                                v1::PAYER_GROUP_UNSPECIFIED, "2024-12");
  const int64_t joined_2024 =
      e.Year(v1::MEASURE_NEW_PARTICIPANTS, v1::SCHEME_HEALTH, v1::PAYER_GROUP_UNSPECIFIED, 2024);
  const int64_t joined_2023 =
      e.Year(v1::MEASURE_NEW_PARTICIPANTS, v1::SCHEME_HEALTH, v1::PAYER_GROUP_UNSPECIFIED, 2023);
  const double ratio =
      100.0 *
      static_cast<double>(e.At(v1::MEASURE_ARREARS_OWED_VND, v1::SCHEME_UNSPECIFIED,
                               v1::PAYER_GROUP_UNSPECIFIED, "2024-12")) /
      static_cast<double>(e.Year(v1::MEASURE_CONTRIBUTIONS_DUE_VND, v1::SCHEME_UNSPECIFIED,
                                 v1::PAYER_GROUP_UNSPECIFIED, 2024));
  // A ceiling half a point above the ratio: met, read as a ceiling; read as a floor (the ratio
  // must reach it) it would be behind.
  const double ceiling = std::round((ratio + 0.5) * 10) / 10;
  SetTarget(v1::MEASURE_DISTINCT_PARTICIPANTS, v1::SCHEME_UNSPECIFIED, distinct + 1000);
  SetTarget(v1::MEASURE_NEW_PARTICIPANTS, v1::SCHEME_HEALTH, joined_2024 - 10);
  SetTarget(v1::MEASURE_ARREARS_RATIO, v1::SCHEME_UNSPECIFIED, ceiling);

  v1::GetReportRequest request;
  request.set_unit_code(kDistrict);
  request.set_period("2024");
  request.set_percent_decimals(2);
  v1::Report report;
  grpc::ClientContext context;
  ASSERT_THAT(targets_->stub().GetReport(&context, request, &report), IsOk());
  const v1::Achievement& achievement = report.achievement();

  const v1::MeasureAchievement* distinct_target =
      FindTarget(achievement, v1::MEASURE_DISTINCT_PARTICIPANTS);
  ASSERT_NE(distinct_target, nullptr);
  EXPECT_EQ(distinct_target->actual(), distinct);
  EXPECT_EQ(distinct_target->status(), v1::ACHIEVEMENT_STATUS_BEHIND);  // 1,000 short in December
  EXPECT_EQ(distinct_target->gap(), 1000);

  const v1::MeasureAchievement* joined_target =
      FindTarget(achievement, v1::MEASURE_NEW_PARTICIPANTS);
  ASSERT_NE(joined_target, nullptr);
  EXPECT_EQ(joined_target->actual(), joined_2024);  // the year's sum, not December's
  EXPECT_EQ(joined_target->status(), v1::ACHIEVEMENT_STATUS_MET);

  const v1::MeasureAchievement* ratio_target = FindTarget(achievement, v1::MEASURE_ARREARS_RATIO);
  ASSERT_NE(ratio_target, nullptr);
  EXPECT_TRUE(ratio_target->lower_is_better());
  EXPECT_DOUBLE_EQ(ratio_target->actual(), ratio);
  EXPECT_EQ(ratio_target->status(), v1::ACHIEVEMENT_STATUS_MET);
  EXPECT_NEAR(ratio_target->points_vs_target(), ratio - ceiling, 1e-9);  // percentage points
  EXPECT_EQ(ratio_target->gap(), 0);

  // The paragraph: the distinct participants first, then the schemes; the year's new
  // participants against 2023; the arrears ratio under its ceiling; numbers in Vietnamese
  // format (thousands by '.', decimals by ','), percentages at two decimals.
  const std::string& text = report.text();
  const std::string distinct_clause =
      absl::StrCat(targets::FormatCountVi(distinct), " người tham gia BHXH, BHYT, BHTN");
  const size_t distinct_at = text.find(distinct_clause);
  ASSERT_NE(distinct_at, std::string::npos) << text;
  EXPECT_LT(distinct_at, text.find(" tham gia BHYT, đạt tỷ lệ bao phủ")) << text;
  EXPECT_THAT(text, HasSubstr(". Trong năm 2024, phát triển mới "));
  EXPECT_THAT(text, HasSubstr(absl::StrCat(
                        "phát triển mới ", targets::FormatCountVi(joined_2024),
                        " người tham gia BHYT, ", joined_2024 >= joined_2023 ? "tăng " : "giảm ",
                        targets::FormatCountVi(std::abs(joined_2024 - joined_2023)),
                        " người so với cùng kỳ năm 2023")));
  EXPECT_THAT(text,
              HasSubstr(absl::StrCat("tỷ lệ nợ ", targets::FormatPercentVi(ratio, 2),
                                     ", dưới mức trần ", targets::FormatPercentVi(ceiling, 2))));
  EXPECT_THAT(text, ::testing::ContainsRegex("tỷ lệ nợ [0-9],[0-9][0-9]%, dưới mức trần "
                                             "[0-9],[0-9]0%"));
  EXPECT_GE(distinct, 10000);  // so that its Vietnamese form has a '.' between thousands
  EXPECT_THAT(text, HasSubstr(absl::StrCat(distinct / 1000, ".")));
}

}  // namespace
}  // namespace covtrack
