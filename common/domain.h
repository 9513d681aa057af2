#pragma once

// Names of the domain's enums as people and files write them, and the rules that tie them
// together (which denominator a scheme is measured against).

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "covtrack/v1/common.pb.h"

namespace covtrack {

// The four schemes that are reported; SCHEME_SOCIAL is derived from the first two.
inline constexpr std::array<v1::Scheme, 4> kReportedSchemes = {
    v1::SCHEME_COMPULSORY_SOCIAL, v1::SCHEME_VOLUNTARY_SOCIAL, v1::SCHEME_HEALTH,
    v1::SCHEME_UNEMPLOYMENT};
inline constexpr std::array<v1::Scheme, 5> kAllSchemes = {
    v1::SCHEME_COMPULSORY_SOCIAL, v1::SCHEME_VOLUNTARY_SOCIAL, v1::SCHEME_HEALTH,
    v1::SCHEME_UNEMPLOYMENT, v1::SCHEME_SOCIAL};

// The code of the nation, the root of every hierarchy.
inline constexpr absl::string_view kNationCode = "VN";
// The longest unit code accepted anywhere (GSO codes have 2, 3 or 5 digits; room for others).
inline constexpr size_t kMaxUnitCodeLength = 16;

// The largest count or denominator any unit can hold: people in Vietnam are about 101 million;
// 200 million leaves room for growth and for units outside the country's count. Every sum of such
// figures over units and months still fits int64 many times over, and is checked all the same.
inline constexpr int64_t kMaxPeople = 200'000'000;

bool IsReportedScheme(v1::Scheme scheme);

// Health insurance is measured against population, every other scheme against the labour force.
v1::DenominatorKind DenominatorFor(v1::Scheme scheme);

// "compulsory_social", "voluntary_social", "health", "unemployment", "social".
std::string SchemeName(v1::Scheme scheme);
absl::StatusOr<v1::Scheme> ParseScheme(absl::string_view name);
// The Vietnamese abbreviation used in reports: "BHXH bắt buộc", "BHYT", ...
std::string SchemeVietnamese(v1::Scheme scheme);

// "nation", "province", "district", "commune".
std::string LevelName(v1::AdminLevel level);
absl::StatusOr<v1::AdminLevel> ParseLevel(absl::string_view name);

// "population", "labor_force".
std::string DenominatorKindName(v1::DenominatorKind kind);
absl::StatusOr<v1::DenominatorKind> ParseDenominatorKind(absl::string_view name);

}  // namespace covtrack
