// The checks of a write against stored units (unit_calendar.h), alone: the store is a map of
// versions by code. The same checks through gRPC are in ingestion_service_test.cc.

#include "services/ingestion/unit_calendar.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

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
using v1::ADMIN_LEVEL_COMMUNE;
using v1::ADMIN_LEVEL_DISTRICT;
using v1::ADMIN_LEVEL_PROVINCE;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

// Tiền Giang before the 2025 reform with Mỹ Tho (815) and Phường 5 (28249); Đồng Tháp (new
// 82) after it. Commune code 28252 is reused within 2025: Phường 4 of Mỹ Tho until 30 June,
// then a new commune of Đồng Tháp.
class UnitCalendarTest : public ::testing::Test {
 protected:
  UnitCalendarTest() {
    for (const v1::AdminUnit& u :
         {Unit("82", ADMIN_LEVEL_PROVINCE, "VN", "", "2025-07-01", "Tỉnh Tiền Giang"),
          Unit("82", ADMIN_LEVEL_PROVINCE, "VN", "2025-07-01", "", "Tỉnh Đồng Tháp"),
          Unit("815", ADMIN_LEVEL_DISTRICT, "82", "", "2025-07-01", "Thành phố Mỹ Tho"),
          Unit("28249", ADMIN_LEVEL_COMMUNE, "815", "", "2025-07-01", "Phường 5"),
          Unit("28252", ADMIN_LEVEL_COMMUNE, "815", "", "2025-07-01", "Phường 4"),
          Unit("28252", ADMIN_LEVEL_COMMUNE, "82", "2025-07-01", "", "Phường Đạo Thạnh")}) {
      stored_[u.code()].push_back(u);
    }
  }

  UnitCalendar Calendar() {
    return UnitCalendar(
        [this](const std::string& code) -> absl::StatusOr<std::vector<v1::AdminUnit>> {
          ++loads_[code];
          if (code == "broken") {
            return absl::UnavailableError("store unavailable");
          }
          auto it = stored_.find(code);
          return it == stored_.end() ? std::vector<v1::AdminUnit>{} : it->second;
        });
  }

  static v1::SubmitReportRequest Report(std::vector<v1::ParticipationRecord> records,
                                        std::vector<v1::DenominatorRecord> denominators = {}) {
    v1::SubmitReportRequest request;
    request.set_request_id("r");
    for (auto& r : records) {
      *request.add_records() = r;
    }
    for (auto& d : denominators) {
      *request.add_denominators() = d;
    }
    return request;
  }

  static v1::ImportAdminUnitsRequest Import(std::vector<v1::AdminUnit> units) {
    v1::ImportAdminUnitsRequest request;
    request.set_request_id("i");
    for (auto& u : units) {
      *request.add_units() = u;
    }
    return request;
  }

  std::map<std::string, std::vector<v1::AdminUnit>> stored_;
  std::map<std::string, int> loads_;
};

TEST_F(UnitCalendarTest, ReadsEachCodeOnce) {
  UnitCalendar calendar = Calendar();
  EXPECT_THAT(
      ValidateReportUnits(Report({Record("28249", "2023-11", v1::SCHEME_HEALTH, 1),
                                  Record("28249", "2023-12", v1::SCHEME_HEALTH, 1)},
                                 {Denominator("28249", 2023, v1::DENOMINATOR_KIND_POPULATION, 5)}),
                          calendar),
      IsOk());
  EXPECT_EQ(loads_["28249"], 1);
}

TEST_F(UnitCalendarTest, ARecordBelongsToTheUnitValidAtTheEndOfItsMonth) {
  UnitCalendar calendar = Calendar();
  EXPECT_THAT(
      ValidateReportUnits(Report({Record("28249", "2025-06", v1::SCHEME_HEALTH, 1)}), calendar),
      IsOk());
  EXPECT_THAT(
      ValidateReportUnits(Report({Record("28249", "2025-07", v1::SCHEME_HEALTH, 1)}), calendar),
      StatusIs(kInvalid, HasSubstr("records[0].month: unit \"28249\" does not exist at the end "
                                   "of 2025-07 (valid […, 2025-07-01))")));
  EXPECT_THAT(
      ValidateReportUnits(Report({Record("99999", "2025-06", v1::SCHEME_HEALTH, 1)}), calendar),
      StatusIs(absl::StatusCode::kNotFound,
               HasSubstr("records[0].unit_code: unknown unit \"99999\"")));
}

