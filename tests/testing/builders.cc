#include "tests/testing/builders.h"

namespace covtrack::testing {

v1::AdminUnit Unit(const std::string& code, v1::AdminLevel level, const std::string& parent,
                   const std::string& valid_from, const std::string& valid_to,
                   const std::string& name) {
  v1::AdminUnit u;
  u.set_code(code);
  u.set_name(name.empty() ? "Unit " + code : name);
  u.set_level(level);
  u.set_type(level == v1::ADMIN_LEVEL_PROVINCE   ? "Tỉnh"
             : level == v1::ADMIN_LEVEL_DISTRICT ? "Huyện"
                                                 : "Xã");
  u.set_parent_code(parent);
  u.set_valid_from(valid_from);
  u.set_valid_to(valid_to);
  return u;
}

v1::ParticipationRecord Record(const std::string& unit, const std::string& month, v1::Scheme scheme,
                               int64_t participants, std::optional<int64_t> in_province) {
  v1::ParticipationRecord r;
  r.set_unit_code(unit);
  r.set_month(month);
  r.set_scheme(scheme);
  r.set_participants(participants);
  if (in_province.has_value()) {
    r.set_in_province_participants(*in_province);
  }
  return r;
}

v1::DenominatorRecord Denominator(const std::string& unit, int year, v1::DenominatorKind kind,
                                  int64_t value) {
  v1::DenominatorRecord d;
  d.set_unit_code(unit);
  d.set_year(year);
  d.set_kind(kind);
  d.set_value(value);
  return d;
}

}  // namespace covtrack::testing
