#pragma once

// The checks of a report's measures (issue 11), all read from the registry (common/measures.h):
//  - ValidateMeasureRecords, with no stored data: the measure, its keys, its value and its
//    bound, duplicates (request_validation.h runs it inside ValidateSubmitReport);
//  - CheckPartsWithinWholes, against what is stored: for each unit-month the request touches,
//    once the request is applied, no part adds up to more than its whole (payer groups within
//    the health total or a flow's total; overdue arrears within the amount owed).
// The unit of each measure must exist at its month's end: unit_calendar.h (ValidateReportUnits).

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "absl/status/status.h"
#include "covtrack/v1/ingestion_service.pb.h"

namespace covtrack::ingestion {

absl::Status ValidateMeasureRecords(
    const google::protobuf::RepeatedPtrField<v1::MeasureRecord>& measures);

// (unit_code, month, measure, scheme, payer_group): a measure value's key.
using MeasureKey = std::tuple<std::string, std::string, int, int, int>;
MeasureKey KeyOf(const v1::MeasureRecord& record);

// The values a check reads: the stored ones of the unit-months it covers, with the request's
// written over them. Health participation totals are stored under (unit, month,
// MEASURE_PARTICIPANTS, SCHEME_HEALTH, PAYER_GROUP_UNSPECIFIED).
struct ValuesAfterWrite {
  std::map<MeasureKey, int64_t> values;
  // Which of `values` the request sets: "measures[3]" or "records[2]" and the field at fault.
  std::map<MeasureKey, std::pair<std::string, std::string>> sent;
};

// INVALID_ARGUMENT naming the request's record when some whole is smaller than its parts' sum
// (common/measures.h, MeasureInfo::whole). A whole or part not known is not checked; a violation
// the request takes no part in (none of its values is in it) is not the request's and is left.
absl::Status CheckPartsWithinWholes(const ValuesAfterWrite& after);

}  // namespace covtrack::ingestion
