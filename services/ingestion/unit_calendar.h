#pragma once

// The checks of a write against the units the store holds: does a record's unit hold its code
// at the end of the month, does a yearly figure have a holder (the yearly-figure rule of
// common/hierarchy), do an import's intervals overlap the stored ones, does a unit's parent
// exist at a higher level. They run inside the write's transaction, so what they read is what
// the write commits against.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "covtrack/v1/ingestion_service.pb.h"
#include "services/ingestion/admin_unit_table.h"

namespace covtrack::ingestion {

// Every version of each code a check asks about, read once per code.
class UnitCalendar {
 public:
  // Every version of a code, ordered by valid_from (empty when no unit ever held it).
  using Loader = std::function<absl::StatusOr<std::vector<v1::AdminUnit>>(const std::string&)>;

  // Every version of every unit whose parent_code is the code (any order).
  using ChildrenLoader = Loader;

  // Without `children`, an import is checked without the stored children of the units it
  // changes (tests of the other checks).
  explicit UnitCalendar(Loader load, ChildrenLoader children = nullptr)
      : load_(std::move(load)), children_(std::move(children)) {}
  // Every version of every code from `known`, read before (a code absent from it: no unit ever
  // held it), looked up there without a copy: a report's check (UnitBoundsCache).
  explicit UnitCalendar(std::shared_ptr<const VersionsByCode> known) : known_(std::move(known)) {}

  absl::StatusOr<const std::vector<v1::AdminUnit>*> Versions(const std::string& code);
  // The stored versions that name `code` as their parent; empty without a ChildrenLoader.
  absl::StatusOr<std::vector<v1::AdminUnit>> Children(const std::string& code);

 private:
  std::shared_ptr<const VersionsByCode> known_;
  Loader load_;
  ChildrenLoader children_;
  VersionsByCode cache_;
};

// Every record's and measure's unit holds its code on the last day of its month, and every
// denominator's
// code has a holder in its year: the unit holding it on 31 December, else the last that held
// it during the year (common/hierarchy, YearlyFigureHolder). NOT_FOUND for a code no unit
// ever held; INVALID_ARGUMENT naming the record otherwise. `request` has passed
// ValidateSubmitReport.
absl::Status ValidateReportUnits(const v1::SubmitReportRequest& request, UnitCalendar& calendar);

// The units of an import against the stored ones: no two intervals of one code overlap once
// the import replaces the stored versions with the same valid_from, and the hierarchy holds on
// every date, not only on the import's first: a district's or commune's parent exists at a
// higher level on every day of the unit's validity (at each date where the parent's versions
// change), both for the imported units and for the stored children of the codes the import
// changes (shortening a province's validity, or changing a code's level in 2030, under units
// that still name it). Levels strictly decreasing along every parent link on every date is
// what makes a cycle impossible. `request` has passed ValidateImportAdminUnits.
absl::Status ValidateImportedUnits(const v1::ImportAdminUnitsRequest& request,
                                   UnitCalendar& calendar);

}  // namespace covtrack::ingestion
