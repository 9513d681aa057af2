#pragma once

// Small builders of API messages for tests: no servers, no store.

#include <cstdint>
#include <optional>
#include <string>

#include "covtrack/v1/common.pb.h"

namespace covtrack::testing {

v1::AdminUnit Unit(const std::string& code, v1::AdminLevel level, const std::string& parent,
                   const std::string& valid_from = "", const std::string& valid_to = "",
                   const std::string& name = "");
v1::ParticipationRecord Record(const std::string& unit, const std::string& month, v1::Scheme scheme,
                               int64_t participants,
                               std::optional<int64_t> in_province = std::nullopt);
v1::DenominatorRecord Denominator(const std::string& unit, int year, v1::DenominatorKind kind,
                                  int64_t value);

}  // namespace covtrack::testing
