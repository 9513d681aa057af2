#include "tools/covctl/crosswalk_csv.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/period.h"

namespace covtrack::covctl {
namespace {

using sampledata::CsvRow;
using sampledata::CsvTable;
using sampledata::ParsedRows;
using sampledata::RowError;

// The same tolerance as the service's (ingestion_service.proto, ImportCrosswalk).
constexpr double kShareTolerance = 1e-9;
// Values longer than this are cut in messages: a message never echoes a huge cell.
constexpr size_t kMaxQuoted = 40;

const std::vector<std::string>& KnownColumns() {
  static const auto* const kColumns = new std::vector<std::string>{
      "old_code",          "new_code", "effective_date", "population_share", "share",
      "labor_force_share", "kind",     "old_name",       "new_name",         "level"};
  return *kColumns;
}

std::string Quoted(absl::string_view value) {
  if (value.size() > kMaxQuoted) {
    return absl::StrCat("\"", value.substr(0, kMaxQuoted), "...\"");
  }
  return absl::StrCat("\"", value, "\"");
}

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

// A share cell: nullopt (with a problem added) when it is not a number in (0, 1].
std::optional<double> ParseShare(const std::string& column, const std::string& value,
                                 std::vector<std::string>& problems) {
  double share = 0;
  if (!absl::SimpleAtod(value, &share) || !std::isfinite(share)) {
    problems.push_back(absl::StrCat(column, " ", Quoted(value), " is not a number"));
    return std::nullopt;
  }
  if (share <= 0 || share > 1) {
    problems.push_back(absl::StrCat(column, " ", Quoted(value),
                                    " is outside (0, 1] (the part of the old unit that went to "
                                    "the new one; 1 for a whole unit)"));
    return std::nullopt;
  }
  return share;
}

// The rows of one old unit at one effective date, to check that its shares add up.
struct Split {
  std::vector<size_t> items;  // indexes into ParsedRows::items
};

}  // namespace

ParsedRows<v1::CrosswalkLink> ParseCrosswalkRows(const CsvTable& table,
                                                 const std::string& default_effective_date) {
  ParsedRows<v1::CrosswalkLink> parsed;
  absl::flat_hash_map<std::string, size_t> index;
  std::vector<std::string> header_problems;
  for (size_t k = 0; k < table.header.size(); ++k) {
    const std::string& name = table.header[k];
    if (std::find(KnownColumns().begin(), KnownColumns().end(), name) == KnownColumns().end()) {
      header_problems.push_back(absl::StrCat("unknown column ", Quoted(name)));
    } else if (!index.emplace(name, k).second) {
      header_problems.push_back(absl::StrCat("column \"", name, "\" appears twice"));
    }
  }
  for (const char* name : {"old_code", "new_code"}) {
    if (!index.contains(name)) {
      header_problems.push_back(absl::StrCat("missing column \"", name, "\""));
    }
  }
  if (index.contains("population_share") && index.contains("share")) {
    header_problems.push_back("give population_share or share, not both");
  }
  if (!index.contains("effective_date") && default_effective_date.empty()) {
    header_problems.push_back(
        "no effective date: add an effective_date column or give --effective_date=YYYY-MM-DD");
  }
  if (!header_problems.empty()) {
    parsed.errors.push_back(
        RowError{1, absl::StrCat(absl::StrJoin(header_problems, "; "),
                                 " (want old_code,new_code[,effective_date][,population_share][,"
                                 "labor_force_share][,kind])")});
    return parsed;
  }
  const std::string share_column = index.contains("share") ? "share" : "population_share";
  auto get = [&](const CsvRow& row, const std::string& name) -> std::string {
    auto it = index.find(name);
    if (it == index.end() || it->second >= row.fields.size()) {
      return "";
    }
    return std::string(absl::StripAsciiWhitespace(row.fields[it->second]));
  };

  // Links whose share comes from the rule of counting rows (neither share nor kind given).
  std::vector<size_t> counted;
  std::map<std::tuple<std::string, std::string, std::string>, int> first_line;
  for (const CsvRow& row : table.rows) {
    std::vector<std::string> problems;
    if (row.fields.size() != table.header.size()) {
      parsed.errors.push_back(
          RowError{row.line, absl::StrCat("has ", row.fields.size(), " fields, the header has ",
                                          table.header.size())});
      continue;
    }
    v1::CrosswalkLink link;
    link.set_from_code(get(row, "old_code"));
    link.set_to_code(get(row, "new_code"));
    std::string date = get(row, "effective_date");
    link.set_effective_date(date.empty() ? default_effective_date : date);
    for (const auto& [column, code] :
         {std::pair<const char*, const std::string&>{"old_code", link.from_code()},
          std::pair<const char*, const std::string&>{"new_code", link.to_code()}}) {
      if (code.empty()) {
        problems.push_back(absl::StrCat(column, " is empty"));
      } else if (!IsCode(code)) {
        problems.push_back(absl::StrCat(
            column, " ", Quoted(code), " is not a unit code (letters and digits, e.g. \"28249\")"));
      }
    }
    if (link.effective_date().empty()) {
      problems.push_back("effective_date is empty (and no --effective_date was given)");
    } else if (!ValidateDate(link.effective_date()).ok()) {
      problems.push_back(absl::StrCat("effective_date ", Quoted(link.effective_date()),
                                      " is not a date (YYYY-MM-DD)"));
    }
    bool share_from_count = false;
    if (std::string share = get(row, share_column); !share.empty()) {
      if (std::optional<double> value = ParseShare(share_column, share, problems)) {
        link.set_population_share(*value);
      }
    } else if (index.contains("kind")) {
      std::string kind = get(row, "kind");
      if (kind == "full") {
        link.set_population_share(1.0);
      } else if (kind != "partial") {
        problems.push_back(absl::StrCat("kind ", Quoted(kind), " is not full or partial (or give ",
                                        share_column, ")"));
      }
    } else {
      share_from_count = true;
    }
    if (std::string share = get(row, "labor_force_share"); !share.empty()) {
      if (std::optional<double> value = ParseShare("labor_force_share", share, problems)) {
        // As the service says: a labour-force share refines a known population share. (A row
        // whose population share comes from counting rows is checked below, once it is known.)
        if (!link.has_population_share() && !share_from_count) {
          problems.push_back("labor_force_share is given without a population share");
        }
        link.set_labor_force_share(*value);
      }
    }
    if (problems.empty()) {
      auto [it, inserted] = first_line.emplace(
          std::make_tuple(link.from_code(), link.to_code(), link.effective_date()), row.line);
      if (!inserted) {
        problems.push_back(absl::StrCat("the link ", link.from_code(), " -> ", link.to_code(),
                                        " from ", link.effective_date(), " is already on line ",
                                        it->second));
      }
    }
    if (!problems.empty()) {
      parsed.errors.push_back(RowError{row.line, absl::StrJoin(problems, "; ")});
      continue;
    }
    if (share_from_count) {
      counted.push_back(parsed.items.size());
    }
    parsed.items.push_back(std::move(link));
    parsed.lines.push_back(row.line);
  }

  std::map<std::pair<std::string, std::string>, Split> splits;
  for (size_t i = 0; i < parsed.items.size(); ++i) {
    const v1::CrosswalkLink& link = parsed.items[i];
    splits[{link.from_code(), link.effective_date()}].items.push_back(i);
  }
  for (size_t i : counted) {
    const v1::CrosswalkLink& link = parsed.items[i];
    if (splits[{link.from_code(), link.effective_date()}].items.size() == 1) {
      parsed.items[i].set_population_share(1.0);
    } else if (link.has_labor_force_share()) {
      parsed.errors.push_back(RowError{
          parsed.lines[i], absl::StrCat("labor_force_share is given without a population share (",
                                        link.from_code(), " is on several rows: split)")});
    }
  }
  // The known shares of one old unit must not exceed 1. Whether they add up to 1 only the
  // service can tell: a file may give the share of one link of a split unit whose other links
  // it stores already.
  for (const auto& [key, split] : splits) {
    for (bool labor_force : {false, true}) {
      double sum = 0;
      bool any_labor_force = false;
      for (size_t i : split.items) {
        const v1::CrosswalkLink& link = parsed.items[i];
        any_labor_force = any_labor_force || link.has_labor_force_share();
        if (labor_force && link.has_labor_force_share()) {
          sum += link.labor_force_share();
        } else if (link.has_population_share()) {
          sum += link.population_share();
        }
      }
      if (labor_force && !any_labor_force) {
        continue;  // the labour-force shares are the population shares, checked already
      }
      if (sum <= 1 + kShareTolerance) {
        continue;
      }
      std::vector<int> lines;
      for (size_t i : split.items) {
        lines.push_back(parsed.lines[i]);
      }
      parsed.errors.push_back(
          RowError{lines.back(),
                   absl::StrCat(labor_force ? "labor_force_share" : share_column,
                                ": the shares of ", key.first, " from ", key.second, " (lines ",
                                absl::StrJoin(lines, ", "), ") add up to ", sum, ", more than 1")});
    }
  }
  std::stable_sort(parsed.errors.begin(), parsed.errors.end(),
                   [](const RowError& a, const RowError& b) { return a.line < b.line; });
  return parsed;
}

CrosswalkCounts CountShares(const std::vector<v1::CrosswalkLink>& links) {
  CrosswalkCounts counts;
  for (const v1::CrosswalkLink& link : links) {
    if (!link.has_population_share()) {
      ++counts.share_unknown;
    } else if (link.population_share() == 1.0) {
      ++counts.whole;
    } else {
      ++counts.with_share;
    }
  }
  return counts;
}

}  // namespace covtrack::covctl
