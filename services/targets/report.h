#pragma once

// The paragraph a BHXH office writes in its year-end or mid-year review, from an Achievement:
// participants per scheme, the coverage rate, the change against the same period last year and
// the achievement against each target, in Vietnamese with Vietnamese number formatting.

#include <string>

#include "covtrack/v1/target_service.pb.h"

namespace covtrack::targets {

std::string WriteReportVi(const v1::Achievement& achievement);

// How a report names a unit inside a sentence: "Thành phố Mỹ Tho" -> "thành phố Mỹ Tho".
std::string UnitNameInSentence(const std::string& name);

}  // namespace covtrack::targets
