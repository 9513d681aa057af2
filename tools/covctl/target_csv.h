#pragma once

// Targets as covctl reads them: from `covctl targets set` arguments, and from
// `covctl targets import FILE.csv` with the header
//   unit_code,year,scheme,kind,value[,basis,assigned_by,decision_ref,unit_as_of,measure,
//   payer_group]
// kind: participants | coverage_percent; basis: all (default) | in_province; value: a whole
// number of people, or a percentage 0–100 with a '.' decimal point (89.5); unit_as_of: empty, or
// the date (inside the year) on which unit_code names the unit the target is for
// (Target.unit_as_of: 82 with 2025-06-30 is old 82 Tiền Giang's 2025 target).
// measure: empty or participants, else a measure's name (docs/measures.md: arrears_ratio,
// new_participants, ...), whose value is in the measure's unit; kind and basis are then left
// empty (kind may say participants, the flag's default), scheme is empty or "none" for a measure
// without one, and payer_group is a group's name (employer_employee, ..., household) or empty.

#include <string>

#include "absl/status/statusor.h"
#include "covtrack/v1/target_service.pb.h"
#include "tools/sampledata/record_csv.h"

namespace covtrack::covctl {

struct TargetFields {
  std::string unit_code;
  std::string year;
  std::string scheme;
  std::string kind;
  std::string value;
  std::string basis;
  std::string assigned_by;
  std::string decision_ref;
  std::string unit_as_of;
  std::string measure;
  std::string payer_group;
};

// INVALID_ARGUMENT listing every problem ("year \"20x3\" is not a year (2000..2100); ...").
absl::StatusOr<v1::Target> TargetFromFields(const TargetFields& fields);

sampledata::ParsedRows<v1::Target> ParseTargetRows(const sampledata::CsvTable& table);

}  // namespace covtrack::covctl