TEST_F(UnitCalendarTest, AYearlyFigureNeedsAHolderInItsYear) {
  UnitCalendar calendar = Calendar();
  // 28249 ended on 30 June 2025: the last holder of its code in 2025.
  EXPECT_THAT(
      ValidateReportUnits(
          Report({}, {Denominator("28249", 2025, v1::DENOMINATOR_KIND_POPULATION, 5)}), calendar),
      IsOk());
  // The reused code: its 2025 figure belongs to the commune holding it on 31 December.
  EXPECT_THAT(
      ValidateReportUnits(
          Report({}, {Denominator("28252", 2025, v1::DENOMINATOR_KIND_POPULATION, 5)}), calendar),
      IsOk());
  EXPECT_THAT(
      ValidateReportUnits(
          Report({}, {Denominator("28249", 2026, v1::DENOMINATOR_KIND_POPULATION, 5)}), calendar),
      StatusIs(kInvalid, HasSubstr("denominators[0].year: unit \"28249\" does not exist "
                                   "in 2026 (valid […, 2025-07-01))")));
  EXPECT_THAT(
      ValidateReportUnits(
          Report({}, {Denominator("404", 2025, v1::DENOMINATOR_KIND_POPULATION, 5)}), calendar),
      StatusIs(absl::StatusCode::kNotFound,
               HasSubstr("denominators[0].unit_code: unknown unit \"404\"")));
}

TEST_F(UnitCalendarTest, AnUnknownCodeIsNotEchoedWhole) {
  UnitCalendar calendar = Calendar();
  const absl::Status status = ValidateReportUnits(
      Report({Record(std::string(100000, '7'), "2025-06", v1::SCHEME_HEALTH, 1)}), calendar);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kNotFound,
                               HasSubstr("records[0].unit_code: unknown unit \"7777")));
  EXPECT_LT(status.message().size(), 200u);
}

TEST_F(UnitCalendarTest, AStoreErrorIsPassedOn) {
  UnitCalendar calendar = Calendar();
  EXPECT_THAT(
      ValidateReportUnits(Report({Record("broken", "2025-06", v1::SCHEME_HEALTH, 1)}), calendar),
      StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(UnitCalendarTest, AnImportMayNotOverlapAStoredInterval) {
  UnitCalendar calendar = Calendar();
  EXPECT_THAT(ValidateImportedUnits(
                  Import({Unit("82", ADMIN_LEVEL_PROVINCE, "VN", "2025-01-01", "2025-09-01", "X")}),
                  calendar),
              StatusIs(kInvalid, HasSubstr("units[0].valid_to: unit \"82\" [2025-01-01, "
                                           "2025-09-01) overlaps its interval starting "
                                           "2025-07-01")));
  EXPECT_THAT(
      ValidateImportedUnits(Import({Unit("82", ADMIN_LEVEL_PROVINCE, "VN", "2026-01-01", "", "X")}),
                            calendar),
      StatusIs(kInvalid, HasSubstr("units[0].valid_from: unit \"82\" starting 2026-01-01 "
                                   "overlaps its interval starting 2025-07-01")));
  // Replacing a stored version (same valid_from) with a shorter one is no overlap.
  EXPECT_THAT(ValidateImportedUnits(Import({Unit("82", ADMIN_LEVEL_PROVINCE, "VN", "2025-07-01",
                                                 "2030-01-01", "Tỉnh Đồng Tháp")}),
                                    calendar),
              IsOk());
}

TEST_F(UnitCalendarTest, AParentMustExistOnTheChildsFirstDayAtAHigherLevel) {
  UnitCalendar calendar = Calendar();
  EXPECT_THAT(ValidateImportedUnits(
                  Import({Unit("29001", ADMIN_LEVEL_COMMUNE, "815", "2024-01-01", "2025-07-01")}),
                  calendar),
              IsOk());
  EXPECT_THAT(ValidateImportedUnits(
                  Import({Unit("29002", ADMIN_LEVEL_COMMUNE, "815", "2025-08-01", "")}), calendar),
              StatusIs(kInvalid, HasSubstr("units[0].parent_code: parent \"815\" of \"29002\" "
                                           "does not exist on 2025-08-01")));
  EXPECT_THAT(
      ValidateImportedUnits(
          Import({Unit("29003", ADMIN_LEVEL_DISTRICT, "28249", "2024-01-01", "2025-01-01")}),
          calendar),
      StatusIs(kInvalid, HasSubstr("not a higher level")));
  // A parent in the same import counts.
  EXPECT_THAT(ValidateImportedUnits(
                  Import({Unit("900", ADMIN_LEVEL_DISTRICT, "82", "2024-01-01", "2025-07-01"),
                          Unit("29000", ADMIN_LEVEL_COMMUNE, "900", "2024-01-01", "2025-07-01")}),
                  calendar),
              IsOk());
}

}  // namespace
}  // namespace covtrack::ingestion
