#include "tools/covctl/target_csv.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/domain.h"
#include "common/measures.h"
#include "common/period.h"

namespace covtrack::covctl {
namespace {

std::string Quoted(absl::string_view value) { return absl::StrCat("\"", value, "\""); }

bool IsCode(absl::string_view code) {
  if (code.empty() || code.size() > 16) {
    return false;
  }
  for (char c : code) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<v1::Target> TargetFromFields(const TargetFields& fields) {
  std::vector<std::string> problems;
  v1::Target target;
  if (!IsCode(fields.unit_code)) {
    problems.push_back(
        fields.unit_code.empty()
            ? std::string("unit_code is empty")
            : absl::StrCat("unit_code ", Quoted(fields.unit_code), " is not a unit code"));
  }
  target.set_unit_code(fields.unit_code);
  int year = 0;
  if (!absl::SimpleAtoi(fields.year, &year) || year < 2000 || year > 2100) {
    problems.push_back(absl::StrCat("year ", Quoted(fields.year), " is not a year (2000..2100)"));
  }
  target.set_year(year);
  // A target on another measure than participants (Target.measure): its keys and value are
  // checked by the service against the registry; here only that the names parse.
  v1::Measure measure = v1::MEASURE_UNSPECIFIED;
  if (!fields.measure.empty() && fields.measure != "participants") {
    absl::StatusOr<v1::Measure> parsed = ParseMeasure(fields.measure);
    if (!parsed.ok() || *parsed == v1::MEASURE_PARTICIPANTS) {
      problems.push_back(absl::StrCat("measure ", Quoted(fields.measure),
                                      " is not a measure's name (docs/measures.md)"));
    } else {
      measure = *parsed;
    }
  }
  const bool on_measure = !fields.measure.empty() && fields.measure != "participants";
  target.set_measure(measure);
  absl::StatusOr<v1::PayerGroup> group = ParsePayerGroup(fields.payer_group);
  if (!group.ok()) {
    problems.push_back(absl::StrCat("payer_group ", Quoted(fields.payer_group),
                                    " is not a payer group (employer_employee, "
                                    "social_insurance_fund, state_budget, "
                                    "state_budget_supported, household)"));
  } else {
    target.set_payer_group(*group);
  }
  absl::StatusOr<v1::Scheme> scheme = ParseScheme(fields.scheme);
  if (on_measure && (fields.scheme.empty() || fields.scheme == "none")) {
    target.set_scheme(v1::SCHEME_UNSPECIFIED);
  } else if (!scheme.ok()) {
    problems.push_back(absl::StrCat(
        "scheme ", Quoted(fields.scheme),
        " is not one of compulsory_social, voluntary_social, health, unemployment, social"));
  } else {
    target.set_scheme(*scheme);
  }
  if (on_measure) {
    // The value is in the measure's unit: no kind.
    if (!fields.kind.empty() && fields.kind != "participants") {
      problems.push_back(absl::StrCat("kind ", Quoted(fields.kind), " is participants' only: ",
                                      "leave it empty for measure ", fields.measure));
    }
  } else if (fields.kind == "participants") {
    target.set_kind(v1::TARGET_KIND_PARTICIPANTS);
  } else if (fields.kind == "coverage_percent") {
    target.set_kind(v1::TARGET_KIND_COVERAGE_PERCENT);
  } else {
    problems.push_back(absl::StrCat("kind ", Quoted(fields.kind),
                                    " is not one of participants, coverage_percent"));
  }
  double value = 0;
  if (!absl::SimpleAtod(fields.value, &value) || !std::isfinite(value)) {
    problems.push_back(absl::StrCat("value ", Quoted(fields.value), " is not a number"));
  } else if (on_measure && value < 0) {
    problems.push_back(absl::StrCat("value ", Quoted(fields.value), " must be >= 0"));
  } else if (target.kind() == v1::TARGET_KIND_PARTICIPANTS &&
             (value < 0 || value > 1e9 || value != std::floor(value))) {
    problems.push_back(absl::StrCat("value ", Quoted(fields.value),
                                    " must be a whole number of people, 0..1000000000"));
  } else if (target.kind() == v1::TARGET_KIND_COVERAGE_PERCENT && (value < 0 || value > 100)) {
    problems.push_back(
        absl::StrCat("value ", Quoted(fields.value), " must be a percentage, 0..100"));
  }
  target.set_value(value);
  if (on_measure) {
    if (!fields.basis.empty()) {
      problems.push_back(absl::StrCat("basis ", Quoted(fields.basis),
                                      " is participants' only: leave it empty for measure ",
                                      fields.measure));
    }
  } else if (fields.basis.empty() || fields.basis == "all") {
    target.set_basis(v1::TARGET_BASIS_ALL_PARTICIPANTS);
  } else if (fields.basis == "in_province") {
    target.set_basis(v1::TARGET_BASIS_IN_PROVINCE);
  } else {
    problems.push_back(
        absl::StrCat("basis ", Quoted(fields.basis), " is not one of all, in_province"));
  }
  target.set_assigned_by(fields.assigned_by);
  target.set_decision_ref(fields.decision_ref);
  if (!fields.unit_as_of.empty()) {
    if (!ValidateDate(fields.unit_as_of).ok()) {
      problems.push_back(
          absl::StrCat("unit_as_of ", Quoted(fields.unit_as_of), " is not a date (YYYY-MM-DD)"));
    } else if (fields.unit_as_of.substr(0, 4) != fields.year) {
      problems.push_back(
          absl::StrCat("unit_as_of ", fields.unit_as_of, " is not in year ", Quoted(fields.year)));
    }
    target.set_unit_as_of(fields.unit_as_of);
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(problems, "; "));
  }
  return target;
}

sampledata::ParsedRows<v1::Target> ParseTargetRows(const sampledata::CsvTable& table) {
  sampledata::ParsedRows<v1::Target> parsed;
  static const std::vector<std::string> kRequired = {"unit_code", "year", "scheme", "kind",
                                                     "value"};
  static const std::vector<std::string> kOptional = {"basis",      "assigned_by", "decision_ref",
                                                     "unit_as_of", "measure",     "payer_group"};
  std::map<std::string, size_t> index;
  std::vector<std::string> problems;
  for (size_t k = 0; k < table.header.size(); ++k) {
    const std::string& name = table.header[k];
    bool known = std::count(kRequired.begin(), kRequired.end(), name) +
                     std::count(kOptional.begin(), kOptional.end(), name) >
                 0;
    if (!known) {
      problems.push_back(absl::StrCat("unknown column ", Quoted(name)));
    } else if (!index.emplace(name, k).second) {
      problems.push_back(absl::StrCat("column ", Quoted(name), " appears twice"));
    }
  }
  for (const std::string& name : kRequired) {
    if (index.count(name) == 0) {
      problems.push_back(absl::StrCat("missing column ", Quoted(name)));
    }
  }
  if (!problems.empty()) {
    parsed.errors.push_back(
        {1, absl::StrCat(absl::StrJoin(problems, "; "),
                         " (want unit_code,year,scheme,kind,value[,basis,assigned_by,decision_ref,"
                         "unit_as_of,measure,payer_group])")});
    return parsed;
  }
  auto get = [&index](const sampledata::CsvRow& row, const std::string& name) -> std::string {
    auto it = index.find(name);
    return it == index.end() ? "" : std::string(absl::StripAsciiWhitespace(row.fields[it->second]));
  };
  // (unit_code, unit_as_of, measure, scheme, payer_group, year) identifies a target
  // (target_service.proto).
  std::map<std::tuple<std::string, std::string, int, int, int, int>, int> first_line;
  for (const sampledata::CsvRow& row : table.rows) {
    if (row.fields.size() != table.header.size()) {
      parsed.errors.push_back(
          {row.line, absl::StrCat("has ", row.fields.size(), " fields, the header has ",
                                  table.header.size())});
      continue;
    }
    absl::StatusOr<v1::Target> target = TargetFromFields(
        {get(row, "unit_code"), get(row, "year"), get(row, "scheme"), get(row, "kind"),
         get(row, "value"), get(row, "basis"), get(row, "assigned_by"), get(row, "decision_ref"),
         get(row, "unit_as_of"), get(row, "measure"), get(row, "payer_group")});
    if (!target.ok()) {
      parsed.errors.push_back({row.line, std::string(target.status().message())});
      continue;
    }
    auto [it, inserted] = first_line.emplace(
        std::make_tuple(target->unit_code(), target->unit_as_of(), target->year(),
                        static_cast<int>(target->measure()), static_cast<int>(target->scheme()),
                        static_cast<int>(target->payer_group())),
        row.line);
    if (!inserted) {
      const std::string measure = MeasureName(target->measure());
      const std::string group = PayerGroupName(target->payer_group());
      parsed.errors.push_back(
          {row.line,
           absl::StrCat("unit ", target->unit_code(), " ", target->year(), " ",
                        measure.empty() ? "" : absl::StrCat(measure, " "),
                        SchemeName(target->scheme()), group.empty() ? "" : absl::StrCat(" ", group),
                        " is already on line ", it->second)});
      continue;
    }
    parsed.items.push_back(*std::move(target));
    parsed.lines.push_back(row.line);
  }
  return parsed;
}

}  // namespace covtrack::covctl
