#pragma once

// The paragraph a BHXH office writes in its year-end or mid-year review, from an Achievement:
// participants per scheme, the coverage rate, the change against the same period last year and
// the achievement against each target, in Vietnamese with Vietnamese number formatting.

#include <string>

#include "covtrack/v1/target_service.pb.h"

namespace covtrack::targets {

// Decimals of the percentages a report writes unless its caller asks otherwise
// (GetReportRequest.percent_decimals), and the most it may ask for.
inline constexpr int kDefaultPercentDecimals = 1;
inline constexpr int kMaxPercentDecimals = 3;

std::string WriteReportVi(const v1::Achievement& achievement,
                          int percent_decimals = kDefaultPercentDecimals);

// How a report names a unit inside a sentence: "Thành phố Mỹ Tho" -> "thành phố Mỹ Tho".
std::string UnitNameInSentence(const std::string& name);

}  // namespace covtrack::targets
