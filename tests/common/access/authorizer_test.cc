// Jurisdiction checks on plain data (OutsideJurisdiction, what Authorizer::RequireUnits asks once
// it knows the caller): units placed in the tree of their day, yearly figures placed with their
// holder (common/hierarchy), and a failure to read the units keeping its code.
#include "common/access/authorizer.h"

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/builders.h"

namespace covtrack::access {
namespace {

using ::testing::HasSubstr;
using testing::Unit;

// Before 2025-07-01: province 20 > district 201 > communes 20001, 20002. From 2025-07-01: the
// merged province 30 > commune 20001 (the code reused by a new commune, as 3,316 were).
UnitVersions Catalogue() {
  std::map<std::string, std::vector<v1::AdminUnit>> by_code;
  for (const v1::AdminUnit& unit :
       {Unit("20", v1::ADMIN_LEVEL_PROVINCE, "VN", "", "2025-07-01"),
        Unit("201", v1::ADMIN_LEVEL_DISTRICT, "20", "", "2025-07-01"),
        Unit("20001", v1::ADMIN_LEVEL_COMMUNE, "201", "", "2025-07-01", "Old 20001"),
        Unit("20002", v1::ADMIN_LEVEL_COMMUNE, "201", "", "2025-07-01"),
        Unit("30", v1::ADMIN_LEVEL_PROVINCE, "VN", "2025-07-01", ""),
        Unit("20001", v1::ADMIN_LEVEL_COMMUNE, "30", "2025-07-01", "", "New 20001")}) {
    by_code[unit.code()].push_back(unit);
  }
  return [by_code](const std::string& code) -> absl::StatusOr<std::vector<v1::AdminUnit>> {
    auto it = by_code.find(code);
    return it == by_code.end() ? std::vector<v1::AdminUnit>() : it->second;
  };
}

// OutsideJurisdiction as text: "" when every unit is inside, the reason when one is not, and
// "error: ..." when the units could not be read.
std::string Outside(const std::vector<std::string>& jurisdiction, const UnitRef& ref,
                    const UnitVersions& units) {
  absl::StatusOr<std::optional<std::string>> outside =
      OutsideJurisdiction(jurisdiction, {ref}, units);
  if (!outside.ok()) {
    return "error: " + outside.status().ToString();
  }
  return outside->value_or("");
}

TEST(OutsideJurisdictionTest, AMonthsUnitIsPlacedInTheTreeOfItsDay) {
  const UnitVersions units = Catalogue();
  EXPECT_EQ(Outside({"201"}, UnitRef::OnDay("20001", "2025-06-30"), units), "");
  EXPECT_THAT(Outside({"201"}, UnitRef::OnDay("20001", "2025-07-31"), units),
              HasSubstr("\"20001\" (New 20001): it is outside its jurisdiction (201) on "
                        "2025-07-31"));
  EXPECT_EQ(Outside({"30"}, UnitRef::OnDay("20001", "2025-07-31"), units), "");
  EXPECT_EQ(Outside({"VN"}, UnitRef::OnDay("20001", "2025-07-31"), units), "");
  EXPECT_EQ(Outside({"20", "30"}, UnitRef::OnDay("20002", "2025-01-31"), units), "");
  EXPECT_THAT(Outside({"201"}, UnitRef::OnDay("20002", "2025-07-01"), units),
              HasSubstr("no unit holds that code on 2025-07-01"));
}

TEST(OutsideJurisdictionTest, AYearlyFigureOfAReusedCodeBelongsToThe31DecemberHolder) {
  const UnitVersions units = Catalogue();
  // 2025: the new commune holds 20001 on 31 December; the old district may not write for it.
  EXPECT_THAT(Outside({"201"}, UnitRef::InYear("20001", 2025), units),
              HasSubstr("(New 20001): it is outside its jurisdiction (201) on 2025-12-31"));
  EXPECT_EQ(Outside({"30"}, UnitRef::InYear("20001", 2025), units), "");
  EXPECT_EQ(Outside({"201"}, UnitRef::InYear("20001", 2024), units), "");
  EXPECT_THAT(Outside({"30"}, UnitRef::InYear("20001", 2024), units),
              HasSubstr("(Old 20001): it is outside its jurisdiction (30) on 2024-12-31"));
}

TEST(OutsideJurisdictionTest, WithoutA31DecemberHolderTheLastHolderIsPlacedOnItsLastDay) {
  const UnitVersions units = Catalogue();
  // 20002 was abolished on 2025-07-01 and its code not reused: placed under 201 on 2025-06-30.
  EXPECT_EQ(Outside({"201"}, UnitRef::InYear("20002", 2025), units), "");
  EXPECT_THAT(Outside({"30"}, UnitRef::InYear("20002", 2025), units), HasSubstr("on 2025-06-30"));
  EXPECT_THAT(Outside({"201"}, UnitRef::InYear("20002", 2026), units),
              HasSubstr("no unit holds that code in 2026"));
}

TEST(OutsideJurisdictionTest, AReaderRefusedByIngestionStaysPermissionDenied) {
  const UnitVersions refused =
      [](const std::string&) -> absl::StatusOr<std::vector<v1::AdminUnit>> {
    return absl::PermissionDeniedError("ingestion ListAdminUnits: identity \"targets\" ...");
  };
  EXPECT_THAT(
      Outside({"201"}, UnitRef::OnDay("20001", "2025-06-30"), refused),
      HasSubstr("error: PERMISSION_DENIED: cannot check the jurisdiction of unit \"20001\""));
}

TEST(OutsideJurisdictionTest, AnUpstreamOutageOrTimeoutIsUnavailable) {
  for (const absl::Status& error :
       {absl::UnavailableError("connection refused"), absl::DeadlineExceededError("deadline")}) {
    const UnitVersions broken =
        [error](const std::string&) -> absl::StatusOr<std::vector<v1::AdminUnit>> { return error; };
    EXPECT_EQ(
        OutsideJurisdiction({"201"}, {UnitRef::InYear("20001", 2025)}, broken).status().code(),
        absl::StatusCode::kUnavailable)
        << error;
  }
}

}  // namespace
}  // namespace covtrack::access
