#include "tools/sampledata/record_csv.h"

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/domain.h"
#include "common/measures.h"
#include "common/period.h"

namespace covtrack::sampledata {
namespace {

// Maps column names to their positions and checks the header against a format.
class Columns {
 public:
  // Returns false (and adds an error for line 1) when a required column is missing or an
  // unknown one is present.
  bool Resolve(const std::vector<std::string>& header, const std::vector<std::string>& required,
               const std::vector<std::string>& optional, std::vector<RowError>& errors) {
    header_size_ = header.size();
    std::vector<std::string> problems;
    for (size_t k = 0; k < header.size(); ++k) {
      const std::string& name = header[k];
      bool known = std::find(required.begin(), required.end(), name) != required.end() ||
                   std::find(optional.begin(), optional.end(), name) != optional.end();
      if (!known) {
        problems.push_back(absl::StrCat("unknown column \"", name, "\""));
      } else if (!index_.emplace(name, k).second) {
        problems.push_back(absl::StrCat("column \"", name, "\" appears twice"));
      }
    }
    for (const std::string& name : required) {
      if (index_.find(name) == index_.end()) {
        problems.push_back(absl::StrCat("missing column \"", name, "\""));
      }
    }
    if (!problems.empty()) {
      errors.push_back(RowError{
          1,
          absl::StrCat(
              absl::StrJoin(problems, "; "), " (want ", absl::StrJoin(required, ","),
              optional.empty() ? "" : absl::StrCat("[,", absl::StrJoin(optional, ","), "]"), ")")});
      return false;
    }
    return true;
  }

  bool Has(const std::string& name) const { return index_.find(name) != index_.end(); }

  // The trimmed value of a column in a row ("" when the column is absent).
  std::string Get(const CsvRow& row, const std::string& name) const {
    auto it = index_.find(name);
    if (it == index_.end() || it->second >= row.fields.size()) {
      return "";
    }
    return std::string(absl::StripAsciiWhitespace(row.fields[it->second]));
  }

  // An error message when the row's field count differs from the header's.
  std::optional<std::string> CheckWidth(const CsvRow& row) const {
    if (row.fields.size() == header_size_) {
      return std::nullopt;
    }
    return absl::StrCat("has ", row.fields.size(), " fields, the header has ", header_size_);
  }

