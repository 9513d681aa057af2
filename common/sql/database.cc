#include "common/sql/database.h"

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/sql/postgres_database.h"
#include "common/sql/sqlite_database.h"

namespace covtrack::sql {

bool Row::IsNull(size_t i) const { return std::holds_alternative<std::monostate>(cells_.at(i)); }

int64_t Row::Int(size_t i) const {
  const Value& v = cells_.at(i);
  if (const int64_t* n = std::get_if<int64_t>(&v)) {
    return *n;
  }
  if (const std::string* s = std::get_if<std::string>(&v)) {
    int64_t n = 0;
    return absl::SimpleAtoi(*s, &n) ? n : 0;
  }
  if (const double* d = std::get_if<double>(&v)) {
    return static_cast<int64_t>(*d);
  }
  return 0;
}

double Row::Double(size_t i) const {
  const Value& v = cells_.at(i);
  if (const double* d = std::get_if<double>(&v)) {
    return *d;
  }
  if (const int64_t* n = std::get_if<int64_t>(&v)) {
    return static_cast<double>(*n);
  }
  if (const std::string* s = std::get_if<std::string>(&v)) {
    return std::strtod(s->c_str(), nullptr);
  }
  return 0;
}

std::string Row::Text(size_t i) const {
  const Value& v = cells_.at(i);
  if (const std::string* s = std::get_if<std::string>(&v)) {
    return *s;
  }
  if (const int64_t* n = std::get_if<int64_t>(&v)) {
    return std::to_string(*n);
  }
  if (const double* d = std::get_if<double>(&v)) {
    return absl::StrFormat("%.17g", *d);
  }
  return "";
}

std::string RedactedUrl(absl::string_view url) {
  // scheme://user:password@host/... → scheme://user:***@host/...
  size_t scheme_end = url.find("://");
  size_t at = url.find('@');
  if (scheme_end == absl::string_view::npos || at == absl::string_view::npos || at < scheme_end) {
    return std::string(url);
  }
  size_t colon = url.find(':', scheme_end + 3);
  if (colon == absl::string_view::npos || colon > at) {
    return std::string(url);
  }
  return absl::StrCat(url.substr(0, colon + 1), "***", url.substr(at));
}

absl::StatusOr<std::unique_ptr<Database>> Database::Open(absl::string_view url) {
  if (absl::StartsWith(url, "sqlite:")) {
    return SqliteDatabase::Open(url.substr(7));
  }
  if (absl::StartsWith(url, "postgresql://") || absl::StartsWith(url, "postgres://")) {
    return PostgresDatabase::Open(url);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported store URL \"", RedactedUrl(url),
                   "\": want sqlite:PATH or postgresql://USER@HOST:PORT/DB"));
}

}  // namespace covtrack::sql
