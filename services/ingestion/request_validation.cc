#include "services/ingestion/request_validation.h"

#include <cmath>
#include <map>
#include <tuple>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/domain.h"
#include "common/measures.h"
#include "common/period.h"
#include "common/status/status.h"
#include "common/text.h"
#include "services/ingestion/measure_checks.h"

namespace covtrack::ingestion {
namespace {

// Why `count` is not a number of people a unit can hold (0 to kMaxPeople); empty when it is.
// Bounding every count here is what keeps every later sum of them far from int64's limit.
std::string PeopleProblem(int64_t count, int64_t minimum) {
  if (count < minimum) {
    return minimum == 0 ? absl::StrCat("must not be negative (got ", count, ")")
                        : absl::StrCat("must be greater than zero (got ", count, ")");
  }
  if (count > kMaxPeople) {
    return absl::StrCat("must be at most ", kMaxPeople, " people (got ", count, ")");
  }
  return "";
}

// A required unit code: "required" when empty, else UnitCodeProblem.
std::string RequiredCodeProblem(const std::string& code) {
  return code.empty() ? "required" : UnitCodeProblem(code);
}

absl::Status ValidateRecord(const v1::ParticipationRecord& r, int i) {
  if (std::string problem = RequiredCodeProblem(r.unit_code()); !problem.empty()) {
    return FieldError("records", i, "unit_code", problem);
  }
  if (std::string problem = MonthProblem(r.month()); !problem.empty()) {
    return FieldError("records", i, "month", problem);
  }
  if (r.scheme() == v1::SCHEME_SOCIAL) {
    return FieldError("records", i, "scheme",
                      "SCHEME_SOCIAL is derived (compulsory + voluntary) and cannot be reported");
  }
  if (!IsReportedScheme(r.scheme())) {
    return FieldError("records", i, "scheme",
                      absl::StrCat("must be one of the four reported schemes (got ",
                                   static_cast<int>(r.scheme()), ")"));
  }
  if (std::string problem = PeopleProblem(r.participants(), 0); !problem.empty()) {
    return FieldError("records", i, "participants", problem);
  }
  if (r.has_in_province_participants()) {
    if (std::string problem = PeopleProblem(r.in_province_participants(), 0); !problem.empty()) {
      return FieldError("records", i, "in_province_participants", problem);
    }
    if (r.in_province_participants() > r.participants()) {
      return FieldError("records", i, "in_province_participants",
                        absl::StrCat("exceeds participants (", r.in_province_participants(), " > ",
                                     r.participants(), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateDenominator(const v1::DenominatorRecord& d, int i) {
  if (std::string problem = RequiredCodeProblem(d.unit_code()); !problem.empty()) {
    return FieldError("denominators", i, "unit_code", problem);
  }
  if (d.year() < 1900 || d.year() > 2999) {
    return FieldError("denominators", i, "year", absl::StrCat("out of range (got ", d.year(), ")"));
  }
  if (d.kind() != v1::DENOMINATOR_KIND_POPULATION && d.kind() != v1::DENOMINATOR_KIND_LABOR_FORCE) {
    return FieldError("denominators", i, "kind", "must be POPULATION or LABOR_FORCE");
  }
  if (std::string problem = PeopleProblem(d.value(), 1); !problem.empty()) {
    return FieldError("denominators", i, "value", problem);
  }
  return absl::OkStatus();
}

absl::Status ValidateUnit(const v1::AdminUnit& u, int i) {
  if (std::string problem = UnitCodeProblem(u.code()); !problem.empty()) {
    return FieldError("units", i, "code", problem);
  }
  if (u.code() == kNationCode) {
    return FieldError("units", i, "code", "\"VN\" is the nation, which is implicit");
  }
  if (u.name().empty()) {
    return FieldError("units", i, "name", "required");
  }
  if (std::string problem = TextProblem(u.name(), kMaxNameBytes); !problem.empty()) {
    return FieldError("units", i, "name", absl::StrCat(problem, " for ", QuoteInput(u.code())));
  }
  if (std::string problem = TextProblem(u.type(), kMaxNameBytes); !problem.empty()) {
    return FieldError("units", i, "type", absl::StrCat(problem, " for ", QuoteInput(u.code())));
  }
  if (u.level() != v1::ADMIN_LEVEL_PROVINCE && u.level() != v1::ADMIN_LEVEL_DISTRICT &&
      u.level() != v1::ADMIN_LEVEL_COMMUNE) {
    return FieldError("units", i, "level", "must be PROVINCE, DISTRICT or COMMUNE");
  }
  for (const auto& [field, value] :
       {std::pair<const char*, const std::string&>{"valid_from", u.valid_from()},
        std::pair<const char*, const std::string&>{"valid_to", u.valid_to()}}) {
    if (!value.empty()) {
      if (std::string problem = DateProblem(value); !problem.empty()) {
        return FieldError("units", i, field, problem);
      }
    }
  }
  if (!u.valid_to().empty() && u.valid_from() >= u.valid_to()) {
    return FieldError(
        "units", i, "valid_to",
        absl::StrCat("must be after valid_from (", u.valid_from(), " >= ", u.valid_to(), ")"));
  }
  if (u.level() != v1::ADMIN_LEVEL_PROVINCE &&
      (u.parent_code().empty() || u.parent_code() == kNationCode)) {
    return FieldError("units", i, "parent_code", "required for a district or commune");
  }
  if (!u.parent_code().empty()) {
    if (std::string problem = UnitCodeProblem(u.parent_code()); !problem.empty()) {
      return FieldError("units", i, "parent_code", problem);
    }
  }
  return absl::OkStatus();
}

// A code as an error quotes it: never more than a short prefix of what the caller sent.
std::string Quoted(const std::string& code) { return QuoteInput(code); }

// "<field>: <problem>" when there is a problem.
absl::Status InField(absl::string_view field, const std::string& problem) {
  return problem.empty() ? absl::OkStatus()
                         : absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

// A share, when given: finite and in (0, 1].
void CheckShare(const v1::CrosswalkLink& link, int i, absl::string_view field, double share,
                ProblemList& problems) {
  if (!std::isfinite(share) || share <= 0 || share > 1) {
    problems.Add("links", i, field,
                 absl::StrCat("must be in (0, 1] (got ", absl::StrFormat("%.12g", share), ") for ",
                              Quoted(link.from_code()), " -> ", Quoted(link.to_code())));
  }
}

}  // namespace

void ProblemList::Add(absl::string_view list, int index, absl::string_view field,
                      absl::string_view problem) {
  if (reported_.size() < kMaxReportedProblems) {
    reported_.push_back(absl::StrCat(list, "[", index, "].", field, ": ", problem));
  } else {
    ++more_;
  }
}

absl::Status ProblemList::ToStatus() const {
  if (reported_.empty()) {
    return absl::OkStatus();
  }
  std::string message = absl::StrJoin(reported_, "; ");
  if (more_ > 0) {
    absl::StrAppend(&message, "; and ", more_, " more problem", more_ == 1 ? "" : "s");
  }
  return absl::InvalidArgumentError(message);
}

std::string UnitCodeProblem(const std::string& code) {
  if (code.empty() || code.size() > kMaxUnitCodeLength ||
      code.find_first_of(" \t\r\n,") != std::string::npos) {
    return absl::StrCat("must be 1–", kMaxUnitCodeLength, " characters without spaces (got ",
                        QuoteInput(code), ")");
  }
  // Printable UTF-8 only: a NUL would be cut by PostgreSQL ("28252\0" stored as 28252) and
  // kept by SQLite; a control byte has no place in a code either.
  bool printable = TextProblem(code, code.size()).empty();
  for (char c : code) {
    const unsigned char byte = static_cast<unsigned char>(c);
    printable = printable && byte >= 0x20 && byte != 0x7F;
  }
  if (!printable) {
    return absl::StrCat("must be printable UTF-8 without NUL or control bytes (got ",
                        QuoteInput(code), ")");
  }
  return "";
}

std::string MonthProblem(const std::string& text) {
  if (Month::Parse(text).ok()) {
    return "";
  }
  return absl::StrCat("malformed month ", QuoteInput(text), ": want YYYY-MM");
}

std::string DateProblem(const std::string& text) {
  if (ValidateDate(text).ok()) {
    return "";
  }
  return absl::StrCat("malformed date ", QuoteInput(text), ": want YYYY-MM-DD");
}

absl::Status FieldError(absl::string_view list, int index, absl::string_view field,
                        absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(list, "[", index, "].", field, ": ", problem));
}

absl::Status ValidateRequestId(const std::string& request_id) {
  if (request_id.empty()) {
    return absl::InvalidArgumentError(
        "request_id: required (a client-chosen id that makes retries safe)");
  }
  return CheckText("request_id", request_id, kMaxRequestIdBytes);
}

absl::Status ValidateSubmitReport(const v1::SubmitReportRequest& request,
                                  const RequestLimits& limits) {
  RETURN_IF_ERROR(ValidateRequestId(request.request_id()));
  RETURN_IF_ERROR(CheckText("source", request.source(), kMaxSourceBytes));
  const int64_t items =
      int64_t{request.records_size()} + request.denominators_size() + request.measures_size();
  if (items > limits.max_items_per_request) {
    return absl::InvalidArgumentError(
        absl::StrCat("request too large: ", items, " records and denominators, at most ",
                     limits.max_items_per_request,
                     " per request (measures count among them); split it or use StreamReports"));
  }
  if (items == 0) {
    return absl::InvalidArgumentError(
        "records: the request has no records and no denominators (and no measures)");
  }
  std::map<std::tuple<std::string, std::string, int>, int> seen_records;
  for (int i = 0; i < request.records_size(); ++i) {
    const v1::ParticipationRecord& r = request.records(i);
    RETURN_IF_ERROR(ValidateRecord(r, i));
    auto [it, inserted] =
        seen_records.emplace(std::make_tuple(r.unit_code(), r.month(), r.scheme()), i);
    if (!inserted) {
      return FieldError(
          "records", i, "unit_code",
          absl::StrCat("duplicates records[", it->second, "] (same unit, month and scheme)"));
    }
  }
  std::map<std::tuple<std::string, int, int>, int> seen_denominators;
  for (int i = 0; i < request.denominators_size(); ++i) {
    const v1::DenominatorRecord& d = request.denominators(i);
    RETURN_IF_ERROR(ValidateDenominator(d, i));
    auto [it, inserted] =
        seen_denominators.emplace(std::make_tuple(d.unit_code(), d.year(), d.kind()), i);
    if (!inserted) {
      return FieldError(
          "denominators", i, "unit_code",
          absl::StrCat("duplicates denominators[", it->second, "] (same unit, year and kind)"));
    }
  }
  return ValidateMeasureRecords(request.measures());
}

absl::Status ValidateImportAdminUnits(const v1::ImportAdminUnitsRequest& request,
                                      const RequestLimits& limits) {
  RETURN_IF_ERROR(ValidateRequestId(request.request_id()));
  if (request.units_size() == 0) {
    return absl::InvalidArgumentError("units: the request has no units");
  }
  if (request.units_size() > limits.max_items_per_request) {
    return absl::InvalidArgumentError(absl::StrCat("request too large: ", request.units_size(),
                                                   " units, at most ", limits.max_items_per_request,
                                                   " per request"));
  }
  std::map<std::pair<std::string, std::string>, int> seen;
  for (int i = 0; i < request.units_size(); ++i) {
    const v1::AdminUnit& u = request.units(i);
    RETURN_IF_ERROR(ValidateUnit(u, i));
    auto [it, inserted] = seen.emplace(std::make_pair(u.code(), u.valid_from()), i);
    if (!inserted) {
      return FieldError(
          "units", i, "code",
          absl::StrCat("duplicates units[", it->second, "] (same code and valid_from)"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateListAdminUnits(const v1::ListAdminUnitsRequest& request) {
  if (!request.as_of().empty()) {
    RETURN_IF_ERROR(InField("as_of", DateProblem(request.as_of())));
  }
  for (const auto& [field, code] :
       {std::pair<const char*, const std::string&>{"parent_code", request.parent_code()},
        std::pair<const char*, const std::string&>{"code", request.code()}}) {
    if (!code.empty()) {
      RETURN_IF_ERROR(InField(field, UnitCodeProblem(code)));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateListRevisions(const v1::ListRevisionsRequest& request) {
  RETURN_IF_ERROR(InField("unit_code", RequiredCodeProblem(request.unit_code())));
  if (!request.month().empty()) {
    RETURN_IF_ERROR(InField("month", MonthProblem(request.month())));
  }
  if (request.scheme() != v1::SCHEME_UNSPECIFIED && !IsReportedScheme(request.scheme())) {
    return absl::InvalidArgumentError("scheme: must be one of the four reported schemes");
  }
  if (request.measure() != v1::MEASURE_UNSPECIFIED) {
    const MeasureInfo* info = FindMeasure(request.measure());
    if (info == nullptr || info->source != MeasureSource::kMeasureRecord) {
      return absl::InvalidArgumentError(
          "measure: must be a reported measure other than MEASURE_PARTICIPANTS (whose revisions "
          "are listed without it)");
    }
    if (request.month().empty()) {
      return absl::InvalidArgumentError(
          "month: required with measure (measures are found through their month)");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateExportData(const v1::ExportDataRequest& request) {
  const bool whole_country = request.root_code().empty() || request.root_code() == kNationCode;
  if (!whole_country) {
    RETURN_IF_ERROR(InField("root_code", UnitCodeProblem(request.root_code())));
  }
  if (!request.as_of().empty()) {
    RETURN_IF_ERROR(InField("as_of", DateProblem(request.as_of())));
  } else if (!whole_country) {
    return absl::InvalidArgumentError("as_of: required to read the subtree of a unit");
  }
  if (!request.from_month().empty() || !request.to_month().empty() || request.include_measures()) {
    RETURN_IF_ERROR(InField("from_month", MonthProblem(request.from_month())));
    RETURN_IF_ERROR(InField("to_month", MonthProblem(request.to_month())));
  }
  return absl::OkStatus();
}

absl::Status ValidateImportCrosswalk(const v1::ImportCrosswalkRequest& request,
                                     const RequestLimits& limits) {
  RETURN_IF_ERROR(ValidateRequestId(request.request_id()));
  if (request.links_size() == 0) {
    return absl::InvalidArgumentError("links: the request has no links");
  }
  if (request.links_size() > limits.max_links_per_request) {
    return absl::InvalidArgumentError(absl::StrCat("request too large: ", request.links_size(),
                                                   " links, at most ", limits.max_links_per_request,
                                                   " per request"));
  }
  RETURN_IF_ERROR(CheckText("source", request.source(), kMaxSourceBytes));
  ProblemList problems;
  std::map<std::tuple<std::string, std::string, std::string>, int> seen;
  for (int i = 0; i < request.links_size(); ++i) {
    const v1::CrosswalkLink& link = request.links(i);
    for (const auto& [field, code] :
         {std::pair<const char*, const std::string&>{"from_code", link.from_code()},
          std::pair<const char*, const std::string&>{"to_code", link.to_code()}}) {
      if (std::string problem = UnitCodeProblem(code); !problem.empty()) {
        problems.Add("links", i, field, problem);
      }
    }
    if (std::string date = DateProblem(link.effective_date()); !date.empty()) {
      problems.Add("links", i, "effective_date",
                   absl::StrCat(date, " (link ", Quoted(link.from_code()), " -> ",
                                Quoted(link.to_code()), ")"));
    }
    if (link.has_population_share()) {
      CheckShare(link, i, "population_share", link.population_share(), problems);
    }
    if (link.has_labor_force_share()) {
      if (!link.has_population_share()) {
        problems.Add("links", i, "labor_force_share",
                     "given without population_share (a labour-force share refines a known "
                     "population share)");
      } else {
        CheckShare(link, i, "labor_force_share", link.labor_force_share(), problems);
      }
    }
    auto [it, inserted] =
        seen.emplace(std::make_tuple(link.from_code(), link.to_code(), link.effective_date()), i);
    if (!inserted) {
      problems.Add("links", i, "to_code",
                   absl::StrCat("duplicates links[", it->second,
                                "] (same from_code, to_code and effective_date)"));
    }
  }
  return problems.ToStatus();
}

absl::Status ValidateListCrosswalk(const v1::ListCrosswalkRequest& request) {
  for (const auto& [field, code] :
       {std::pair<const char*, const std::string&>{"from_code", request.from_code()},
        std::pair<const char*, const std::string&>{"to_code", request.to_code()}}) {
    if (!code.empty()) {
      if (std::string problem = UnitCodeProblem(code); !problem.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
      }
    }
  }
  if (!request.effective_date().empty()) {
    RETURN_IF_ERROR(InField("effective_date", DateProblem(request.effective_date())));
  }
  return absl::OkStatus();
}

}  // namespace covtrack::ingestion
