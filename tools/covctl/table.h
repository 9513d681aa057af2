#pragma once

// A table of text cells rendered for people (aligned columns, numbers to the right) or as CSV.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace covtrack::covctl {

class Table {
 public:
  enum class Align { kLeft, kRight };
  struct Column {
    std::string name;
    Align align = Align::kLeft;
  };

  explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

  // A row with one cell per column (missing cells are empty, extra ones are dropped).
  void AddRow(std::vector<std::string> cells);
  size_t size() const { return rows_.size(); }

  // Columns padded to their widest cell (counted in characters, not bytes, so Vietnamese
  // names line up), separated by two spaces, a dashed rule under the header, no trailing
  // spaces. Every line ends with '\n'.
  std::string RenderText() const;
  // RFC 4180 CSV with a header row; cells as given (callers pass raw numbers for CSV).
  std::string RenderCsv() const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// The number of characters (Unicode code points) in UTF-8 text.
size_t DisplayWidth(absl::string_view text);

// 8053663 -> "8,053,663" (tables for people; CSV and JSON carry plain numbers).
std::string GroupThousands(int64_t value);
// 89.94 -> "89.94" with `decimals` places; a signed variant for changes: "+0.90", "-1.25".
std::string FormatFixed(double value, int decimals);
std::string FormatSigned(double value, int decimals);
std::string FormatSignedCount(int64_t value);  // "+203", "-5", "0"

}  // namespace covtrack::covctl
