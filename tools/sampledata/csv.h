#pragma once

// A small CSV reader and writer (RFC 4180): fields may be quoted with '"', a quote inside a
// quoted field is doubled, quoted fields may hold commas and line breaks. Lines end in LF or
// CRLF; a UTF-8 byte-order mark at the start is skipped; text must be valid UTF-8.
// Every row carries the line number it starts on, so errors can point at the file.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace covtrack::sampledata {

struct CsvRow {
  int line = 0;  // 1-based line number in the file where the row starts
  std::vector<std::string> fields;
};

struct CsvTable {
  std::vector<std::string> header;  // the first row, names trimmed of surrounding spaces
  std::vector<CsvRow> rows;         // every following non-empty row
};

// Parses a whole file's text. Blank lines are skipped. Structural errors (an unterminated
// quote, a quote in the middle of an unquoted field, invalid UTF-8, no header) are
// INVALID_ARGUMENT naming the line. A row whose field count differs from the header's is NOT
// an error here: the caller reports it with the row's other problems.
absl::StatusOr<CsvTable> ParseCsv(absl::string_view text);

// Reads a file (NOT_FOUND / PERMISSION_DENIED... naming the path on failure).
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// One CSV line (without the line break), quoting fields that need it.
std::string CsvLine(const std::vector<std::string>& fields);

}  // namespace covtrack::sampledata
