#include "tools/covctl/table.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/sampledata/csv.h"

namespace covtrack::covctl {

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

size_t DisplayWidth(absl::string_view text) {
  size_t width = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) {  // count every byte that starts a character
      ++width;
    }
  }
  return width;
}

std::string Table::RenderText() const {
  std::vector<size_t> widths(columns_.size());
  for (size_t c = 0; c < columns_.size(); ++c) {
    widths[c] = DisplayWidth(columns_[c].name);
    for (const auto& row : rows_) {
      widths[c] = std::max(widths[c], DisplayWidth(row[c]));
    }
  }
  auto render_line = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t c = 0; c < cells.size(); ++c) {
      std::string padding(widths[c] - DisplayWidth(cells[c]), ' ');
      if (c > 0) {
        line += "  ";
      }
      if (columns_[c].align == Align::kRight) {
        absl::StrAppend(&line, padding, cells[c]);
      } else {
        absl::StrAppend(&line, cells[c], padding);
      }
    }
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    return line + "\n";
  };
  std::vector<std::string> names;
  std::vector<std::string> rules;
  for (size_t c = 0; c < columns_.size(); ++c) {
    names.push_back(columns_[c].name);
    rules.push_back(std::string(widths[c], '-'));
  }
  std::string out = render_line(names) + render_line(rules);
  for (const auto& row : rows_) {
    out += render_line(row);
  }
  return out;
}

std::string Table::RenderCsv() const {
  std::vector<std::string> names;
  for (const Column& column : columns_) {
    names.push_back(column.name);
  }
  std::string out = sampledata::CsvLine(names) + "\n";
  for (const auto& row : rows_) {
    out += sampledata::CsvLine(row) + "\n";
  }
  return out;
}

std::string GroupThousands(int64_t value) {
  std::string digits =
      absl::StrCat(value < 0 ? -static_cast<uint64_t>(value) : static_cast<uint64_t>(value));
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) {
      out.push_back(',');
    }
    out.push_back(digits[i]);
  }
  return value < 0 ? "-" + out : out;
}

std::string FormatFixed(double value, int decimals) {
  std::string out = absl::StrFormat("%.*f", decimals, value);
  // "-0.00" reads as a change where there is none.
  if (out[0] == '-' && out.find_first_not_of("-0.") == std::string::npos) {
    out.erase(0, 1);
  }
  return out;
}

std::string FormatSigned(double value, int decimals) {
  std::string out = FormatFixed(value, decimals);
  return out[0] == '-' || out.find_first_not_of("0.") == std::string::npos ? out : "+" + out;
}

std::string FormatSignedCount(int64_t value) {
  return value > 0 ? "+" + GroupThousands(value) : GroupThousands(value);
}

}  // namespace covtrack::covctl
