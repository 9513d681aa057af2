#include "services/targets/report.h"

#include <cmath>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/domain.h"
#include "common/measures.h"
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

const v1::MeasureValue* FindMeasureValue(const v1::MeasureSummary* summary, v1::Measure measure,
                                         v1::Scheme scheme) {
  if (summary == nullptr) {
    return nullptr;
  }
  for (const v1::MeasureValue& v : summary->values()) {
    if (v.measure() == measure && v.scheme() == scheme &&
        v.payer_group() == v1::PAYER_GROUP_UNSPECIFIED && (v.has_value() || v.has_percent())) {
      return &v;
    }
  }
  return nullptr;
}

// The target on (measure, scheme) that was compared (status neither NO_TARGET nor NO_DATA).
const v1::MeasureAchievement* FindMeasureTarget(const v1::Achievement& achievement,
                                                v1::Measure measure, v1::Scheme scheme) {
  for (const v1::MeasureAchievement& m : achievement.measures()) {
    if (m.measure() == measure && m.scheme() == scheme &&
        m.payer_group() == v1::PAYER_GROUP_UNSPECIFIED &&
        m.status() != v1::ACHIEVEMENT_STATUS_NO_DATA && m.has_percent_of_target()) {
      return &m;
    }
  }
  return nullptr;
}

// "đạt 101,2% kế hoạch (chỉ tiêu 250.000 người)": a floor of people.
std::string PeopleTargetClause(const v1::MeasureAchievement& m, int decimals) {
  return absl::StrCat("đạt ", FormatPercentVi(m.percent_of_target(), decimals), " kế hoạch (",
                      m.target_reexpressed() ? kPredecessorsTarget : "chỉ tiêu ",
                      People(static_cast<int64_t>(std::llround(m.target().value()))), ")");
}

// "Trong năm 2023", "Trong tháng 8/2023", "Từ tháng 1 đến tháng 6/2023".
std::string PeriodPhrase(const Period& period) {
  if (period.kind() == Period::Kind::kYear) {
    return absl::StrCat("Trong năm ", period.year());
  }
  const Month first = period.first_month();
  const Month last = period.last_month();
  if (first == last) {
    return absl::StrCat("Trong tháng ", last.month, "/", last.year);
  }
  return absl::StrCat("Từ tháng ", first.month, " đến tháng ", last.month, "/", last.year);
}

// "phát triển mới 12.400 người tham gia BHYT, tăng 1.100 người so với cùng kỳ năm 2022": the
// period's sum, compared when the same period a year earlier had a figure. Its target is
// written only for a period from January, whose sum is the year to date it was compared on.
std::string NewParticipantsClause(const v1::Achievement& achievement, const v1::MeasureValue& v,
                                  bool from_january, int decimals) {
  std::vector<std::string> parts;
  parts.push_back(absl::StrCat("phát triển mới ", People(v.value()), " tham gia ",
                               SchemeVietnamese(v.scheme())));
  const v1::MeasureComparison& before = v.same_period_last_year();
  if (before.has_value() && before.has_value_change()) {
    const int64_t change = before.value_change();
    const std::string when = absl::StrCat("so với cùng kỳ năm ", before.period().substr(0, 4));
    if (change > 0) {
      parts.push_back(absl::StrCat("tăng ", People(change), " ", when));
    } else if (change < 0) {
      parts.push_back(absl::StrCat("giảm ", People(-change), " ", when));
    } else {
      parts.push_back(absl::StrCat("bằng ", when));
    }
  }
  if (const v1::MeasureAchievement* target =
          FindMeasureTarget(achievement, v1::MEASURE_NEW_PARTICIPANTS, v.scheme());
      target != nullptr && from_january) {
    parts.push_back(PeopleTargetClause(*target, decimals));
  }
  return absl::StrJoin(parts, ", ");
}

