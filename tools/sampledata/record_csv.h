#pragma once

// The CSV formats covctl reads and covtrack-datagen writes, one place for both directions:
//
//   units:          code,name,level,type,parent_code[,valid_from,valid_to]
//   participation:  unit_code,month,scheme,participants[,in_province_participants]
//   denominators:   unit_code,year,kind,value
//   measures:       unit_code,month,measure,scheme,payer_group,value (docs/measures.md)
//
// Columns are found by name (any order); unknown columns are an error. Every row is checked,
// and every problem of every row is reported with the row's line number, so a person can fix
// the whole file in one pass.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "covtrack/v1/common.pb.h"
#include "tools/sampledata/csv.h"

namespace covtrack::sampledata {

struct RowError {
  int line = 0;         // 1 is the header
  std::string message;  // names the column and the offending value
};

template <typename T>
struct ParsedRows {
  std::vector<T> items;          // the good rows, in file order
  std::vector<int> lines;        // items[i] came from line lines[i]
  std::vector<RowError> errors;  // in line order; empty when the whole file is good
};

// Validity to give units when the file has no valid_from / valid_to columns (the reference
// catalogues do not: units_2025-03-01.csv is valid until 2025-07-01, units_2025-07-01.csv
// from then). A file that has the column and a non-empty default here is an error.
struct UnitDefaults {
  std::string valid_from;
  std::string valid_to;
};

ParsedRows<v1::AdminUnit> ParseUnitRows(const CsvTable& table, const UnitDefaults& defaults = {});
// Checks what the ingestion service would reject: a malformed month, an unknown or derived
// scheme, a negative count, in_province_participants above participants, and a second row
// for the same (unit_code, month, scheme).
ParsedRows<v1::ParticipationRecord> ParseParticipationRows(const CsvTable& table);
// Rejects a year outside 1900..2200, an unknown kind, a value of zero or below, and a second
// row for the same (unit_code, year, kind).
ParsedRows<v1::DenominatorRecord> ParseDenominatorRows(const CsvTable& table);

// Checks each row by the measure registry (common/measures.h) as the ingestion service would:
// the measure's name, its scheme and payer group (names as SchemeName and PayerGroupName; empty
// where the measure has none), a value from 0 to the measure's bound, and a second row for the
// same key. Parts within wholes (payer groups within a total, overdue within owed) need what is
// stored, so the service checks them.
ParsedRows<v1::MeasureRecord> ParseMeasureRows(const CsvTable& table);

std::vector<std::string> UnitCsvHeader();  // with valid_from and valid_to
std::vector<std::string> UnitCsvFields(const v1::AdminUnit& unit);
std::vector<std::string> ParticipationCsvHeader();
std::vector<std::string> ParticipationCsvFields(const v1::ParticipationRecord& record);
std::vector<std::string> DenominatorCsvHeader();
std::vector<std::string> DenominatorCsvFields(const v1::DenominatorRecord& record);
std::vector<std::string> MeasureCsvHeader();
std::vector<std::string> MeasureCsvFields(const v1::MeasureRecord& record);

}  // namespace covtrack::sampledata
