#pragma once

// The paragraph a BHXH office writes in its year-end or mid-year review, from an Achievement:
// participants per scheme, the coverage rate, the change against the same period last year and
// the achievement against each target, in Vietnamese with Vietnamese number formatting.

#include <string>

#include "covtrack/v1/aggregation_service.pb.h"
#include "covtrack/v1/target_service.pb.h"

namespace covtrack::targets {

// Decimals of the percentages a report writes unless its caller asks otherwise
// (GetReportRequest.percent_decimals), and the most it may ask for.
inline constexpr int kDefaultPercentDecimals = 1;
inline constexpr int kMaxPercentDecimals = 3;

// `measures`: the period's measures (aggregation GetMeasures, with DISTINCT_PARTICIPANTS,
// NEW_PARTICIPANTS and ARREARS_RATIO), or nullptr. What they carry is written where reported,
// never as 0: the distinct participants first, before the schemes ("có 250.000 người tham gia
// BHXH, BHYT, BHTN; ..."); then, in a sentence of the period, each scheme's new participants
// against the same period a year earlier and the arrears ratio against its ceiling (the
// targets from achievement.measures).
std::string WriteReportVi(const v1::Achievement& achievement,
                          int percent_decimals = kDefaultPercentDecimals,
                          const v1::MeasureSummary* measures = nullptr);

// How a report names a unit inside a sentence: "Thành phố Mỹ Tho" -> "thành phố Mỹ Tho".
std::string UnitNameInSentence(const std::string& name);

}  // namespace covtrack::targets
