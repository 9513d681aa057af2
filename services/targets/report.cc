#include "services/targets/report.h"

#include <cmath>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/domain.h"
#include "common/period.h"
#include "common/text.h"
#include "services/targets/achievement.h"
#include "services/targets/vi_format.h"

namespace covtrack::targets {
namespace {

// The order schemes are written in: social insurance first, then unemployment, then health.
constexpr v1::Scheme kReportOrder[] = {v1::SCHEME_SOCIAL, v1::SCHEME_COMPULSORY_SOCIAL,
                                       v1::SCHEME_VOLUNTARY_SOCIAL, v1::SCHEME_UNEMPLOYMENT,
                                       v1::SCHEME_HEALTH};

std::string People(int64_t n) { return absl::StrCat(FormatCountVi(n), " người"); }

// Said once in a report any of whose figures, comparisons or targets were re-expressed in the
// reader's territory.
constexpr absl::string_view kNewBoundaries = "theo địa giới hành chính mới";
// How a target re-expressed from the predecessors' is named: the unit itself was given none.
constexpr absl::string_view kPredecessorsTarget = "chỉ tiêu giao cho các đơn vị trước sắp xếp: ";

bool Reexpressed(const v1::Reexpression& r) {
  return r.kind() == v1::REEXPRESSION_KIND_EXACT || r.kind() == v1::REEXPRESSION_KIND_ESTIMATED;
}

// A comparison that may be written as a change: a figure on both sides, of the same territory.
bool ComparableChange(const v1::Comparison& c) {
  return c.has_participants_change() && c.participants() > 0 && !c.territory_changed() &&
         c.reexpression().kind() != v1::REEXPRESSION_KIND_ABSENT;
}

// "đạt 104,7% kế hoạch (chỉ tiêu 11.136 người)" or "vượt 0,9% chỉ tiêu (chỉ tiêu 89,0%)",
// percentages to `decimals` decimals.
std::string TargetClause(const v1::SchemeAchievement& s, int decimals) {
  const v1::Target& t = s.target();
  const bool in_province = t.basis() == v1::TARGET_BASIS_IN_PROVINCE;
  const absl::string_view named = s.target_reexpressed() ? kPredecessorsTarget : "chỉ tiêu ";
  if (t.kind() == v1::TARGET_KIND_COVERAGE_PERCENT) {
    const std::string target = absl::StrCat(named, FormatPercentVi(t.value(), decimals),
                                            in_province ? " tham gia tại tỉnh" : "");
    // Points are written to the decimals asked for; a gap that rounds to zero at that precision
    // (0,0 at one decimal) is "đạt".
    const double scale = std::pow(10.0, decimals);
    const double points = std::round(s.points_vs_target() * scale) / scale;
    if (points > 0) {
      return absl::StrCat("vượt ", FormatPercentVi(points, decimals), " chỉ tiêu (", target, ")");
    }
    if (points < 0) {
      return absl::StrCat("thấp hơn chỉ tiêu ", FormatPercentVi(-points, decimals), " (", target,
                          ")");
    }
    return absl::StrCat("đạt chỉ tiêu (", target, ")");
  }
  return absl::StrCat("đạt ", FormatPercentVi(s.achievement_percent(), decimals), " kế hoạch (",
                      named, People(static_cast<int64_t>(std::llround(t.value()))),
                      in_province ? " tham gia tại tỉnh" : "", ")");
}

std::string SchemeClause(const v1::SchemeAchievement& s, int decimals) {
  const v1::SchemeCoverage& c = s.coverage();
  std::vector<std::string> parts;
  parts.push_back(
      absl::StrCat(People(c.participants()), " tham gia ", SchemeVietnamese(s.scheme())));
  const bool has_target = s.status() != v1::ACHIEVEMENT_STATUS_NO_TARGET && s.has_target();
  if (has_target && s.target().basis() == v1::TARGET_BASIS_IN_PROVINCE &&
      c.has_in_province_participants()) {
    parts.push_back(
        absl::StrCat("trong đó ", People(c.in_province_participants()), " tham gia tại tỉnh"));
  }
  if (c.has_coverage_percent()) {
    if (DenominatorFor(s.scheme()) == v1::DENOMINATOR_KIND_POPULATION) {
      parts.push_back(absl::StrCat("đạt tỷ lệ bao phủ ",
                                   FormatPercentVi(c.coverage_percent(), decimals), " dân số"));
    } else {
      parts.push_back(absl::StrCat("bằng ", FormatPercentVi(c.coverage_percent(), decimals),
                                   " lực lượng lao động trong độ tuổi"));
    }
  }
  const v1::Comparison& last_year = c.same_period_last_year();
  // A change is worth a clause only against a figure of the same territory: never where the
  // earlier period could not be re-expressed in it.
  if (ComparableChange(last_year)) {
    const int64_t change = last_year.participants_change();
    const std::string when = absl::StrCat("so với cùng kỳ năm ", last_year.period().substr(0, 4));
    if (change > 0) {
      parts.push_back(absl::StrCat("tăng ", People(change), " ", when));
    } else if (change < 0) {
      parts.push_back(absl::StrCat("giảm ", People(-change), " ", when));
    } else {
      parts.push_back(absl::StrCat("bằng ", when));
    }
  }
  if (has_target && s.status() != v1::ACHIEVEMENT_STATUS_NO_DATA) {
    parts.push_back(TargetClause(s, decimals));
  }
  return absl::StrJoin(parts, ", ");
}

}  // namespace

std::string UnitNameInSentence(const std::string& name) {
  if (name.empty()) {
    return name;
  }
  // "Đ" (U+0110, C4 90) -> "đ" (U+0111, C4 91); ASCII capitals as usual. Other initials of
  // unit types ("Thành phố", "Huyện", "Quận", "Xã", "Phường", "Thị xã") are ASCII.
  if (name.size() >= 2 && static_cast<unsigned char>(name[0]) == 0xC4 &&
      static_cast<unsigned char>(name[1]) == 0x90) {
    return absl::StrCat("\xC4\x91", name.substr(2));
  }
  std::string out = name;
  if (out[0] >= 'A' && out[0] <= 'Z') {
    out[0] = static_cast<char>(out[0] - 'A' + 'a');
  }
  return out;
}

std::string WriteReportVi(const v1::Achievement& achievement, int percent_decimals) {
  // The name comes from another service: cut to a name's bound, so that the report stays a
  // few hundred bytes whatever it was given.
  const std::string unit =
      achievement.unit().name().empty()
          ? CutText(achievement.unit().code(), kMaxUnitCodeLength)
          : UnitNameInSentence(CutText(achievement.unit().name(), kMaxNameBytes));
  absl::StatusOr<Month> as_of = Month::Parse(achievement.as_of_month());
  std::map<v1::Scheme, const v1::SchemeAchievement*> by_scheme;
  for (const v1::SchemeAchievement& s : achievement.schemes()) {
    if (HasFigure(s.coverage())) {
      by_scheme[s.scheme()] = &s;
    }
  }
  // BHXH as a whole has a figure only where both of its parts do (aggregation_service.proto), so
  // a report never states it from one part.
  std::vector<std::string> clauses;
  bool reexpressed = false;
  for (v1::Scheme scheme : kReportOrder) {
    if (auto it = by_scheme.find(scheme); it != by_scheme.end()) {
      const v1::SchemeAchievement& s = *it->second;
      clauses.push_back(SchemeClause(s, percent_decimals));
      // What the clause used: the figure, the change against last year, the target.
      const v1::Comparison& last_year = s.coverage().same_period_last_year();
      reexpressed = reexpressed || Reexpressed(s.coverage().reexpression()) ||
                    (ComparableChange(last_year) && Reexpressed(last_year.reexpression())) ||
                    (s.target_reexpressed() && s.status() != v1::ACHIEVEMENT_STATUS_NO_TARGET &&
                     s.status() != v1::ACHIEVEMENT_STATUS_NO_DATA);
    }
  }
  if (!as_of.ok() || clauses.empty()) {
    return absl::StrCat("Kỳ ", achievement.period(), ", ", unit, " chưa có số liệu.");
  }
  return absl::StrCat("Tính đến ", FormatMonthEndVi(*as_of), ", ", unit,
                      reexpressed ? absl::StrCat(" (", kNewBoundaries, ")") : "", " có ",
                      absl::StrJoin(clauses, "; "), ".");
}

}  // namespace covtrack::targets
