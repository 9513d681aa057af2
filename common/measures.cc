#include "common/measures.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "common/text.h"

namespace covtrack {
namespace {

using v1::Measure;

constexpr MeasureInfo kMeasures[] = {
    {v1::MEASURE_PARTICIPANTS, "participants", "participants", "người tham gia", MeasureRule::kLast,
     MeasureUnit::kPeople, MeasureDimensions::kScheme, MeasureSource::kParticipationRecord,
     kMaxPeople, false, v1::MEASURE_UNSPECIFIED, false, v1::MEASURE_UNSPECIFIED,
     v1::MEASURE_UNSPECIFIED},
    {v1::MEASURE_DISTINCT_PARTICIPANTS, "distinct_participants", "distinct participants",
     "người tham gia BHXH, BHYT, BHTN", MeasureRule::kLast, MeasureUnit::kPeople,
     MeasureDimensions::kNone, MeasureSource::kMeasureRecord, kMaxPeople, false,
     v1::MEASURE_UNSPECIFIED, false, v1::MEASURE_UNSPECIFIED, v1::MEASURE_UNSPECIFIED},
    {v1::MEASURE_NEW_PARTICIPANTS, "new_participants", "new participants", "người tham gia mới",
     MeasureRule::kSum, MeasureUnit::kPeople, MeasureDimensions::kSchemeAndPayer,
     MeasureSource::kMeasureRecord, kMaxPeople, false, v1::MEASURE_NEW_PARTICIPANTS, true,
     v1::MEASURE_UNSPECIFIED, v1::MEASURE_UNSPECIFIED},
    {v1::MEASURE_LOST_PARTICIPANTS, "lost_participants", "lost participants", "người giảm",
     MeasureRule::kSum, MeasureUnit::kPeople, MeasureDimensions::kSchemeAndPayer,
     MeasureSource::kMeasureRecord, kMaxPeople, true, v1::MEASURE_LOST_PARTICIPANTS, true,
     v1::MEASURE_UNSPECIFIED, v1::MEASURE_UNSPECIFIED},
    {v1::MEASURE_HEALTH_BY_PAYER, "health_by_payer", "health insurance participants by payer",
     "người tham gia BHYT theo nhóm đối tượng", MeasureRule::kLast, MeasureUnit::kPeople,
     MeasureDimensions::kHealthPayerGroup, MeasureSource::kMeasureRecord, kMaxPeople, false,
     v1::MEASURE_PARTICIPANTS, true, v1::MEASURE_UNSPECIFIED, v1::MEASURE_UNSPECIFIED},
    {v1::MEASURE_ARREARS_OWED_VND, "arrears_owed_vnd", "arrears owed (VND)", "số tiền nợ đóng",
     MeasureRule::kLast, MeasureUnit::kVnd, MeasureDimensions::kNone, MeasureSource::kMeasureRecord,
     kMaxVnd, true, v1::MEASURE_UNSPECIFIED, false, v1::MEASURE_UNSPECIFIED,
     v1::MEASURE_UNSPECIFIED},
    {v1::MEASURE_ARREARS_OVERDUE_3M_VND, "arrears_overdue_3m_vnd",
     "arrears overdue 3 months or more (VND)", "số tiền nợ từ 3 tháng trở lên", MeasureRule::kLast,
     MeasureUnit::kVnd, MeasureDimensions::kNone, MeasureSource::kMeasureRecord, kMaxVnd, true,
     v1::MEASURE_ARREARS_OWED_VND, false, v1::MEASURE_UNSPECIFIED, v1::MEASURE_UNSPECIFIED},
    {v1::MEASURE_EMPLOYERS_OWING, "employers_owing", "employers owing", "số đơn vị nợ",
     MeasureRule::kLast, MeasureUnit::kEmployers, MeasureDimensions::kNone,
     MeasureSource::kMeasureRecord, kMaxPeople, true, v1::MEASURE_UNSPECIFIED, false,
     v1::MEASURE_UNSPECIFIED, v1::MEASURE_UNSPECIFIED},
    {v1::MEASURE_CONTRIBUTIONS_DUE_VND, "contributions_due_vnd", "contributions due (VND)",
     "số phải thu", MeasureRule::kSum, MeasureUnit::kVnd, MeasureDimensions::kNone,
     MeasureSource::kMeasureRecord, kMaxVnd, false, v1::MEASURE_UNSPECIFIED, false,
     v1::MEASURE_UNSPECIFIED, v1::MEASURE_UNSPECIFIED},
    {v1::MEASURE_ARREARS_RATIO, "arrears_ratio", "arrears ratio (%)", "tỷ lệ nợ",
     MeasureRule::kRatio, MeasureUnit::kPercent, MeasureDimensions::kNone, MeasureSource::kDerived,
     0, true, v1::MEASURE_UNSPECIFIED, false, v1::MEASURE_ARREARS_OWED_VND,
     v1::MEASURE_CONTRIBUTIONS_DUE_VND},
};

constexpr std::array<absl::string_view, 6> kPayerGroupNames = {"",
                                                               "employer_employee",
                                                               "social_insurance_fund",
                                                               "state_budget",
                                                               "state_budget_supported",
                                                               "household"};

}  // namespace

absl::Span<const MeasureInfo> AllMeasures() { return kMeasures; }

const MeasureInfo* FindMeasure(v1::Measure measure) {
  for (const MeasureInfo& info : kMeasures) {
    if (info.measure == measure) {
      return &info;
    }
  }
  return nullptr;
}

absl::StatusOr<v1::Measure> ParseMeasure(absl::string_view name) {
  for (const MeasureInfo& info : kMeasures) {
    if (info.name == name) {
      return info.measure;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown measure ", QuoteInput(name)));
}

v1::DenominatorKind ReexpressionShare(const MeasureInfo& info, v1::Scheme scheme) {
  if (scheme != v1::SCHEME_UNSPECIFIED) {
    return DenominatorFor(scheme);
  }
  return info.unit == MeasureUnit::kPeople ? v1::DENOMINATOR_KIND_POPULATION
                                           : v1::DENOMINATOR_KIND_LABOR_FORCE;
}

std::string MeasureName(v1::Measure measure) {
  const MeasureInfo* info = FindMeasure(measure);
  return info == nullptr ? "" : std::string(info->name);
}

v1::MeasureRecord MakeMeasureRecord(const std::string& unit_code, const std::string& month,
                                    v1::Measure measure, int64_t value, v1::Scheme scheme,
                                    v1::PayerGroup group) {
  v1::MeasureRecord m;
  m.set_unit_code(unit_code);
  m.set_month(month);
  m.set_measure(measure);
  m.set_scheme(scheme);
  m.set_payer_group(group);
  m.set_value(value);
  return m;
}

std::string PayerGroupName(v1::PayerGroup group) {
  const int index = static_cast<int>(group);
  return index >= 0 && index < static_cast<int>(kPayerGroupNames.size())
             ? std::string(kPayerGroupNames[index])
             : "";
}

absl::StatusOr<v1::PayerGroup> ParsePayerGroup(absl::string_view name) {
  for (size_t i = 0; i < kPayerGroupNames.size(); ++i) {
    if (kPayerGroupNames[i] == name) {
      return static_cast<v1::PayerGroup>(i);
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown payer group ", QuoteInput(name)));
}

std::string MeasureKeyProblem(const MeasureInfo& info, v1::Scheme scheme, v1::PayerGroup group,
                              std::string* field) {
  const bool known_group = group == v1::PAYER_GROUP_UNSPECIFIED || !PayerGroupName(group).empty();
  *field = "scheme";
  switch (info.dimensions) {
    case MeasureDimensions::kNone:
      if (scheme != v1::SCHEME_UNSPECIFIED) {
        return absl::StrCat(info.name, " has no scheme: leave it unset");
      }
      break;
    case MeasureDimensions::kScheme:
    case MeasureDimensions::kSchemeAndPayer:
      if (!IsReportedScheme(scheme)) {
        return absl::StrCat(info.name, " is reported per scheme: one of the four reported schemes");
      }
      break;
    case MeasureDimensions::kHealthPayerGroup:
      if (scheme != v1::SCHEME_HEALTH) {
        return absl::StrCat(info.name, " is health insurance's: the scheme must be SCHEME_HEALTH");
      }
      *field = "payer_group";
      if (group == v1::PAYER_GROUP_UNSPECIFIED || !known_group) {
        return absl::StrCat(info.name, " needs one of the five payer groups");
      }
      return "";
  }
  *field = "payer_group";
  if (group == v1::PAYER_GROUP_UNSPECIFIED) {
    return "";
  }
  if (!known_group) {
    return absl::StrCat("not a payer group (got ", static_cast<int>(group), ")");
  }
  if (info.dimensions != MeasureDimensions::kSchemeAndPayer) {
    return absl::StrCat(info.name, " has no payer groups");
  }
  if (scheme != v1::SCHEME_HEALTH) {
    return "payer groups are health insurance's: only with SCHEME_HEALTH";
  }
  return "";
}

}  // namespace covtrack
