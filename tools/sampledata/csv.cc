#include "tools/sampledata/csv.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/text.h"

namespace covtrack::sampledata {
namespace {

absl::Status CheckUtf8(absl::string_view text) {
  int line = 1;
  for (size_t i = 0; i < text.size();) {
    size_t length = Utf8SequenceLength(text, i);
    if (length == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line, ": invalid UTF-8 (save the file as UTF-8)"));
    }
    if (text[i] == '\n') {
      ++line;
    }
    i += length;
  }
  return absl::OkStatus();
}

bool IsBlank(const CsvRow& row) { return row.fields.size() == 1 && row.fields[0].empty(); }

}  // namespace

absl::StatusOr<CsvTable> ParseCsv(absl::string_view text) {
  if (absl::StartsWith(text, "\xEF\xBB\xBF")) {
    text.remove_prefix(3);
  }
  if (absl::Status status = CheckUtf8(text); !status.ok()) {
    return status;
  }
  std::vector<CsvRow> rows;
  int line = 1;
  size_t i = 0;
  while (i < text.size()) {
    CsvRow row;
    row.line = line;
    std::string field;
    bool row_done = false;
    while (!row_done) {
      if (i < text.size() && text[i] == '"') {
        // A quoted field: runs to the closing quote; "" is a literal quote.
        int quote_line = line;
        ++i;
        while (true) {
          if (i >= text.size()) {
            return absl::InvalidArgumentError(
                absl::StrCat("line ", quote_line, ": unterminated quoted field"));
          }
          char c = text[i];
          if (c == '"') {
            if (i + 1 < text.size() && text[i + 1] == '"') {
              field.push_back('"');
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          if (c == '\n') {
            ++line;
          }
          field.push_back(c);
          ++i;
        }
        // After the closing quote: a separator, a line end or the end of the text.
        if (i < text.size() && text[i] != ',' && text[i] != '\n' &&
            !(text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') &&
            !(text[i] == '\r' && i + 1 == text.size())) {
          return absl::InvalidArgumentError(
              absl::StrCat("line ", line, ": unexpected character after a closing quote"));
        }
      } else {
        while (i < text.size() && text[i] != ',' && text[i] != '\n') {
          if (text[i] == '\r' && (i + 1 == text.size() || text[i + 1] == '\n')) {
            break;
          }
          if (text[i] == '"') {
            return absl::InvalidArgumentError(absl::StrCat(
                "line ", line, ": a quote inside an unquoted field (quote the whole field)"));
          }
          field.push_back(text[i]);
          ++i;
        }
      }
      row.fields.push_back(std::move(field));
      field.clear();
      if (i >= text.size()) {
        row_done = true;
      } else if (text[i] == ',') {
        ++i;
      } else {
        // A line end: CRLF or LF (a lone CR at the very end counts as one).
        if (text[i] == '\r') {
          ++i;
        }
        if (i < text.size() && text[i] == '\n') {
          ++i;
        }
        ++line;
        row_done = true;
      }
    }
    if (!IsBlank(row)) {
      rows.push_back(std::move(row));
    }
  }
  if (rows.empty()) {
    return absl::InvalidArgumentError("line 1: the file is empty (a header row is required)");
  }
  CsvTable table;
  for (std::string& name : rows.front().fields) {
    table.header.push_back(std::string(absl::StripAsciiWhitespace(name)));
  }
  table.rows.assign(std::make_move_iterator(rows.begin() + 1), std::make_move_iterator(rows.end()));
  return table;
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int error = errno;
    std::string message = absl::StrCat(path, ": ", std::strerror(error));
    if (error == ENOENT) {
      return absl::NotFoundError(message);
    }
    if (error == EACCES) {
      return absl::PermissionDeniedError(message);
    }
    return absl::InvalidArgumentError(message);
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat(path, ": read failed"));
  }
  return contents.str();
}

std::string CsvLine(const std::vector<std::string>& fields) {
  std::string out;
  for (size_t k = 0; k < fields.size(); ++k) {
    if (k > 0) {
      out.push_back(',');
    }
    const std::string& field = fields[k];
    if (field.find_first_of(",\"\r\n") == std::string::npos) {
      out += field;
      continue;
    }
    out.push_back('"');
    for (char c : field) {
      if (c == '"') {
        out.push_back('"');
      }
      out.push_back(c);
    }
    out.push_back('"');
  }
  return out;
}

}  // namespace covtrack::sampledata
