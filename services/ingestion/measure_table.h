#pragma once

// The system of record of measures (issue 11; common/measures.h): measure_values holds the
// current value of each (month, unit_code, measure, scheme, payer_group), measure_revisions
// the values each key had before, each tied to the change that wrote it, the way participation
// keeps them (schema.h, migration 5). The month leads both keys: a load writes a month of many
// units, which then lands in one stretch of the table rather than scattered across it, and
// every read here (the checks, the feed, exports, revisions) reaches values through a month.

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/sql/database.h"
#include "covtrack/v1/ingestion_service.pb.h"
#include "services/ingestion/measure_checks.h"

namespace covtrack::ingestion {

// The condition on a measure_values row `m` of being a part of its unit-month's health total,
// as CheckPartsWithinWholes sums them (common/measures.h, MeasureInfo::whole): today the payer
// groups of health_by_payer, "m.scheme = 3 AND ((m.measure = 5 AND m.payer_group <> 0))".
// health_part_sums (schema.h, migration 7) holds each unit-month's sum of such rows; its
// migration spells this condition out, and a test holds the two equal.
std::string PartOfHealthTotal();

// Brings health_part_sums up to date with measures written since health_part_sums_through
// (schema.h, migration 7) by a process that does not keep the sums (an earlier release, during
// a rolling upgrade): sums their unit-months again. One query when nothing is behind. Runs in
// every report's transaction, after the writers' lock and before ReadValuesAfterWrite and
// WriteMeasures, which rely on it.
absl::Status CatchUpPartSums(sql::Session& s);

// The values CheckPartsWithinWholes reads for `request`: every stored measure and health total
// of the unit-months its measures name, and of those it sends only a health total for, the
// stored parts of that total where they add up to more than the new one (no other can fail
// there), with the request's written over them.
absl::StatusOr<ValuesAfterWrite> ReadValuesAfterWrite(sql::Session& s,
                                                      const v1::SubmitReportRequest& request);

// Writes the measures whose value differs from the stored one, the values they replace into
// measure_revisions, the sums of health_part_sums of their unit-months (and marks the sums
// current through `seq`: CatchUpPartSums must have run in this transaction), and returns the
// (unit_code, month) of each one written.
absl::StatusOr<std::vector<sql::Row>> WriteMeasures(
    sql::Session& s, const google::protobuf::RepeatedPtrField<v1::MeasureRecord>& measures,
    int64_t seq);

// Every measure value the changes in (after_seq, last] wrote, with the seq that wrote it,
// ordered by seq: for each change item of kind kMeasureChange, its unit-month's values stored
// at that seq, current or overwritten since.
absl::StatusOr<std::vector<std::pair<int64_t, v1::MeasureRecord>>> ReadMeasuresOfChanges(
    sql::Session& s, int64_t after_seq, int64_t last);

// The stored measures of from_month..to_month, ordered by month then unit_code, of the units in
// `codes` (all units when null), handed to `sink` one at a time; stops when it returns false.
absl::Status ReadMeasuresOfMonths(sql::Session& s, const std::string& from_month,
                                  const std::string& to_month, const std::set<std::string>* codes,
                                  const std::function<bool(v1::MeasureRecord)>& sink);

// Every value request.measure() has had for the unit in request.month() (and request.scheme()
// when set), oldest first, with who sent it: request.measure() and month() are set.
absl::Status ListMeasureRevisions(sql::Session& s, const v1::ListRevisionsRequest& request,
                                  int64_t offset, int page_size,
                                  v1::ListRevisionsResponse& response, bool& more);

}  // namespace covtrack::ingestion
