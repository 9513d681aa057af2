#pragma once

// The crosswalk CSV that `covctl crosswalk import` reads (docs/cli.md), checked row by row
// before anything is sent:
//
//   old_code,new_code[,effective_date][,population_share|share][,labor_force_share][,kind]
//   [,old_name,new_name,level]   (informative, as in the shipped merge_map_2025*.csv; ignored)
//
// Each row is one CrosswalkLink (common.proto). Its population share is, in this order:
//   1. the population_share (or share) column, when the file has it and the row's cell is not
//      empty: a number in (0, 1];
//   2. else the kind column, when the file has it: "full" is 1, "partial" is unknown;
//   3. else, with neither column: an old code on exactly one row of its effective date went
//      whole to its successor (1); an old code on several rows was split, its shares unknown.
// labor_force_share, when given, must lie in (0, 1], on a row whose population share is known.
// effective_date is the row's cell when the
// file has the column and the cell is not empty, else the --effective_date default.

#include <string>

#include "covtrack/v1/common.pb.h"
#include "tools/sampledata/csv.h"
#include "tools/sampledata/record_csv.h"

namespace covtrack::covctl {

// At most this many links in one file: ImportCrosswalkRequest's limit, one request per file so
// that the import is all-or-nothing.
inline constexpr size_t kMaxCrosswalkLinks = 20000;

struct CrosswalkCounts {
  size_t whole = 0;          // share 1
  size_t with_share = 0;     // a share below 1
  size_t share_unknown = 0;  // no share
};

// Parses and checks every row: codes, dates, shares in (0, 1], a link given twice, and the known
// shares of one old unit at one date exceeding 1 (that they add up to 1 the service checks, with
// the links it stores). `default_effective_date` may be empty; a row then needs the column. The
// header
// problems (a missing or unknown column, no effective date at all) are reported on line 1.
sampledata::ParsedRows<v1::CrosswalkLink> ParseCrosswalkRows(
    const sampledata::CsvTable& table, const std::string& default_effective_date);

CrosswalkCounts CountShares(const std::vector<v1::CrosswalkLink>& links);

}  // namespace covtrack::covctl