// "tỷ lệ nợ 1,8%, dưới mức trần 2,1%": the period's ratio against the ceiling, compared at the
// decimals written (a gap that rounds to zero is "bằng mức trần").
std::string ArrearsClause(const v1::Achievement& achievement, const v1::MeasureValue& v,
                          int decimals) {
  const MeasureInfo* info = FindMeasure(v1::MEASURE_ARREARS_RATIO);
  std::string clause = absl::StrCat(info->vietnamese, " ", FormatPercentVi(v.percent(), decimals));
  for (const v1::MeasureAchievement& m : achievement.measures()) {
    if (m.measure() != v1::MEASURE_ARREARS_RATIO) {
      continue;
    }
    const double ceiling = m.target().value();
    const double scale = std::pow(10.0, decimals);
    const double points =
        std::round(v.percent() * scale) / scale - std::round(ceiling * scale) / scale;
    const absl::string_view where =
        points < 0 ? "dưới mức trần " : (points > 0 ? "vượt mức trần " : "bằng mức trần ");
    absl::StrAppend(&clause, ", ", where, FormatPercentVi(ceiling, decimals),
                    m.target_reexpressed()
                        ? absl::StrCat(" (", absl::StripSuffix(kPredecessorsTarget, ": "), ")")
                        : "");
    break;
  }
  return clause;
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

std::string WriteReportVi(const v1::Achievement& achievement, int percent_decimals,
                          const v1::MeasureSummary* measures) {
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
  // Số người tham gia BHXH, BHYT, BHTN first, as the reviews open.
  if (const v1::MeasureValue* distinct =
          FindMeasureValue(measures, v1::MEASURE_DISTINCT_PARTICIPANTS, v1::SCHEME_UNSPECIFIED);
      distinct != nullptr && distinct->has_value()) {
    std::string clause = absl::StrCat(FormatCountVi(distinct->value()), " ",
                                      FindMeasure(v1::MEASURE_DISTINCT_PARTICIPANTS)->vietnamese);
    if (const v1::MeasureAchievement* target = FindMeasureTarget(
            achievement, v1::MEASURE_DISTINCT_PARTICIPANTS, v1::SCHEME_UNSPECIFIED);
        target != nullptr) {
      absl::StrAppend(&clause, ", ", PeopleTargetClause(*target, percent_decimals));
    }
    clauses.push_back(std::move(clause));
  }
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
  // The measures written (only those asked are in `measures`) and their targets: in the
  // reader's territory as the schemes are.
  if (measures != nullptr) {
    for (const v1::MeasureValue& v : measures->values()) {
      reexpressed = reexpressed || Reexpressed(v.reexpression());
    }
  }
  for (const v1::MeasureAchievement& m : achievement.measures()) {
    reexpressed =
        reexpressed || (m.target_reexpressed() && m.status() != v1::ACHIEVEMENT_STATUS_NO_TARGET &&
                        m.status() != v1::ACHIEVEMENT_STATUS_NO_DATA);
  }
  // The period's flows and the arrears ratio, in a sentence of their own.
  std::vector<std::string> period_clauses;
  absl::StatusOr<Period> period = Period::Parse(achievement.period());
  if (period.ok()) {
    const bool from_january = period->first_month().month == 1;
    for (v1::Scheme scheme : kReportOrder) {
      if (const v1::MeasureValue* v =
              FindMeasureValue(measures, v1::MEASURE_NEW_PARTICIPANTS, scheme);
          v != nullptr && v->has_value()) {
        period_clauses.push_back(
            NewParticipantsClause(achievement, *v, from_january, percent_decimals));
      }
    }
    if (const v1::MeasureValue* v =
            FindMeasureValue(measures, v1::MEASURE_ARREARS_RATIO, v1::SCHEME_UNSPECIFIED);
        v != nullptr && v->has_percent()) {
      period_clauses.push_back(ArrearsClause(achievement, *v, percent_decimals));
    }
  }
  const std::string period_sentence = period_clauses.empty()
                                          ? ""
                                          : absl::StrCat(" ", PeriodPhrase(*period), ", ",
                                                         absl::StrJoin(period_clauses, "; "), ".");
  if (!as_of.ok() || clauses.empty()) {
    return absl::StrCat("Kỳ ", achievement.period(), ", ", unit, " chưa có số liệu.",
                        period_sentence);
  }
  return absl::StrCat("Tính đến ", FormatMonthEndVi(*as_of), ", ", unit,
                      reexpressed ? absl::StrCat(" (", kNewBoundaries, ")") : "", " có ",
                      absl::StrJoin(clauses, "; "), ".", period_sentence);
}

}  // namespace covtrack::targets