 private:
  absl::flat_hash_map<std::string, size_t> index_;
  size_t header_size_ = 0;
};

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

std::string Quoted(absl::string_view value) { return absl::StrCat("\"", value, "\""); }

void CheckCode(const std::string& column, const std::string& value, bool required,
               std::vector<std::string>& problems) {
  if (value.empty()) {
    if (required) {
      problems.push_back(absl::StrCat(column, " is empty"));
    }
  } else if (!IsCode(value)) {
    problems.push_back(
        absl::StrCat(column, " ", Quoted(value),
                     " is not a unit code (letters and digits, e.g. \"01\", \"28249\")"));
  }
}

// The month column as "YYYY-MM"; empty (with a problem added) when it is not a month.
std::string ParseMonth(const std::string& value, std::vector<std::string>& problems) {
  absl::StatusOr<Month> month = Month::Parse(value);
  if (!month.ok()) {
    problems.push_back(absl::StrCat("month ", Quoted(value), " is not a month (YYYY-MM)"));
    return "";
  }
  return month->ToString();
}

// Parses a whole number; nullopt (with a problem added) when it is not one.
std::optional<int64_t> ParseCount(const std::string& column, const std::string& value,
                                  std::vector<std::string>& problems) {
  int64_t number = 0;
  if (value.empty()) {
    problems.push_back(absl::StrCat(column, " is empty"));
    return std::nullopt;
  }
  if (!absl::SimpleAtoi(value, &number)) {
    problems.push_back(absl::StrCat(column, " ", Quoted(value), " is not a whole number"));
    return std::nullopt;
  }
  return number;
}

void CheckDate(const std::string& column, const std::string& value,
               std::vector<std::string>& problems) {
  if (!value.empty() && !ValidateDate(value).ok()) {
    problems.push_back(absl::StrCat(column, " ", Quoted(value), " is not a date (YYYY-MM-DD)"));
  }
}

// Adds the row's problems (if any) as one error.
void Report(const CsvRow& row, std::vector<std::string>& problems, std::vector<RowError>& errors) {
  if (!problems.empty()) {
    errors.push_back(RowError{row.line, absl::StrJoin(problems, "; ")});
  }
}

// The loop every file shares. Each row of the header's width is given to `parse`, which fills
// a record and adds what is wrong with it to `problems`; a good row whose `key_of` an earlier
// good row already had is a mistake in the file too ("<describe> is already on line N"). Each
// bad row becomes one error; the good ones go to `parsed` with their lines.
template <typename Record, typename Parse, typename KeyOf, typename Describe>
void ParseEachRow(const CsvTable& table, const Columns& columns, Parse parse, KeyOf key_of,
                  Describe describe, ParsedRows<Record>& parsed) {
  std::map<decltype(key_of(std::declval<const Record&>())), int> first_line;
  for (const CsvRow& row : table.rows) {
    std::vector<std::string> problems;
    if (auto width = columns.CheckWidth(row)) {
      problems.push_back(*width);
    } else {
      Record record;
      parse(row, record, problems);
      if (problems.empty()) {
        auto [it, inserted] = first_line.emplace(key_of(record), row.line);
        if (inserted) {
          parsed.items.push_back(std::move(record));
          parsed.lines.push_back(row.line);
          continue;
        }
        problems.push_back(absl::StrCat(describe(record), " is already on line ", it->second));
      }
    }
    Report(row, problems, parsed.errors);
  }
}

}  // namespace

ParsedRows<v1::AdminUnit> ParseUnitRows(const CsvTable& table, const UnitDefaults& defaults) {
  ParsedRows<v1::AdminUnit> parsed;
  Columns columns;
  if (!columns.Resolve(table.header, {"code", "name", "level", "type", "parent_code"},
                       {"valid_from", "valid_to"}, parsed.errors)) {
    return parsed;
  }
  std::vector<std::string> header_problems;
  if (!defaults.valid_from.empty() && columns.Has("valid_from")) {
    header_problems.push_back("the file has a valid_from column; do not also give --valid_from");
  }
  if (!defaults.valid_to.empty() && columns.Has("valid_to")) {
    header_problems.push_back("the file has a valid_to column; do not also give --valid_to");
  }
  if (!header_problems.empty()) {
    parsed.errors.push_back(RowError{1, absl::StrJoin(header_problems, "; ")});
    return parsed;
  }
  // (code, valid_from) identifies a unit: a second row for it is a mistake in the file.
  ParseEachRow(
      table, columns,
      [&](const CsvRow& row, v1::AdminUnit& unit, std::vector<std::string>& problems) {
        unit.set_code(columns.Get(row, "code"));
        unit.set_name(columns.Get(row, "name"));
        unit.set_type(columns.Get(row, "type"));
        unit.set_parent_code(columns.Get(row, "parent_code"));
        unit.set_valid_from(columns.Has("valid_from") ? columns.Get(row, "valid_from")
                                                      : defaults.valid_from);
        unit.set_valid_to(columns.Has("valid_to") ? columns.Get(row, "valid_to")
                                                  : defaults.valid_to);
        CheckCode("code", unit.code(), /*required=*/true, problems);
        if (unit.name().empty()) {
          problems.push_back("name is empty");
        }
        std::string level_text = columns.Get(row, "level");
        absl::StatusOr<v1::AdminLevel> level = ParseLevel(level_text);
        if (!level.ok()) {
          problems.push_back(absl::StrCat("level ", Quoted(level_text),
                                          " is not one of province, district, commune"));
        } else {
          unit.set_level(*level);
        }
        bool needs_parent =
            level.ok() && *level != v1::ADMIN_LEVEL_PROVINCE && *level != v1::ADMIN_LEVEL_NATION;
        CheckCode("parent_code", unit.parent_code(), needs_parent, problems);
        CheckDate("valid_from", unit.valid_from(), problems);
        CheckDate("valid_to", unit.valid_to(), problems);
        if (!unit.valid_from().empty() && !unit.valid_to().empty() &&
            unit.valid_from() >= unit.valid_to() && ValidateDate(unit.valid_from()).ok() &&
            ValidateDate(unit.valid_to()).ok()) {
          problems.push_back(absl::StrCat("valid_from ", unit.valid_from(),
                                          " is not before valid_to ", unit.valid_to()));
        }
      },
      [](const v1::AdminUnit& unit) { return std::make_pair(unit.code(), unit.valid_from()); },
      [](const v1::AdminUnit& unit) {
        return absl::StrCat("unit ", unit.code(), " valid from ",
                            unit.valid_from().empty() ? "always" : unit.valid_from());
      },
      parsed);
  return parsed;
}

ParsedRows<v1::ParticipationRecord> ParseParticipationRows(const CsvTable& table) {
  ParsedRows<v1::ParticipationRecord> parsed;
  Columns columns;
  if (!columns.Resolve(table.header, {"unit_code", "month", "scheme", "participants"},
                       {"in_province_participants"}, parsed.errors)) {
    return parsed;
  }
  ParseEachRow(
      table, columns,
      [&](const CsvRow& row, v1::ParticipationRecord& record, std::vector<std::string>& problems) {
        record.set_unit_code(columns.Get(row, "unit_code"));
        CheckCode("unit_code", record.unit_code(), /*required=*/true, problems);
        record.set_month(ParseMonth(columns.Get(row, "month"), problems));
        std::string scheme_text = columns.Get(row, "scheme");
        absl::StatusOr<v1::Scheme> scheme = ParseScheme(scheme_text);
        if (!scheme.ok() || !IsReportedScheme(*scheme)) {
          problems.push_back(absl::StrCat(
              "scheme ", Quoted(scheme_text),
              scheme.ok()
                  ? " is derived (compulsory + voluntary) and cannot be reported"
                  : " is not one of compulsory_social, voluntary_social, health, unemployment"));
        } else {
          record.set_scheme(*scheme);
        }
        std::optional<int64_t> participants =
            ParseCount("participants", columns.Get(row, "participants"), problems);
        if (participants.has_value()) {
          if (*participants < 0) {
            problems.push_back(absl::StrCat("participants ", *participants, " is negative"));
          }
          record.set_participants(*participants);
        }
        std::string in_province_text = columns.Get(row, "in_province_participants");
        if (!in_province_text.empty()) {
          std::optional<int64_t> in_province =
              ParseCount("in_province_participants", in_province_text, problems);
          if (in_province.has_value()) {
            if (*in_province < 0) {
              problems.push_back(
                  absl::StrCat("in_province_participants ", *in_province, " is negative"));
            } else if (participants.has_value() && *in_province > *participants) {
              problems.push_back(absl::StrCat("in_province_participants ", *in_province,
                                              " is above participants ", *participants));
            }
            record.set_in_province_participants(*in_province);
          }
        }
      },
      [](const v1::ParticipationRecord& record) {
        return std::make_tuple(record.unit_code(), record.month(),
                               static_cast<int>(record.scheme()));
      },
      [](const v1::ParticipationRecord& record) {
        return absl::StrCat("unit ", record.unit_code(), " ", record.month(), " ",
                            SchemeName(record.scheme()));
      },
      parsed);
  return parsed;
}

ParsedRows<v1::DenominatorRecord> ParseDenominatorRows(const CsvTable& table) {
  ParsedRows<v1::DenominatorRecord> parsed;
  Columns columns;
  if (!columns.Resolve(table.header, {"unit_code", "year", "kind", "value"}, {}, parsed.errors)) {
    return parsed;
  }
  ParseEachRow(
      table, columns,
      [&](const CsvRow& row, v1::DenominatorRecord& record, std::vector<std::string>& problems) {
        record.set_unit_code(columns.Get(row, "unit_code"));
        CheckCode("unit_code", record.unit_code(), /*required=*/true, problems);
        std::string year_text = columns.Get(row, "year");
        int year = 0;
        if (!absl::SimpleAtoi(year_text, &year) || year < 1900 || year > 2200) {
          problems.push_back(
              absl::StrCat("year ", Quoted(year_text), " is not a year (1900..2200)"));
        } else {
          record.set_year(year);
        }
        std::string kind_text = columns.Get(row, "kind");
        absl::StatusOr<v1::DenominatorKind> kind = ParseDenominatorKind(kind_text);
        if (!kind.ok()) {
          problems.push_back(
              absl::StrCat("kind ", Quoted(kind_text), " is not one of population, labor_force"));
        } else {
          record.set_kind(*kind);
        }
        std::optional<int64_t> value = ParseCount("value", columns.Get(row, "value"), problems);
        if (value.has_value()) {
          if (*value <= 0) {
            problems.push_back(absl::StrCat("value ", *value, " must be above zero"));
          }
          record.set_value(*value);
        }
      },
      [](const v1::DenominatorRecord& record) {
        return std::make_tuple(record.unit_code(), record.year(), static_cast<int>(record.kind()));
      },
      [](const v1::DenominatorRecord& record) {
        return absl::StrCat("unit ", record.unit_code(), " ", record.year(), " ",
                            DenominatorKindName(record.kind()));
      },
      parsed);
  return parsed;
}

std::vector<std::string> UnitCsvHeader() {
  return {"code", "name", "level", "type", "parent_code", "valid_from", "valid_to"};
}

std::vector<std::string> UnitCsvFields(const v1::AdminUnit& unit) {
  return {unit.code(),        unit.name(),       LevelName(unit.level()), unit.type(),
          unit.parent_code(), unit.valid_from(), unit.valid_to()};
}

ParsedRows<v1::MeasureRecord> ParseMeasureRows(const CsvTable& table) {
  ParsedRows<v1::MeasureRecord> parsed;
  Columns columns;
  if (!columns.Resolve(table.header,
                       {"unit_code", "month", "measure", "scheme", "payer_group", "value"}, {},
                       parsed.errors)) {
    return parsed;
  }
  ParseEachRow(
      table, columns,
      [&](const CsvRow& row, v1::MeasureRecord& record, std::vector<std::string>& problems) {
        record.set_unit_code(columns.Get(row, "unit_code"));
        CheckCode("unit_code", record.unit_code(), /*required=*/true, problems);
        record.set_month(ParseMonth(columns.Get(row, "month"), problems));
        const std::string measure_text = columns.Get(row, "measure");
        absl::StatusOr<v1::Measure> measure = ParseMeasure(measure_text);
        const MeasureInfo* info = measure.ok() ? FindMeasure(*measure) : nullptr;
        if (info == nullptr || info->source != MeasureSource::kMeasureRecord) {
          problems.push_back(absl::StrCat(
              "measure ", Quoted(measure_text),
              info == nullptr ? " is not a measure (docs/measures.md lists them)"
                              : " is not reported in a measures file (participants: the "
                                "participation file; a derived measure: never)"));
        } else {
          record.set_measure(*measure);
        }
        const std::string scheme_text = columns.Get(row, "scheme");
        if (!scheme_text.empty()) {
          absl::StatusOr<v1::Scheme> scheme = ParseScheme(scheme_text);
          if (!scheme.ok()) {
            problems.push_back(absl::StrCat("scheme ", Quoted(scheme_text), " is not a scheme"));
          } else {
            record.set_scheme(*scheme);
          }
        }
        const std::string group_text = columns.Get(row, "payer_group");
        absl::StatusOr<v1::PayerGroup> group = ParsePayerGroup(group_text);
        if (!group.ok()) {
          problems.push_back(
              absl::StrCat("payer_group ", Quoted(group_text),
                           " is not one of employer_employee, social_insurance_fund, "
                           "state_budget, state_budget_supported, household"));
        } else {
          record.set_payer_group(*group);
        }
        if (info != nullptr && problems.empty()) {
          std::string field;
          if (std::string problem =
                  MeasureKeyProblem(*info, record.scheme(), record.payer_group(), &field);
              !problem.empty()) {
            problems.push_back(absl::StrCat(field, ": ", problem));
          }
        }
        std::optional<int64_t> value = ParseCount("value", columns.Get(row, "value"), problems);
        if (value.has_value()) {
          if (*value < 0) {
            problems.push_back(absl::StrCat("value ", *value, " is negative"));
          } else if (info != nullptr && *value > info->bound) {
            problems.push_back(
                absl::StrCat("value ", *value, " is above ", info->name, "'s bound ", info->bound));
          }
          record.set_value(*value);
        }
      },
      [](const v1::MeasureRecord& record) {
        return std::make_tuple(
            record.unit_code(), record.month(), static_cast<int>(record.measure()),
            static_cast<int>(record.scheme()), static_cast<int>(record.payer_group()));
      },
      [](const v1::MeasureRecord& record) {
        // A good row's measure is in the registry.
        return absl::StrCat("unit ", record.unit_code(), " ", record.month(), " ",
                            FindMeasure(record.measure())->name, " ", SchemeName(record.scheme()),
                            " ", PayerGroupName(record.payer_group()));
      },
      parsed);
  return parsed;
}

std::vector<std::string> ParticipationCsvHeader() {
  return {"unit_code", "month", "scheme", "participants", "in_province_participants"};
}

std::vector<std::string> ParticipationCsvFields(const v1::ParticipationRecord& record) {
  return {
      record.unit_code(), record.month(), SchemeName(record.scheme()),
      absl::StrCat(record.participants()),
      record.has_in_province_participants() ? absl::StrCat(record.in_province_participants()) : ""};
}

std::vector<std::string> DenominatorCsvHeader() { return {"unit_code", "year", "kind", "value"}; }

std::vector<std::string> DenominatorCsvFields(const v1::DenominatorRecord& record) {
  return {record.unit_code(), absl::StrCat(record.year()), DenominatorKindName(record.kind()),
          absl::StrCat(record.value())};
}

std::vector<std::string> MeasureCsvHeader() {
  return {"unit_code", "month", "measure", "scheme", "payer_group", "value"};
}

std::vector<std::string> MeasureCsvFields(const v1::MeasureRecord& record) {
  return {record.unit_code(),
          record.month(),
          MeasureName(record.measure()),
          record.scheme() == v1::SCHEME_UNSPECIFIED ? "" : SchemeName(record.scheme()),
          PayerGroupName(record.payer_group()),
          absl::StrCat(record.value())};
}

}  // namespace covtrack::sampledata
