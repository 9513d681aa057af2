#include "services/targets/request_validation.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/domain.h"
#include "common/measures.h"
#include "common/period.h"
#include "common/status/status.h"
#include "common/text.h"
#include "services/targets/report.h"

namespace covtrack::targets {
namespace {

constexpr int kMinYear = 2000;
constexpr int kMaxYear = 2100;
// "YYYY-MM-DD"; a period is at most "YYYY-H1" or "YYYY-MM".
constexpr size_t kMaxDateBytes = 10;
constexpr size_t kMaxPeriodBytes = 7;
// A page token names a key of a few short parts and a fingerprint (common/paging); tokens the
// service makes are under 200 bytes.
constexpr size_t kMaxPageTokenBytes = 512;

absl::Status ValidatePageToken(const std::string& token) {
  return CheckText("page_token", token, kMaxPageTokenBytes);
}

// The kind, basis and value of a participants target (the basis UNSPECIFIED becomes ALL).
absl::Status ValidateParticipantsTarget(v1::Target& t) {
  if (t.payer_group() != v1::PAYER_GROUP_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        "target.payer_group is not allowed for a participants target (a payer group's "
        "participants are target.measure MEASURE_HEALTH_BY_PAYER)");
  }
  if (!v1::TargetKind_IsValid(t.kind()) || t.kind() == v1::TARGET_KIND_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        "target.kind is required: TARGET_KIND_PARTICIPANTS or TARGET_KIND_COVERAGE_PERCENT");
  }
  if (!v1::TargetBasis_IsValid(t.basis())) {
    return absl::InvalidArgumentError(
        absl::StrCat("target.basis is not a known basis: ", static_cast<int>(t.basis())));
  }
  if (t.basis() == v1::TARGET_BASIS_UNSPECIFIED) {
    t.set_basis(v1::TARGET_BASIS_ALL_PARTICIPANTS);
  }
  const double v = t.value();
  if (!std::isfinite(v) || v < 0) {
    return absl::InvalidArgumentError(absl::StrCat("target.value must be a number >= 0, got ", v));
  }
  if (t.kind() == v1::TARGET_KIND_COVERAGE_PERCENT && v > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("target.value of a coverage target is a percentage, 0–100, got ", v));
  }
  if (t.kind() == v1::TARGET_KIND_PARTICIPANTS &&
      (v > kMaxParticipantsTarget || v != std::floor(v))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "target.value of a participants target is a whole number of people, 0–1e9, got ", v));
  }
  return absl::OkStatus();
}

// A target on another measure: its keys as the registry allows them (common/measures.h), no
// kind or basis (the value is in the measure's unit), and a value within that unit's bounds.
absl::Status ValidateMeasureTarget(const MeasureInfo& info, const v1::Target& t) {
  std::string field;
  if (const std::string problem = MeasureKeyProblem(info, t.scheme(), t.payer_group(), &field);
      !problem.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("target.", field, ": ", problem));
  }
  if (t.kind() != v1::TARGET_KIND_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        absl::StrCat("target.kind must be unset for a target on ", info.name,
                     ": its value is in the measure's unit (kinds are participants targets')"));
  }
  if (t.basis() != v1::TARGET_BASIS_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat("target.basis must be unset for a target on ",
                                                   info.name, ": the basis is participants'"));
  }
  const double v = t.value();
  if (!std::isfinite(v) || v < 0) {
    return absl::InvalidArgumentError(absl::StrCat("target.value must be a number >= 0, got ", v));
  }
  switch (info.unit) {
    case MeasureUnit::kPercent:
      if (v > 100) {
        return absl::InvalidArgumentError(
            absl::StrCat("target.value of ", info.name, " is a percentage, 0–100, got ", v));
      }
      break;
    case MeasureUnit::kVnd:
      if (v > kMaxVndTarget || v != std::floor(v)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "target.value of ", info.name, " is a whole number of VND, 0–9e15, got ", v));
      }
      break;
    case MeasureUnit::kPeople:
    case MeasureUnit::kEmployers:
      if (v > kMaxParticipantsTarget || v != std::floor(v)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "target.value of ", info.name, " is a whole number of ",
            info.unit == MeasureUnit::kPeople ? "people" : "employers", ", 0–1e9, got ", v));
      }
      break;
  }
  return absl::OkStatus();
}

