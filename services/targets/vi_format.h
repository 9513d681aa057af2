#pragma once

// Numbers written the Vietnamese way (DOMAIN.md "Writing numbers the Vietnamese way"): thousands
// grouped with a dot, decimals after a comma: 207.717 người, 89,9%. The API carries plain
// numbers; only reports use these.

#include <cstdint>
#include <string>

#include "common/period.h"

namespace covtrack::targets {

// 207717 -> "207.717"; -1234 -> "-1.234".
std::string FormatCountVi(int64_t n);

// Rounded half away from zero to `digits` decimals: (89.93, 1) -> "89,9";
// (1234.5, 1) -> "1.234,5"; (-0.04, 1) -> "0,0" (no sign on a value that rounds to zero).
std::string FormatDecimalVi(double value, int digits);

// FormatDecimalVi + "%": (104.717, 1) -> "104,7%".
std::string FormatPercentVi(double value, int digits = 1);

// The last day of a month as a report writes it: 2023-12 -> "31/12/2023".
std::string FormatMonthEndVi(Month month);

}  // namespace covtrack::targets
