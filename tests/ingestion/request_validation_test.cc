// The checks of ingestion requests that need no stored data, alone (request_validation.h).
// The same checks through gRPC, with nothing stored, are in ingestion_service_test.cc.

#include "services/ingestion/request_validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "tests/testing/builders.h"
#include "tests/testing/status_matchers.h"

namespace covtrack::ingestion {
namespace {

using ::covtrack::testing::Denominator;
using ::covtrack::testing::IsOk;
using ::covtrack::testing::Record;
using ::covtrack::testing::StatusIs;
using ::covtrack::testing::Unit;
using ::testing::HasSubstr;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

v1::SubmitReportRequest Report(std::vector<v1::ParticipationRecord> records,
                               std::vector<v1::DenominatorRecord> denominators = {}) {
  v1::SubmitReportRequest request;
  request.set_request_id("r1");
  for (auto& r : records) {
    *request.add_records() = r;
  }
  for (auto& d : denominators) {
    *request.add_denominators() = d;
  }
  return request;
}

v1::ImportAdminUnitsRequest Import(std::vector<v1::AdminUnit> units) {
  v1::ImportAdminUnitsRequest request;
  request.set_request_id("units-1");
  for (auto& u : units) {
    *request.add_units() = u;
  }
  return request;
}

v1::AdminUnit Nameless(v1::AdminUnit unit) {
  unit.clear_name();
  return unit;
}

v1::ParticipationRecord Good() { return Record("28249", "2023-12", v1::SCHEME_HEALTH, 100, 90); }

TEST(ValidateRequestIdTest, IsRequiredAndBounded) {
  EXPECT_THAT(ValidateRequestId("r-1"), IsOk());
  EXPECT_THAT(ValidateRequestId(""), StatusIs(kInvalid, HasSubstr("request_id: required")));
  // kMaxRequestIdBytes (common/text.h), the bound of an x-request-id too.
  EXPECT_THAT(ValidateRequestId(std::string(128, 'x')), IsOk());
  EXPECT_THAT(ValidateRequestId(std::string(129, 'x')),
              StatusIs(kInvalid, HasSubstr("longer than 128 bytes")));
}

TEST(ValidateSubmitReportTest, AcceptsAWellFormedReport) {
  EXPECT_THAT(ValidateSubmitReport(
                  Report({Good(), Record("28249", "2023-12", v1::SCHEME_UNEMPLOYMENT, 5)},
                         {Denominator("28249", 2023, v1::DENOMINATOR_KIND_POPULATION, 10),
                          Denominator("28249", 2023, v1::DENOMINATOR_KIND_LABOR_FORCE, 6)}),
                  {}),
              IsOk());
  // Denominators alone are a report too.
  EXPECT_THAT(
      ValidateSubmitReport(
          Report({}, {Denominator("28249", 2023, v1::DENOMINATOR_KIND_POPULATION, 10)}), {}),
      IsOk());
}

TEST(ValidateSubmitReportTest, NamesTheRecordAndField) {
  struct Case {
    std::string name;
    v1::SubmitReportRequest request;
    std::string message;
  };
  auto with = [](std::function<void(v1::ParticipationRecord&)> edit) {
    v1::ParticipationRecord bad = Good();
    edit(bad);
    return Report({Good(), bad});
  };
  const std::vector<Case> cases = {
      {"no unit", with([](auto& r) { r.clear_unit_code(); }), "records[1].unit_code: required"},
      {"malformed month", with([](auto& r) { r.set_month("2023-13"); }),
       "records[1].month: malformed month \"2023-13\""},
      {"derived scheme", with([](auto& r) { r.set_scheme(v1::SCHEME_SOCIAL); }),
       "records[1].scheme: SCHEME_SOCIAL is derived"},
      {"unspecified scheme", with([](auto& r) { r.set_scheme(v1::SCHEME_UNSPECIFIED); }),
       "records[1].scheme: must be one of the four reported schemes (got 0)"},
      {"negative count", with([](auto& r) { r.set_participants(-1); }),
       "records[1].participants: must not be negative (got -1)"},
      {"negative in-province", with([](auto& r) { r.set_in_province_participants(-2); }),
       "records[1].in_province_participants: must not be negative"},
      {"in-province above total", with([](auto& r) { r.set_in_province_participants(101); }),
       "records[1].in_province_participants: exceeds participants (101 > 100)"},
      {"duplicate record", with([](auto& r) { r.set_in_province_participants(1); }),
       "records[1].unit_code: duplicates records[0] (same unit, month and scheme)"},
      {"denominator without unit",
       Report({}, {Denominator("", 2023, v1::DENOMINATOR_KIND_POPULATION, 1)}),
       "denominators[0].unit_code: required"},
      {"year out of range",
       Report({}, {Denominator("28249", 1899, v1::DENOMINATOR_KIND_POPULATION, 1)}),
       "denominators[0].year: out of range (got 1899)"},
      {"unknown kind",
       Report({}, {Denominator("28249", 2023, v1::DENOMINATOR_KIND_UNSPECIFIED, 1)}),
       "denominators[0].kind: must be POPULATION or LABOR_FORCE"},
      {"zero value", Report({}, {Denominator("28249", 2023, v1::DENOMINATOR_KIND_POPULATION, 0)}),
       "denominators[0].value: must be greater than zero (got 0)"},
      {"duplicate denominator",
       Report({}, {Denominator("28249", 2023, v1::DENOMINATOR_KIND_POPULATION, 1),
                   Denominator("28249", 2023, v1::DENOMINATOR_KIND_POPULATION, 2)}),
       "denominators[1].unit_code: duplicates denominators[0] (same unit, year and kind)"},
      {"empty report", Report({}), "records: the request has no records and no denominators"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_THAT(ValidateSubmitReport(c.request, {}), StatusIs(kInvalid, HasSubstr(c.message)));
  }
}

TEST(ValidateSubmitReportTest, RefusesARequestAboveTheLimit) {
  v1::SubmitReportRequest request =
      Report({Good(), Record("28252", "2023-12", v1::SCHEME_HEALTH, 1)},
             {Denominator("28249", 2023, v1::DENOMINATOR_KIND_POPULATION, 10)});
  EXPECT_THAT(ValidateSubmitReport(request, {.max_items_per_request = 3}), IsOk());
  EXPECT_THAT(ValidateSubmitReport(request, {.max_items_per_request = 2}),
              StatusIs(kInvalid, HasSubstr("request too large: 3 records and denominators, "
                                           "at most 2 per request")));
  request.clear_request_id();
  EXPECT_THAT(ValidateSubmitReport(request, {}),
              StatusIs(kInvalid, HasSubstr("request_id: required")));
}

// Invalid UTF-8 in any string of a request (a caller in-process, or a future bytes field):
// INVALID_ARGUMENT naming the field, never a store error. Over gRPC, protobuf refuses a proto3
// string that is not UTF-8 before a handler runs.
TEST(ValidateSubmitReportTest, RefusesInvalidUtf8InEveryString) {
  v1::SubmitReportRequest report = Report({Good()});
  report.set_source("BHXH \xC3\x28");
  EXPECT_THAT(ValidateSubmitReport(report, {}),
              StatusIs(kInvalid, HasSubstr("source: is not valid UTF-8 at byte 5")));
  report = Report({Good()});
  report.set_request_id("\xC0\xAF");
  EXPECT_THAT(ValidateSubmitReport(report, {}),
              StatusIs(kInvalid, HasSubstr("request_id: is not valid UTF-8 at byte 0")));
  report = Report({Record("2825\xFF", "2023-12", v1::SCHEME_HEALTH, 1)});
  EXPECT_THAT(ValidateSubmitReport(report, {}),
              StatusIs(kInvalid, HasSubstr("records[0].unit_code: must be printable UTF-8 "
                                           "without NUL or control bytes (got \"2825\\xFF\")")));
  v1::AdminUnit unit = Unit("28249", v1::ADMIN_LEVEL_COMMUNE, "815", "", "", "Ph\xFFng");
  EXPECT_THAT(ValidateImportAdminUnits(Import({unit}), {}),
              StatusIs(kInvalid, HasSubstr("units[0].name: is not valid UTF-8 at byte 2")));
}

TEST(ValidateImportAdminUnitsTest, AcceptsUnitsAcrossTheReform) {
  EXPECT_THAT(
      ValidateImportAdminUnits(
          Import({Unit("82", v1::ADMIN_LEVEL_PROVINCE, "", "", "2025-07-01", "Tỉnh Tiền Giang"),
                  Unit("82", v1::ADMIN_LEVEL_PROVINCE, "VN", "2025-07-01", "", "Tỉnh Đồng Tháp"),
                  Unit("815", v1::ADMIN_LEVEL_DISTRICT, "82", "", "2025-07-01", "Mỹ Tho")}),
          {}),
      IsOk());
}

TEST(ValidateImportAdminUnitsTest, NamesTheUnitAndField) {
  struct Case {
    std::string name;
    v1::AdminUnit unit;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"empty code", Unit("", v1::ADMIN_LEVEL_PROVINCE, "", "", "", "X"),
       "units[0].code: must be 1–16 characters without spaces"},
      {"code with a space", Unit("8 2", v1::ADMIN_LEVEL_PROVINCE, "", "", "", "X"),
       "units[0].code: must be 1–16 characters without spaces (got \"8 2\")"},
      {"the nation", Unit("VN", v1::ADMIN_LEVEL_PROVINCE, "", "", "", "X"),
       "units[0].code: \"VN\" is the nation"},
      {"no name", Nameless(Unit("82", v1::ADMIN_LEVEL_PROVINCE, "")), "units[0].name: required"},
      {"nation level", Unit("82", v1::ADMIN_LEVEL_NATION, "", "", "", "X"),
       "units[0].level: must be PROVINCE, DISTRICT or COMMUNE"},
      {"malformed valid_from", Unit("82", v1::ADMIN_LEVEL_PROVINCE, "", "2025-7-1", "", "X"),
       "units[0].valid_from"},
      {"valid_to before valid_from",
       Unit("82", v1::ADMIN_LEVEL_PROVINCE, "", "2025-07-01", "2025-01-01", "X"),
       "units[0].valid_to: must be after valid_from (2025-07-01 >= 2025-01-01)"},
      {"commune without parent", Unit("28249", v1::ADMIN_LEVEL_COMMUNE, "", "", "", "X"),
       "units[0].parent_code: required for a district or commune"},
      {"commune under the nation", Unit("28249", v1::ADMIN_LEVEL_COMMUNE, "VN", "", "", "X"),
       "units[0].parent_code: required for a district or commune"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_THAT(ValidateImportAdminUnits(Import({c.unit}), {}),
                StatusIs(kInvalid, HasSubstr(c.message)));
  }
}

TEST(ValidateImportAdminUnitsTest, RefusesDuplicatesEmptyAndOversizeImports) {
  const v1::AdminUnit unit = Unit("82", v1::ADMIN_LEVEL_PROVINCE, "", "", "", "Tiền Giang");
  EXPECT_THAT(ValidateImportAdminUnits(Import({unit, unit}), {}),
              StatusIs(kInvalid, HasSubstr("units[1].code: duplicates units[0]")));
  EXPECT_THAT(ValidateImportAdminUnits(Import({}), {}),
              StatusIs(kInvalid, HasSubstr("units: the request has no units")));
  EXPECT_THAT(ValidateImportAdminUnits(
                  Import({unit, Unit("14", v1::ADMIN_LEVEL_PROVINCE, "", "", "", "Sơn La")}),
                  {.max_items_per_request = 1}),
              StatusIs(kInvalid, HasSubstr("request too large: 2 units, at most 1")));
}

TEST(ValidateImportAdminUnitsTest, DoesNotEchoAHugeCode) {
  const std::string code(100000, '1');
  absl::Status status =
      ValidateImportAdminUnits(Import({Unit(code, v1::ADMIN_LEVEL_PROVINCE, "", "", "", "X")}), {});
  EXPECT_THAT(status, StatusIs(kInvalid, HasSubstr("units[0].code")));
  EXPECT_LT(status.message().size(), 200u);
}

TEST(ValidateListAdminUnitsTest, ChecksAsOf) {
  v1::ListAdminUnitsRequest request;
  EXPECT_THAT(ValidateListAdminUnits(request), IsOk());
  request.set_as_of("2025-07-01");
  EXPECT_THAT(ValidateListAdminUnits(request), IsOk());
  request.set_as_of("2025-02-30");
  EXPECT_THAT(ValidateListAdminUnits(request), StatusIs(kInvalid, HasSubstr("as_of: ")));
}

TEST(ValidateListRevisionsTest, NeedsAUnitAndWellFormedFilters) {
  v1::ListRevisionsRequest request;
  EXPECT_THAT(ValidateListRevisions(request), StatusIs(kInvalid, HasSubstr("unit_code: required")));
  request.set_unit_code("28249");
  EXPECT_THAT(ValidateListRevisions(request), IsOk());
  request.set_month("2023-13");
  EXPECT_THAT(ValidateListRevisions(request), StatusIs(kInvalid, HasSubstr("month: ")));
  request.set_month("2023-12");
  request.set_scheme(v1::SCHEME_SOCIAL);
  EXPECT_THAT(ValidateListRevisions(request),
              StatusIs(kInvalid, HasSubstr("scheme: must be one of the four reported schemes")));
  request.set_scheme(v1::SCHEME_HEALTH);
  EXPECT_THAT(ValidateListRevisions(request), IsOk());
}

TEST(ValidateExportDataTest, NeedsAsOfForASubtreeAndWellFormedMonths) {
  v1::ExportDataRequest request;
  EXPECT_THAT(ValidateExportData(request), IsOk());  // the whole country, every unit ever
  request.set_root_code("82");
  EXPECT_THAT(ValidateExportData(request),
              StatusIs(kInvalid, HasSubstr("as_of: required to read the subtree of a unit")));
  request.set_as_of("2025-06-31");
  EXPECT_THAT(ValidateExportData(request), StatusIs(kInvalid, HasSubstr("as_of: ")));
  request.set_as_of("2025-06-30");
  EXPECT_THAT(ValidateExportData(request), IsOk());
  request.set_from_month("2025-01");
  EXPECT_THAT(ValidateExportData(request), StatusIs(kInvalid, HasSubstr("to_month: ")));
  request.set_to_month("2025-06");
  EXPECT_THAT(ValidateExportData(request), IsOk());
  request.set_from_month("2025-1");
  EXPECT_THAT(ValidateExportData(request), StatusIs(kInvalid, HasSubstr("from_month: ")));
}

}  // namespace
}  // namespace covtrack::ingestion