// The (measure, scheme, payer_group) of a request naming targets: participants of a scheme
// (measure unspecified or participants, no payer group), or another measure's keys as the
// registry allows them.
absl::Status ValidateTargetKeys(v1::Measure measure, v1::Scheme scheme, v1::PayerGroup group) {
  if (measure == v1::MEASURE_UNSPECIFIED || measure == v1::MEASURE_PARTICIPANTS) {
    RETURN_IF_ERROR(ValidateScheme(scheme, "scheme"));
    if (group != v1::PAYER_GROUP_UNSPECIFIED) {
      return absl::InvalidArgumentError(
          "payer_group is not allowed with participants (MEASURE_HEALTH_BY_PAYER has them)");
    }
    return absl::OkStatus();
  }
  const MeasureInfo* info = FindMeasure(measure);
  if (info == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("measure is not a known measure: ", static_cast<int>(measure)));
  }
  std::string field;
  if (const std::string problem = MeasureKeyProblem(*info, scheme, group, &field);
      !problem.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateUnitCode(const std::string& code, absl::string_view field) {
  RETURN_IF_ERROR(CheckText(field, code, kMaxUnitCodeLength));
  const bool digits = !code.empty() && std::all_of(code.begin(), code.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
  if (code == kNationCode ||
      (digits && (code.size() == 2 || code.size() == 3 || code.size() == 5))) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      field, " must be \"VN\" or a 2-, 3- or 5-digit unit code, got ", QuoteInput(code, 16)));
}

absl::Status ValidateScheme(v1::Scheme scheme, absl::string_view field) {
  if (!v1::Scheme_IsValid(scheme) || scheme == v1::SCHEME_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat(field,
                                                   " is required (one of compulsory_social, "
                                                   "voluntary_social, health, unemployment, "
                                                   "social), got ",
                                                   static_cast<int>(scheme)));
  }
  return absl::OkStatus();
}

absl::Status ValidateYear(int year, absl::string_view field) {
  if (year < kMinYear || year > kMaxYear) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " must be between ", kMinYear, " and ", kMaxYear, ", got ", year));
  }
  return absl::OkStatus();
}

absl::Status ValidateLevel(v1::AdminLevel level, absl::string_view field) {
  if (!v1::AdminLevel_IsValid(level)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is not a known level: ", static_cast<int>(level)));
  }
  return absl::OkStatus();
}

absl::Status ValidateText(const std::string& text, absl::string_view field, bool required,
                          size_t max_bytes) {
  if (required && text.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  }
  return CheckText(field, text, max_bytes);
}

absl::Status ValidateDate(const std::string& date, absl::string_view field) {
  if (!TextProblem(date, kMaxDateBytes).empty() || !covtrack::ValidateDate(date).ok()) {
    // A date is short; one that is not is cut, never echoed whole.
    return absl::InvalidArgumentError(
        absl::StrCat(field, " must be a date \"YYYY-MM-DD\", got ", QuoteInput(date, 16)));
  }
  return absl::OkStatus();
}

absl::Status ValidatePeriod(const std::string& period, absl::string_view field) {
  if (period.empty()) {
    return absl::OkStatus();
  }
  // Period::Parse's message quotes the whole text: a long or binary one is never parsed.
  if (!TextProblem(period, kMaxPeriodBytes).empty() || !Period::Parse(period).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": malformed period ", QuoteInput(period, 16),
                     ": want YYYY, YYYY-H1..H2, YYYY-Q1..Q4 or YYYY-MM"));
  }
  return absl::OkStatus();
}

