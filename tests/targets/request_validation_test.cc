// The checks a request to the target service must pass before anything is read or written,
// each request message alone (services/targets/request_validation.h).

#include "services/targets/request_validation.h"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "common/text.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace covtrack::targets {
namespace {

using ::covtrack::testing::IsOk;
using ::covtrack::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

v1::Target GoodTarget() {
  v1::Target t;
  t.set_unit_code("125");
  t.set_scheme(v1::SCHEME_HEALTH);
  t.set_year(2023);
  t.set_kind(v1::TARGET_KIND_PARTICIPANTS);
  t.set_value(147821);
  return t;
}

TEST(FieldValidationTest, UnitCodes) {
  for (const std::string code : {"VN", "01", "125", "00001"}) {
    EXPECT_THAT(ValidateUnitCode(code, "unit_code"), IsOk()) << code;
  }
  for (const std::string code : {"", "1", "1234", "123456", "vn", "12a", " 12"}) {
    EXPECT_THAT(ValidateUnitCode(code, "parent_code"), StatusIs(kInvalid, HasSubstr("parent_code")))
        << code;
  }
  // A huge input is not echoed back whole.
  const std::string huge(10000, '7');
  absl::Status s = ValidateUnitCode(huge, "unit_code");
  EXPECT_THAT(s, StatusIs(kInvalid));
  EXPECT_LT(s.message().size(), 200u);
}

TEST(FieldValidationTest, SchemesYearsLevelsTextsPeriods) {
  EXPECT_THAT(ValidateScheme(v1::SCHEME_SOCIAL, "scheme"), IsOk());
  EXPECT_THAT(ValidateScheme(v1::SCHEME_UNSPECIFIED, "scheme"),
              StatusIs(kInvalid, HasSubstr("scheme")));
  EXPECT_THAT(ValidateScheme(static_cast<v1::Scheme>(99), "schemes[2]"),
              StatusIs(kInvalid, HasSubstr("schemes[2]")));
  EXPECT_THAT(ValidateYear(2000, "year"), IsOk());
  EXPECT_THAT(ValidateYear(2100, "year"), IsOk());
  EXPECT_THAT(ValidateYear(1999, "year"), StatusIs(kInvalid, HasSubstr("year")));
  EXPECT_THAT(ValidateYear(2101, "target.year"), StatusIs(kInvalid, HasSubstr("target.year")));
  EXPECT_THAT(ValidateLevel(v1::ADMIN_LEVEL_UNSPECIFIED, "level"), IsOk());
  EXPECT_THAT(ValidateLevel(static_cast<v1::AdminLevel>(42), "level"),
              StatusIs(kInvalid, HasSubstr("level")));
  EXPECT_THAT(ValidateText("", "assigned_by", false), IsOk());
  EXPECT_THAT(ValidateText("", "request_id", true), StatusIs(kInvalid, HasSubstr("request_id")));
  EXPECT_THAT(ValidateText(std::string(200, 'x'), "decision_ref", false), IsOk());
  EXPECT_THAT(ValidateText(std::string(201, 'x'), "decision_ref", false),
              StatusIs(kInvalid, HasSubstr("decision_ref")));
  EXPECT_THAT(ValidatePeriod("", "period"), IsOk());
  EXPECT_THAT(ValidatePeriod("2024-H1", "period"), IsOk());
  EXPECT_THAT(ValidatePeriod("2024-13", "period"), StatusIs(kInvalid, HasSubstr("period")));
}

TEST(NormalizeTargetTest, FillsDefaultsAndNamesFieldAndRecord) {
  v1::Target in = GoodTarget();
  in.set_revision(7);
  in.mutable_update_time()->set_seconds(12);
  absl::StatusOr<v1::Target> out = NormalizeTarget(in);
  ASSERT_THAT(out, IsOk());
  EXPECT_EQ(out->basis(), v1::TARGET_BASIS_ALL_PARTICIPANTS);
  EXPECT_EQ(out->revision(), 0);
  EXPECT_FALSE(out->has_update_time());

  v1::Target bad = GoodTarget();
  bad.set_value(100.5);  // a participants target is whole people
  EXPECT_THAT(NormalizeTarget(bad),
              StatusIs(kInvalid, AllOf(HasSubstr("target.value"), HasSubstr("125/"))));
  bad = GoodTarget();
  bad.set_kind(v1::TARGET_KIND_COVERAGE_PERCENT);
  bad.set_value(100.1);
  EXPECT_THAT(NormalizeTarget(bad), StatusIs(kInvalid, HasSubstr("target.value")));
  bad.set_value(100);
  EXPECT_THAT(NormalizeTarget(bad), IsOk());
  bad = GoodTarget();
  bad.set_basis(static_cast<v1::TargetBasis>(9));
  EXPECT_THAT(NormalizeTarget(bad), StatusIs(kInvalid, HasSubstr("target.basis")));
}

v1::Target MeasureTarget(v1::Measure measure, double value,
                         v1::Scheme scheme = v1::SCHEME_UNSPECIFIED,
                         v1::PayerGroup group = v1::PAYER_GROUP_UNSPECIFIED) {
  v1::Target t;
  t.set_unit_code("815");
  t.set_year(2024);
  t.set_measure(measure);
  t.set_scheme(scheme);
  t.set_payer_group(group);
  t.set_value(value);
  return t;
}

// Issue 11: targets on measures, validated by the registry (common/measures.h), each error
// naming the field and the record.
TEST(NormalizeTargetTest, MeasureTargets) {
  // Participants named explicitly are stored as before (measure unspecified).
  v1::Target participants = GoodTarget();
  participants.set_measure(v1::MEASURE_PARTICIPANTS);
  absl::StatusOr<v1::Target> normalized = NormalizeTarget(participants);
  ASSERT_THAT(normalized.status(), IsOk());
  EXPECT_EQ(normalized->measure(), v1::MEASURE_UNSPECIFIED);

  EXPECT_THAT(NormalizeTarget(MeasureTarget(v1::MEASURE_ARREARS_RATIO, 2.1)).status(), IsOk());
  EXPECT_THAT(NormalizeTarget(MeasureTarget(v1::MEASURE_NEW_PARTICIPANTS, 12000, v1::SCHEME_HEALTH,
                                            v1::PAYER_GROUP_HOUSEHOLD))
                  .status(),
              IsOk());
  EXPECT_THAT(NormalizeTarget(MeasureTarget(v1::MEASURE_ARREARS_OWED_VND, 5e12)).status(), IsOk());

  EXPECT_THAT(NormalizeTarget(MeasureTarget(static_cast<v1::Measure>(77), 1)).status(),
              StatusIs(kInvalid, AllOf(HasSubstr("target.measure"), HasSubstr("815"))));
  // Keys the measure does not have, or lacks.
  EXPECT_THAT(
      NormalizeTarget(MeasureTarget(v1::MEASURE_ARREARS_RATIO, 2.1, v1::SCHEME_HEALTH)).status(),
      StatusIs(kInvalid, AllOf(HasSubstr("target.scheme"), HasSubstr("815/arrears_ratio/"))));
  EXPECT_THAT(NormalizeTarget(MeasureTarget(v1::MEASURE_NEW_PARTICIPANTS, 10)).status(),
              StatusIs(kInvalid, HasSubstr("target.scheme")));
  EXPECT_THAT(NormalizeTarget(MeasureTarget(v1::MEASURE_NEW_PARTICIPANTS, 10,
                                            v1::SCHEME_UNEMPLOYMENT, v1::PAYER_GROUP_HOUSEHOLD))
                  .status(),
              StatusIs(kInvalid, HasSubstr("target.payer_group")));
  EXPECT_THAT(
      NormalizeTarget(MeasureTarget(v1::MEASURE_HEALTH_BY_PAYER, 10, v1::SCHEME_HEALTH)).status(),
      StatusIs(kInvalid, HasSubstr("target.payer_group")));
  v1::Target grouped = GoodTarget();
  grouped.set_payer_group(v1::PAYER_GROUP_STATE_BUDGET);
  EXPECT_THAT(NormalizeTarget(grouped).status(),
              StatusIs(kInvalid, HasSubstr("target.payer_group")));
  // No kind or basis: the value is in the measure's unit.
  v1::Target with_kind = MeasureTarget(v1::MEASURE_ARREARS_RATIO, 2.1);
  with_kind.set_kind(v1::TARGET_KIND_COVERAGE_PERCENT);
  EXPECT_THAT(NormalizeTarget(with_kind).status(), StatusIs(kInvalid, HasSubstr("target.kind")));
  v1::Target with_basis = MeasureTarget(v1::MEASURE_DISTINCT_PARTICIPANTS, 100);
  with_basis.set_basis(v1::TARGET_BASIS_IN_PROVINCE);
  EXPECT_THAT(NormalizeTarget(with_basis).status(), StatusIs(kInvalid, HasSubstr("target.basis")));
  // Values bounded by the unit.
  EXPECT_THAT(NormalizeTarget(MeasureTarget(v1::MEASURE_ARREARS_RATIO, 100.5)).status(),
              StatusIs(kInvalid, AllOf(HasSubstr("target.value"), HasSubstr("percentage"))));
  EXPECT_THAT(NormalizeTarget(MeasureTarget(v1::MEASURE_ARREARS_OWED_VND, 1e16)).status(),
              StatusIs(kInvalid, AllOf(HasSubstr("target.value"), HasSubstr("VND"))));
  EXPECT_THAT(NormalizeTarget(MeasureTarget(v1::MEASURE_ARREARS_OWED_VND, 10.5)).status(),
              StatusIs(kInvalid, HasSubstr("target.value")));
  EXPECT_THAT(NormalizeTarget(MeasureTarget(v1::MEASURE_EMPLOYERS_OWING, 2e9)).status(),
              StatusIs(kInvalid, AllOf(HasSubstr("target.value"), HasSubstr("employers"))));
  EXPECT_THAT(NormalizeTarget(MeasureTarget(v1::MEASURE_ARREARS_RATIO, -1)).status(),
              StatusIs(kInvalid, HasSubstr("target.value")));
}

TEST(ValidateRequestTest, MeasureKeysOfListsAndAllocations) {
  v1::ListLaggingUnitsRequest lagging;
  lagging.set_parent_code("82");
  lagging.set_measure(v1::MEASURE_ARREARS_RATIO);
  EXPECT_THAT(ValidateRequest(lagging), IsOk());
  lagging.set_scheme(v1::SCHEME_HEALTH);
  EXPECT_THAT(ValidateRequest(lagging), StatusIs(kInvalid, HasSubstr("scheme")));
  lagging.set_measure(static_cast<v1::Measure>(40));
  EXPECT_THAT(ValidateRequest(lagging), StatusIs(kInvalid, HasSubstr("measure")));

  v1::AllocateTargetRequest allocate;
  allocate.set_parent_code("82");
  allocate.set_year(2024);
  allocate.set_preview(true);
  allocate.set_measure(v1::MEASURE_ARREARS_RATIO);
  // A ratio is inherited: no method needed.
  EXPECT_THAT(ValidateRequest(allocate), IsOk());
  allocate.set_measure(v1::MEASURE_ARREARS_OWED_VND);
  EXPECT_THAT(ValidateRequest(allocate), StatusIs(kInvalid, HasSubstr("method")));
  allocate.set_method(v1::ALLOCATION_METHOD_POPULATION);
  EXPECT_THAT(ValidateRequest(allocate), IsOk());
  allocate.set_payer_group(v1::PAYER_GROUP_HOUSEHOLD);
  EXPECT_THAT(ValidateRequest(allocate), StatusIs(kInvalid, HasSubstr("payer_group")));

  v1::ValidateAllocationRequest check;
  check.set_parent_code("82");
  check.set_year(2024);
  check.set_measure(v1::MEASURE_NEW_PARTICIPANTS);
  EXPECT_THAT(ValidateRequest(check), StatusIs(kInvalid, HasSubstr("scheme")));
  check.set_scheme(v1::SCHEME_HEALTH);
  EXPECT_THAT(ValidateRequest(check), IsOk());
}

TEST(ValidateRequestTest, SetTarget) {
  v1::SetTargetRequest request;
  *request.mutable_target() = GoodTarget();
  EXPECT_THAT(ValidateRequest(request), StatusIs(kInvalid, HasSubstr("request_id")));
  request.set_request_id("r1");
  EXPECT_THAT(ValidateRequest(request), IsOk());
  request.mutable_target()->set_year(1999);
  EXPECT_THAT(ValidateRequest(request), StatusIs(kInvalid, HasSubstr("target.year")));
  request.clear_target();
  EXPECT_THAT(ValidateRequest(request), StatusIs(kInvalid, HasSubstr("target")));
}

TEST(ValidateRequestTest, ListTargets) {
  v1::ListTargetsRequest request;
  EXPECT_THAT(ValidateRequest(request), IsOk());  // every target
  request.set_unit_code("815");
  request.set_parent_code("82");
  EXPECT_THAT(ValidateRequest(request), StatusIs(kInvalid, HasSubstr("parent_code")));
  request.clear_unit_code();
  EXPECT_THAT(ValidateRequest(request), StatusIs(kInvalid, HasSubstr("year")));
  request.set_year(2023);
  EXPECT_THAT(ValidateRequest(request), IsOk());
  request.set_scheme(static_cast<v1::Scheme>(77));
  EXPECT_THAT(ValidateRequest(request), StatusIs(kInvalid, HasSubstr("scheme")));
  request.clear_scheme();
  request.set_page_size(-1);
  EXPECT_THAT(ValidateRequest(request), StatusIs(kInvalid, HasSubstr("page_size")));
  request.set_page_size(1 << 30);  // clamped, not refused
  EXPECT_THAT(ValidateRequest(request), IsOk());
}

TEST(ValidateRequestTest, GetAchievementAndGetReport) {
  v1::GetAchievementRequest request;
  EXPECT_THAT(ValidateRequest(request), StatusIs(kInvalid, HasSubstr("unit_code")));
  request.set_unit_code("125");
  EXPECT_THAT(ValidateRequest(request), IsOk());  // every scheme, the current year
  request.set_period("2023-Q5");
  EXPECT_THAT(ValidateRequest(request), StatusIs(kInvalid, HasSubstr("period")));
  request.set_period("2023");
  request.add_schemes(v1::SCHEME_HEALTH);
  request.add_schemes(v1::SCHEME_UNSPECIFIED);
  EXPECT_THAT(ValidateRequest(request), StatusIs(kInvalid, HasSubstr("schemes[1]")));

  v1::GetReportRequest report;
  report.set_unit_code("12345678");
  EXPECT_THAT(ValidateRequest(report), StatusIs(kInvalid, HasSubstr("unit_code")));
  report.set_unit_code("815");
  report.set_period("2023");
  EXPECT_THAT(ValidateRequest(report), IsOk());
}

// Issue 9: a target's unit_as_of is a real date inside its year (which unit it names is the
// service's question); the reads' territory_date is a real date. A long value is cut.
TEST(ValidateRequestTest, UnitAsOfAndTerritoryDates) {
  v1::Target t = GoodTarget();
  t.set_year(2025);
  t.set_unit_as_of("2025-06-30");
  EXPECT_THAT(NormalizeTarget(t), IsOk());
  for (const std::string date : {"2024-12-31", "2026-01-01"}) {
    t.set_unit_as_of(date);
    EXPECT_THAT(NormalizeTarget(t),
                StatusIs(kInvalid, AllOf(HasSubstr("target.unit_as_of"), HasSubstr("year 2025"),
                                         HasSubstr("(target 125/health/2025)"))))
        << date;
  }
  for (const std::string date : {"2025-02-29", "2025-6-30", "30/06/2025"}) {
    t.set_unit_as_of(date);
    EXPECT_THAT(NormalizeTarget(t), StatusIs(kInvalid, HasSubstr("target.unit_as_of"))) << date;
  }
  t.set_unit_as_of(std::string(5000, '9'));
  absl::Status long_date = NormalizeTarget(t).status();
  EXPECT_THAT(long_date, StatusIs(kInvalid, HasSubstr("target.unit_as_of")));
  EXPECT_LT(long_date.message().size(), 200u);

  v1::GetAchievementRequest achievement;
  achievement.set_unit_code("82");
  achievement.set_territory_date("2025-07-01");
  EXPECT_THAT(ValidateRequest(achievement), IsOk());
  achievement.set_territory_date("2025-13-01");
  EXPECT_THAT(ValidateRequest(achievement), StatusIs(kInvalid, HasSubstr("territory_date")));
  v1::ListLaggingUnitsRequest lagging;
  lagging.set_parent_code("VN");
  lagging.set_scheme(v1::SCHEME_HEALTH);
  lagging.set_territory_date("yesterday");
  EXPECT_THAT(ValidateRequest(lagging), StatusIs(kInvalid, HasSubstr("territory_date")));
  v1::GetReportRequest report;
  report.set_unit_code("82");
  report.set_territory_date("2025-00-10");
  EXPECT_THAT(ValidateRequest(report), StatusIs(kInvalid, HasSubstr("territory_date")));
}

TEST(ValidateRequestTest, ListLaggingUnits) {
  v1::ListLaggingUnitsRequest request;
  request.set_parent_code("01");
  request.set_scheme(v1::SCHEME_HEALTH);
  EXPECT_THAT(ValidateRequest(request), IsOk());
  request.set_page_size(-1);
  EXPECT_THAT(ValidateRequest(request), StatusIs(kInvalid, HasSubstr("page_size")));
  request.set_page_size(0);
  request.set_scheme(v1::SCHEME_UNSPECIFIED);
  EXPECT_THAT(ValidateRequest(request), StatusIs(kInvalid, HasSubstr("scheme")));
  request.set_scheme(v1::SCHEME_HEALTH);
  request.set_level(static_cast<v1::AdminLevel>(9));
  EXPECT_THAT(ValidateRequest(request), StatusIs(kInvalid, HasSubstr("level")));
  request.clear_level();
  request.clear_parent_code();
  EXPECT_THAT(ValidateRequest(request), StatusIs(kInvalid, HasSubstr("parent_code")));
}

TEST(ValidateRequestTest, AllocateTarget) {
  v1::AllocateTargetRequest request;
  request.set_parent_code("01");
  request.set_scheme(v1::SCHEME_HEALTH);
  request.set_year(2023);
  request.set_method(v1::ALLOCATION_METHOD_POPULATION);
  request.set_preview(true);
  EXPECT_THAT(ValidateRequest(request), IsOk());  // a preview needs no request_id
  request.set_preview(false);
  EXPECT_THAT(ValidateRequest(request), StatusIs(kInvalid, HasSubstr("request_id")));
  request.set_request_id("a1");
  EXPECT_THAT(ValidateRequest(request), IsOk());
  request.set_method(v1::ALLOCATION_METHOD_UNSPECIFIED);
  EXPECT_THAT(ValidateRequest(request), StatusIs(kInvalid, HasSubstr("method")));
  request.set_method(v1::ALLOCATION_METHOD_LABOR_FORCE);
  request.set_assigned_by(std::string(201, 'x'));
  EXPECT_THAT(ValidateRequest(request),
              StatusIs(kInvalid, AllOf(HasSubstr("assigned_by"), Not(HasSubstr("xxxx")))));
}

TEST(ValidateRequestTest, ValidateAllocation) {
  v1::ValidateAllocationRequest request;
  request.set_parent_code("01");
  request.set_scheme(v1::SCHEME_HEALTH);
  request.set_year(2023);
  EXPECT_THAT(ValidateRequest(request), IsOk());
  request.set_year(0);
  EXPECT_THAT(ValidateRequest(request), StatusIs(kInvalid, HasSubstr("year")));
}

// Issue 10: the four reads that take a token refuse a negative one and an unknown consistency,
// naming the field; 0 (no token) and every known consistency pass.
TEST(ValidateRequestTest, FreshnessOfTheFourReads) {
  v1::GetAchievementRequest achievement;
  achievement.set_unit_code("82");
  v1::ListLaggingUnitsRequest lagging;
  lagging.set_parent_code("82");
  lagging.set_scheme(v1::SCHEME_HEALTH);
  v1::AllocateTargetRequest allocate;
  allocate.set_parent_code("82");
  allocate.set_scheme(v1::SCHEME_HEALTH);
  allocate.set_year(2025);
  allocate.set_method(v1::ALLOCATION_METHOD_POPULATION);
  allocate.set_preview(true);
  v1::GetReportRequest report;
  report.set_unit_code("82");
  auto check = [&](const v1::Freshness& freshness) {
    *achievement.mutable_freshness() = freshness;
    *lagging.mutable_freshness() = freshness;
    *allocate.mutable_freshness() = freshness;
    *report.mutable_freshness() = freshness;
    return std::vector<absl::Status>{ValidateRequest(achievement), ValidateRequest(lagging),
                                     ValidateRequest(allocate), ValidateRequest(report)};
  };
  v1::Freshness freshness;
  for (const v1::Consistency consistency :
       {v1::CONSISTENCY_UNSPECIFIED, v1::CONSISTENCY_APPLIED, v1::CONSISTENCY_FULL}) {
    for (const int64_t seq : {int64_t{0}, int64_t{1}, std::numeric_limits<int64_t>::max()}) {
      freshness.set_consistency(consistency);
      freshness.set_at_least_seq(seq);
      for (const absl::Status& status : check(freshness)) {
        EXPECT_THAT(status, IsOk()) << consistency << " " << seq;
      }
    }
  }
  freshness.set_consistency(v1::CONSISTENCY_APPLIED);
  for (const int64_t seq : {int64_t{-1}, std::numeric_limits<int64_t>::min()}) {
    freshness.set_at_least_seq(seq);
    for (const absl::Status& status : check(freshness)) {
      EXPECT_THAT(status, StatusIs(kInvalid, HasSubstr("freshness.at_least_seq"))) << seq;
    }
  }
  freshness.set_at_least_seq(7);
  freshness.set_consistency(static_cast<v1::Consistency>(3));
  for (const absl::Status& status : check(freshness)) {
    EXPECT_THAT(status, StatusIs(kInvalid, HasSubstr("freshness.consistency")));
  }
}

// Issue 13: every string field is bounded, free of NUL bytes and valid UTF-8 (common/text.h),
// and an error quotes at most a short prefix of what was sent.
TEST(ValidateRequestTest, EveryStringFieldIsCheckedAsText) {
  const std::string huge(1 << 20, '7');
  const std::string nul("82\0", 3);
  const std::string invalid = "\xC3\x28";
  auto refused = [](const absl::Status& status, const std::string& field) {
    EXPECT_THAT(status,
                StatusIs(kInvalid, AllOf(HasSubstr(field), Not(HasSubstr(std::string(50, '7'))))));
    EXPECT_LT(status.message().size(), 300u) << field;
  };
  for (const std::string& bad : {huge, nul, invalid}) {
    v1::SetTargetRequest set;
    *set.mutable_target() = GoodTarget();
    set.set_request_id(bad);
    refused(ValidateRequest(set), "request_id");
    set.set_request_id("r1");
    set.mutable_target()->set_unit_code(bad);
    refused(ValidateRequest(set), "target.unit_code");
    *set.mutable_target() = GoodTarget();
    set.mutable_target()->set_assigned_by(bad);
    refused(ValidateRequest(set), "target.assigned_by");
    *set.mutable_target() = GoodTarget();
    set.mutable_target()->set_decision_ref(bad);
    refused(ValidateRequest(set), "target.decision_ref");
    *set.mutable_target() = GoodTarget();
    set.mutable_target()->set_unit_as_of(bad);
    refused(ValidateRequest(set), "target.unit_as_of");

    v1::ListTargetsRequest list;
    list.set_page_token(bad == nul || bad == invalid ? bad : std::string(1000, '7'));
    refused(ValidateRequest(list), "page_token");
    list.clear_page_token();
    list.set_parent_code(bad);
    list.set_year(2023);
    refused(ValidateRequest(list), "parent_code");

    v1::GetAchievementRequest achievement;
    achievement.set_unit_code("82");
    achievement.set_period(bad);
    refused(ValidateRequest(achievement), "period");
    achievement.clear_period();
    achievement.set_territory_date(bad);
    refused(ValidateRequest(achievement), "territory_date");

    v1::ListLaggingUnitsRequest lagging;
    lagging.set_parent_code("VN");
    lagging.set_scheme(v1::SCHEME_HEALTH);
    lagging.set_page_token(bad == nul || bad == invalid ? bad : std::string(1000, '7'));
    refused(ValidateRequest(lagging), "page_token");

    v1::AllocateTargetRequest allocate;
    allocate.set_parent_code("01");
    allocate.set_scheme(v1::SCHEME_HEALTH);
    allocate.set_year(2023);
    allocate.set_method(v1::ALLOCATION_METHOD_POPULATION);
    allocate.set_request_id(bad);
    refused(ValidateRequest(allocate), "request_id");
    allocate.set_request_id("a1");
    allocate.set_decision_ref(bad);
    refused(ValidateRequest(allocate), "decision_ref");

    v1::GetReportRequest report;
    report.set_unit_code(bad);
    refused(ValidateRequest(report), "unit_code");
  }
  // Percentages in a report: 0 to 3 decimals; unset is the default.
  v1::GetReportRequest report;
  report.set_unit_code("01");
  report.set_period("2023");
  EXPECT_THAT(ValidateRequest(report), IsOk());
  for (int decimals : {0, 3}) {
    report.set_percent_decimals(decimals);
    EXPECT_THAT(ValidateRequest(report), IsOk()) << decimals;
  }
  for (int decimals : {-1, 4, 1'000'000}) {
    report.set_percent_decimals(decimals);
    EXPECT_THAT(ValidateRequest(report), StatusIs(kInvalid, HasSubstr("percent_decimals")))
        << decimals;
  }
  // A request id as long as common/text.h allows, and one byte more.
  v1::SetTargetRequest set;
  *set.mutable_target() = GoodTarget();
  set.set_request_id(std::string(kMaxRequestIdBytes, 'r'));
  EXPECT_THAT(ValidateRequest(set), IsOk());
  set.set_request_id(std::string(kMaxRequestIdBytes + 1, 'r'));
  EXPECT_THAT(ValidateRequest(set), StatusIs(kInvalid, HasSubstr("request_id")));
}

}  // namespace
}  // namespace covtrack::targets
