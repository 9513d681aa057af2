#include "common/domain.h"

#include "absl/strings/str_cat.h"

namespace covtrack {

bool IsReportedScheme(v1::Scheme scheme) {
  for (v1::Scheme s : kReportedSchemes) {
    if (s == scheme) {
      return true;
    }
  }
  return false;
}

v1::DenominatorKind DenominatorFor(v1::Scheme scheme) {
  return scheme == v1::SCHEME_HEALTH ? v1::DENOMINATOR_KIND_POPULATION
                                     : v1::DENOMINATOR_KIND_LABOR_FORCE;
}

std::string SchemeName(v1::Scheme scheme) {
  switch (scheme) {
    case v1::SCHEME_COMPULSORY_SOCIAL:
      return "compulsory_social";
    case v1::SCHEME_VOLUNTARY_SOCIAL:
      return "voluntary_social";
    case v1::SCHEME_HEALTH:
      return "health";
    case v1::SCHEME_UNEMPLOYMENT:
      return "unemployment";
    case v1::SCHEME_SOCIAL:
      return "social";
    default:
      return "unspecified";
  }
}

absl::StatusOr<v1::Scheme> ParseScheme(absl::string_view name) {
  for (v1::Scheme s : kAllSchemes) {
    if (name == SchemeName(s)) {
      return s;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown scheme \"", name,
                   "\": want compulsory_social, voluntary_social, health, unemployment or social"));
}

std::string SchemeVietnamese(v1::Scheme scheme) {
  switch (scheme) {
    case v1::SCHEME_COMPULSORY_SOCIAL:
      return "BHXH bắt buộc";
    case v1::SCHEME_VOLUNTARY_SOCIAL:
      return "BHXH tự nguyện";
    case v1::SCHEME_HEALTH:
      return "BHYT";
    case v1::SCHEME_UNEMPLOYMENT:
      return "BHTN";
    case v1::SCHEME_SOCIAL:
      return "BHXH";
    default:
      return "?";
  }
}

std::string LevelName(v1::AdminLevel level) {
  switch (level) {
    case v1::ADMIN_LEVEL_NATION:
      return "nation";
    case v1::ADMIN_LEVEL_PROVINCE:
      return "province";
    case v1::ADMIN_LEVEL_DISTRICT:
      return "district";
    case v1::ADMIN_LEVEL_COMMUNE:
      return "commune";
    default:
      return "unspecified";
  }
}

absl::StatusOr<v1::AdminLevel> ParseLevel(absl::string_view name) {
  for (v1::AdminLevel l : {v1::ADMIN_LEVEL_NATION, v1::ADMIN_LEVEL_PROVINCE,
                           v1::ADMIN_LEVEL_DISTRICT, v1::ADMIN_LEVEL_COMMUNE}) {
    if (name == LevelName(l)) {
      return l;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown level \"", name, "\": want nation, province, district or commune"));
}

std::string DenominatorKindName(v1::DenominatorKind kind) {
  switch (kind) {
    case v1::DENOMINATOR_KIND_POPULATION:
      return "population";
    case v1::DENOMINATOR_KIND_LABOR_FORCE:
      return "labor_force";
    default:
      return "unspecified";
  }
}

absl::StatusOr<v1::DenominatorKind> ParseDenominatorKind(absl::string_view name) {
  if (name == "population") {
    return v1::DENOMINATOR_KIND_POPULATION;
  }
  if (name == "labor_force") {
    return v1::DENOMINATOR_KIND_LABOR_FORCE;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown denominator kind \"", name, "\": want population or labor_force"));
}

}  // namespace covtrack
