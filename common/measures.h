#pragma once

// The measures a unit reports beside its participants (issue 11), in ONE table: per measure its
// names, its rule over months, its unit, the dimensions it is reported in, its bound, which way
// is better and which whole it is a part of. Validation and storage in ingestion read this table
// (and aggregation, targets and reports are to), so adding a measure is a row here, not a code
// path. DHIS2 keeps a data element apart from its aggregation type the same way.

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/domain.h"
#include "covtrack/v1/common.pb.h"

namespace covtrack {

// How a period's value comes from its months.
enum class MeasureRule {
  kLast,   // a stock: the value at the period's last reported month (participants, arrears)
  kSum,    // a flow: the sum of the period's months (new participants, contributions due)
  kRatio,  // derived: Σ numerator (its own rule) / Σ denominator (its own rule) × 100
};

enum class MeasureUnit { kPeople, kVnd, kEmployers, kPercent };

// The keys a value of the measure has beside (unit, month).
enum class MeasureDimensions {
  kNone,              // scheme and payer group UNSPECIFIED
  kScheme,            // one of the four reported schemes; no payer group
  kSchemeAndPayer,    // a reported scheme; with SCHEME_HEALTH optionally a payer group
  kHealthPayerGroup,  // SCHEME_HEALTH and a payer group, both required
};

// Where values of the measure come from.
enum class MeasureSource {
  kParticipationRecord,  // MEASURE_PARTICIPANTS: ParticipationRecord, the participation table
  kMeasureRecord,        // MeasureRecord, the measure_values table
  kDerived,              // computed from other measures; never reported or stored
};

// The largest VND amount one record may hold: 7 × 10^12 đồng (7 nghìn tỷ). A sum over every
// unit of the country and ten years of months then cannot wrap int64 (9.22 × 10^18):
// 7 × 10^12 × 10,980 units × 120 months = 9.22 × 10^18, and the country has 10,047 communes
// (the level sums run over) before the 2025 reform, 3,321 after. Sums are checked all the same.
inline constexpr int64_t kMaxVnd = 7'000'000'000'000;

struct MeasureInfo {
  v1::Measure measure;
  absl::string_view name;        // in files and flags: "new_participants"
  absl::string_view english;     // in tables: "new participants"
  absl::string_view vietnamese;  // in reports: "người tham gia mới"
  MeasureRule rule;
  MeasureUnit unit;
  MeasureDimensions dimensions;
  MeasureSource source;
  int64_t bound;  // the largest value one record may hold (0 for a derived measure)
  // Targets on the measure are ceilings: a lower value is the better one (arrears).
  bool lower_is_better;
  // A part of a whole, checked for each unit-month once a report is applied to what is stored:
  // the parts of one key never add up to more than the whole's value.
  //  - whole == MEASURE_UNSPECIFIED: not a part of anything;
  //  - parts_by_payer_group: the parts are the values with a payer group, summed, and the whole
  //    is `whole` with the same scheme and no payer group;
  //  - otherwise the part is the value itself and the whole is `whole` with the same scheme and
  //    payer group.
  v1::Measure whole;
  bool parts_by_payer_group;
  // For kRatio: the measures above and below the line.
  v1::Measure numerator;
  v1::Measure denominator;
};

// Every measure, in enum order.
absl::Span<const MeasureInfo> AllMeasures();
// The row of `measure`; nullptr for MEASURE_UNSPECIFIED or a value not in the table.
const MeasureInfo* FindMeasure(v1::Measure measure);
absl::StatusOr<v1::Measure> ParseMeasure(absl::string_view name);
std::string MeasureName(v1::Measure measure);  // "" for one not in the table

// The share a (measure, scheme) figure is re-expressed by across a boundary change
// (docs/measures.md, "Across the 2025 reform"): with a scheme, that scheme's denominator
// (population for health insurance, labour force otherwise), as participants; without one, the
// population for people (distinct participants) and the labour force for employers and VND
// (arrears and contributions due follow employment).
v1::DenominatorKind ReexpressionShare(const MeasureInfo& info, v1::Scheme scheme);

// The five groups of the Law on Health Insurance, in enum order.
inline constexpr std::array<v1::PayerGroup, 5> kPayerGroups = {
    v1::PAYER_GROUP_EMPLOYER_EMPLOYEE, v1::PAYER_GROUP_SOCIAL_INSURANCE_FUND,
    v1::PAYER_GROUP_STATE_BUDGET, v1::PAYER_GROUP_STATE_BUDGET_SUPPORTED,
    v1::PAYER_GROUP_HOUSEHOLD};
// "employer_employee", "social_insurance_fund", "state_budget", "state_budget_supported",
// "household"; "" for PAYER_GROUP_UNSPECIFIED (the total).
std::string PayerGroupName(v1::PayerGroup group);
// "" parses as PAYER_GROUP_UNSPECIFIED.
absl::StatusOr<v1::PayerGroup> ParsePayerGroup(absl::string_view name);

// Why (scheme, payer_group) are not keys a value of `info` can have; empty when they are.
// Returns the field at fault in `field` ("scheme" or "payer_group").
std::string MeasureKeyProblem(const MeasureInfo& info, v1::Scheme scheme, v1::PayerGroup group,
                              std::string* field);

// A MeasureRecord with its key and value (sample data and tests build them).
v1::MeasureRecord MakeMeasureRecord(const std::string& unit_code, const std::string& month,
                                    v1::Measure measure, int64_t value,
                                    v1::Scheme scheme = v1::SCHEME_UNSPECIFIED,
                                    v1::PayerGroup group = v1::PAYER_GROUP_UNSPECIFIED);

}  // namespace covtrack