absl::Status ValidateFreshness(const v1::Freshness& freshness, absl::string_view field) {
  if (freshness.at_least_seq() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".at_least_seq must be a change seq a write answered, or 0 for none; got ",
        freshness.at_least_seq()));
  }
  if (!v1::Consistency_IsValid(freshness.consistency())) {
    return absl::InvalidArgumentError(
        absl::StrCat(field,
                     ".consistency is not a known consistency (CONSISTENCY_UNSPECIFIED, "
                     "CONSISTENCY_APPLIED or CONSISTENCY_FULL): ",
                     static_cast<int>(freshness.consistency())));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Target> NormalizeTarget(const v1::Target& in) {
  v1::Target t = in;
  t.clear_update_time();
  t.set_revision(0);
  // Participants are kept as MEASURE_UNSPECIFIED, as every target set before Target.measure.
  if (t.measure() == v1::MEASURE_PARTICIPANTS) {
    t.set_measure(v1::MEASURE_UNSPECIFIED);
  }
  const MeasureInfo* info =
      t.measure() == v1::MEASURE_UNSPECIFIED ? nullptr : FindMeasure(t.measure());
  // The record names the code as sent only when it is one; anything else is quoted, cut.
  const std::string code = ValidateUnitCode(t.unit_code(), "").ok()
                               ? t.unit_code()
                               : QuoteInput(t.unit_code(), kMaxUnitCodeLength);
  std::string record = absl::StrCat(" (target ", code, "/");
  if (info != nullptr) {
    absl::StrAppend(&record, info->name, "/");
  }
  if (info == nullptr || t.scheme() != v1::SCHEME_UNSPECIFIED) {
    absl::StrAppend(&record, SchemeName(t.scheme()), "/");
  }
  if (!PayerGroupName(t.payer_group()).empty()) {
    absl::StrAppend(&record, PayerGroupName(t.payer_group()), "/");
  }
  absl::StrAppend(&record, t.year(), ")");
  auto with_record = [&](absl::Status s) {
    return absl::Status(s.code(), absl::StrCat(s.message(), record));
  };
  if (absl::Status s = ValidateUnitCode(t.unit_code(), "target.unit_code"); !s.ok()) {
    return with_record(s);
  }
  if (t.measure() != v1::MEASURE_UNSPECIFIED && info == nullptr) {
    return with_record(absl::InvalidArgumentError(
        absl::StrCat("target.measure is not a known measure: ", static_cast<int>(t.measure()))));
  }
  if (info == nullptr) {
    if (absl::Status s = ValidateScheme(t.scheme(), "target.scheme"); !s.ok()) {
      return with_record(s);
    }
  }
  if (absl::Status s = ValidateYear(t.year(), "target.year"); !s.ok()) {
    return with_record(s);
  }
  if (absl::Status s =
          info != nullptr ? ValidateMeasureTarget(*info, t) : ValidateParticipantsTarget(t);
      !s.ok()) {
    return with_record(s);
  }
  if (!t.unit_as_of().empty()) {
    // Which unit the date names is the service's question (it needs the hierarchy); here only
    // that it is a date of the target's year.
    if (absl::Status s = ValidateDate(t.unit_as_of(), "target.unit_as_of"); !s.ok()) {
      return with_record(s);
    }
    if (t.unit_as_of().substr(0, 4) != absl::StrCat(t.year())) {
      return with_record(absl::InvalidArgumentError(
          absl::StrCat("target.unit_as_of must be a date inside the target's year ", t.year(),
                       ", got ", QuoteInput(t.unit_as_of(), 16))));
    }
  }
  if (absl::Status s = ValidateText(t.assigned_by(), "target.assigned_by", false, kMaxNameBytes);
      !s.ok()) {
    return with_record(s);
  }
  if (absl::Status s = ValidateText(t.decision_ref(), "target.decision_ref", false, kMaxNameBytes);
      !s.ok()) {
    return with_record(s);
  }
  return t;
}

absl::Status ValidateRequest(const v1::SetTargetRequest& request) {
  RETURN_IF_ERROR(ValidateText(request.request_id(), "request_id", true, kMaxRequestIdBytes));
  if (!request.has_target()) {
    return absl::InvalidArgumentError("target is required");
  }
  return NormalizeTarget(request.target()).status();
}

absl::Status ValidateRequest(const v1::ListTargetsRequest& request) {
  RETURN_IF_ERROR(ValidatePageToken(request.page_token()));
  if (!request.unit_code().empty() && !request.parent_code().empty()) {
    return absl::InvalidArgumentError("set at most one of unit_code and parent_code");
  }
  if (!request.unit_code().empty()) {
    RETURN_IF_ERROR(ValidateUnitCode(request.unit_code(), "unit_code"));
  }
  if (request.year() != 0) {
    RETURN_IF_ERROR(ValidateYear(request.year(), "year"));
  }
  if (request.scheme() != v1::SCHEME_UNSPECIFIED) {
    RETURN_IF_ERROR(ValidateScheme(request.scheme(), "scheme"));
  }
  if (!request.parent_code().empty()) {
    RETURN_IF_ERROR(ValidateUnitCode(request.parent_code(), "parent_code"));
    if (request.year() == 0) {
      return absl::InvalidArgumentError(
          "year is required with parent_code (the units under a parent depend on the year)");
    }
  }
  return ResolvePageSize(request.page_size(), kTargetsPage).status();
}

absl::Status ValidateRequest(const v1::GetAchievementRequest& request) {
  RETURN_IF_ERROR(ValidateUnitCode(request.unit_code(), "unit_code"));
  RETURN_IF_ERROR(ValidatePeriod(request.period(), "period"));
  if (!request.territory_date().empty()) {
    RETURN_IF_ERROR(ValidateDate(request.territory_date(), "territory_date"));
  }
  for (int i = 0; i < request.schemes_size(); ++i) {
    RETURN_IF_ERROR(ValidateScheme(static_cast<v1::Scheme>(request.schemes(i)),
                                   absl::StrCat("schemes[", i, "]")));
  }
  return ValidateFreshness(request.freshness(), "freshness");
}

absl::Status ValidateRequest(const v1::ListLaggingUnitsRequest& request) {
  RETURN_IF_ERROR(ValidatePageToken(request.page_token()));
  RETURN_IF_ERROR(ValidateUnitCode(request.parent_code(), "parent_code"));
  RETURN_IF_ERROR(ValidateLevel(request.level(), "level"));
  RETURN_IF_ERROR(ValidateTargetKeys(request.measure(), request.scheme(), request.payer_group()));
  RETURN_IF_ERROR(ValidatePeriod(request.period(), "period"));
  if (!request.territory_date().empty()) {
    RETURN_IF_ERROR(ValidateDate(request.territory_date(), "territory_date"));
  }
  RETURN_IF_ERROR(ValidateFreshness(request.freshness(), "freshness"));
  return ResolvePageSize(request.page_size(), kLaggingUnitsPage).status();
}

absl::Status ValidateRequest(const v1::AllocateTargetRequest& request) {
  RETURN_IF_ERROR(ValidateUnitCode(request.parent_code(), "parent_code"));
  RETURN_IF_ERROR(ValidateTargetKeys(request.measure(), request.scheme(), request.payer_group()));
  RETURN_IF_ERROR(ValidateYear(request.year(), "year"));
  RETURN_IF_ERROR(ValidateLevel(request.level(), "level"));
  // A ratio is inherited, not split: no method is used.
  const bool inherited = request.measure() == v1::MEASURE_ARREARS_RATIO;
  if (!v1::AllocationMethod_IsValid(request.method()) ||
      (request.method() == v1::ALLOCATION_METHOD_UNSPECIFIED && !inherited)) {
    return absl::InvalidArgumentError(
        "method is required: ALLOCATION_METHOD_POPULATION, ALLOCATION_METHOD_LABOR_FORCE or "
        "ALLOCATION_METHOD_LAST_YEAR_PARTICIPANTS");
  }
  // A preview stores nothing, so it needs no request id.
  RETURN_IF_ERROR(
      ValidateText(request.request_id(), "request_id", !request.preview(), kMaxRequestIdBytes));
  RETURN_IF_ERROR(ValidateText(request.assigned_by(), "assigned_by", false, kMaxNameBytes));
  RETURN_IF_ERROR(ValidateText(request.decision_ref(), "decision_ref", false, kMaxNameBytes));
  return ValidateFreshness(request.freshness(), "freshness");
}

absl::Status ValidateRequest(const v1::ValidateAllocationRequest& request) {
  RETURN_IF_ERROR(ValidateUnitCode(request.parent_code(), "parent_code"));
  RETURN_IF_ERROR(ValidateTargetKeys(request.measure(), request.scheme(), request.payer_group()));
  RETURN_IF_ERROR(ValidateYear(request.year(), "year"));
  return ValidateLevel(request.level(), "level");
}

absl::Status ValidateRequest(const v1::GetReportRequest& request) {
  RETURN_IF_ERROR(ValidateUnitCode(request.unit_code(), "unit_code"));
  RETURN_IF_ERROR(ValidatePeriod(request.period(), "period"));
  if (!request.territory_date().empty()) {
    RETURN_IF_ERROR(ValidateDate(request.territory_date(), "territory_date"));
  }
  if (request.has_percent_decimals() &&
      (request.percent_decimals() < 0 || request.percent_decimals() > kMaxPercentDecimals)) {
    return absl::InvalidArgumentError(
        absl::StrCat("percent_decimals: must be 0 to ", kMaxPercentDecimals,
                     " (unset: ", kDefaultPercentDecimals, "), got ", request.percent_decimals()));
  }
  return ValidateFreshness(request.freshness(), "freshness");
}

}  // namespace covtrack::targets
