#include "services/targets/vi_format.h"

#include <cmath>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace covtrack::targets {
namespace {

// Groups the digits of a non-negative integer in threes with dots.
std::string GroupThousands(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    // A dot before every digit that has a multiple of three digits after it and before it.
    if (i != 0 && (digits.size() - i) % 3 == 0) {
      out.push_back('.');
    }
    out.push_back(digits[i]);
  }
  return out;
}

}  // namespace

std::string FormatCountVi(int64_t n) {
  if (n < 0) {
    // Negate in unsigned arithmetic so that INT64_MIN does not overflow.
    return absl::StrCat("-", GroupThousands(0 - static_cast<uint64_t>(n)));
  }
  return GroupThousands(static_cast<uint64_t>(n));
}

std::string FormatDecimalVi(double value, int digits) {
  if (digits < 0) {
    digits = 0;
  }
  uint64_t scale = 1;
  for (int i = 0; i < digits; ++i) {
    scale *= 10;
  }
  // std::llround rounds half away from zero; scaling first keeps it to `digits` decimals.
  const long long scaled = std::llround(value * static_cast<double>(scale));
  const bool negative = scaled < 0;
  const uint64_t magnitude = negative ? 0 - static_cast<uint64_t>(scaled) : scaled;
  std::string out = negative ? "-" : "";
  absl::StrAppend(&out, GroupThousands(magnitude / scale));
  if (digits > 0) {
    std::string fraction = std::to_string(magnitude % scale);
    out.push_back(',');
    out.append(static_cast<size_t>(digits) - fraction.size(), '0');
    out.append(fraction);
  }
  return out;
}

std::string FormatPercentVi(double value, int digits) {
  return absl::StrCat(FormatDecimalVi(value, digits), "%");
}

std::string FormatMonthEndVi(Month month) {
  // Month::LastDay() is "YYYY-MM-DD".
  std::vector<std::string> parts = absl::StrSplit(month.LastDay(), '-');
  return absl::StrCat(parts[2], "/", parts[1], "/", parts[0]);
}

}  // namespace covtrack::targets
