#include "common/period.h"

#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status/status.h"

namespace covtrack {
namespace {

constexpr int kMinYear = 1900;
constexpr int kMaxYear = 2999;

bool ParseDigits(absl::string_view text, int* out) {
  if (text.empty()) {
    return false;
  }
  for (char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  return absl::SimpleAtoi(text, out);
}

bool ParseYear(absl::string_view text, int* year) {
  return text.size() == 4 && ParseDigits(text, year) && *year >= kMinYear && *year <= kMaxYear;
}

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

}  // namespace

absl::StatusOr<Month> Month::Parse(absl::string_view text) {
  Month m;
  if (text.size() != 7 || text[4] != '-' || !ParseYear(text.substr(0, 4), &m.year) ||
      !ParseDigits(text.substr(5, 2), &m.month) || m.month < 1 || m.month > 12) {
    return absl::InvalidArgumentError(absl::StrCat("malformed month \"", text, "\": want YYYY-MM"));
  }
  return m;
}

std::string Month::ToString() const { return absl::StrFormat("%04d-%02d", year, month); }

std::string Month::LastDay() const {
  return absl::StrFormat("%04d-%02d-%02d", year, month, DaysInMonth(year, month));
}

absl::StatusOr<absl::string_view> MonthEnds::Of(absl::string_view month_text) {
  if (last_day_.empty() || month_text != text_) {
    ASSIGN_OR_RETURN(const Month month, Month::Parse(month_text));
    text_ = std::string(month_text);
    last_day_ = month.LastDay();
  }
  return last_day_;
}

Month Month::PlusMonths(int n) const {
  int index = Index() + n;
  return Month{index / 12, index % 12 + 1};
}

Month Month::Next() const { return PlusMonths(1); }
Month Month::Previous() const { return PlusMonths(-1); }

absl::Status ValidateDate(absl::string_view text) {
  int year = 0, month = 0, day = 0;
  if (text.size() != 10 || text[4] != '-' || text[7] != '-' ||
      !ParseYear(text.substr(0, 4), &year) || !ParseDigits(text.substr(5, 2), &month) ||
      month < 1 || month > 12 || !ParseDigits(text.substr(8, 2), &day) || day < 1 ||
      day > DaysInMonth(year, month)) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed date \"", text, "\": want YYYY-MM-DD"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Period> Period::Parse(absl::string_view text) {
  auto malformed = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "malformed period \"", text, "\": want YYYY, YYYY-H1..H2, YYYY-Q1..Q4 or YYYY-MM"));
  };
  int year = 0;
  if (text.size() < 4 || !ParseYear(text.substr(0, 4), &year)) {
    return malformed();
  }
  if (text.size() == 4) {
    return Period(Kind::kYear, year, 1);
  }
  if (text.size() == 7 && text[4] == '-') {
    char tag = text[5];
    int index = text[6] - '0';
    if (tag == 'H' && index >= 1 && index <= 2) {
      return Period(Kind::kHalf, year, index);
    }
    if (tag == 'Q' && index >= 1 && index <= 4) {
      return Period(Kind::kQuarter, year, index);
    }
    absl::StatusOr<Month> month = Month::Parse(text);
    if (month.ok()) {
      return Period(Kind::kMonth, year, month->month);
    }
  }
  return malformed();
}

Month Period::last_month() const {
  switch (kind_) {
    case Kind::kYear:
      return Month{year_, 12};
    case Kind::kHalf:
      return Month{year_, index_ * 6};
    case Kind::kQuarter:
      return Month{year_, index_ * 3};
    case Kind::kMonth:
      return Month{year_, index_};
  }
  return Month{year_, 12};
}

Month Period::first_month() const {
  switch (kind_) {
    case Kind::kYear:
      return Month{year_, 1};
    case Kind::kHalf:
      return Month{year_, index_ * 6 - 5};
    case Kind::kQuarter:
      return Month{year_, index_ * 3 - 2};
    case Kind::kMonth:
      return Month{year_, index_};
  }
  return Month{year_, 1};
}

std::string Period::ToString() const {
  switch (kind_) {
    case Kind::kYear:
      return absl::StrFormat("%04d", year_);
    case Kind::kHalf:
      return absl::StrFormat("%04d-H%d", year_, index_);
    case Kind::kQuarter:
      return absl::StrFormat("%04d-Q%d", year_, index_);
    case Kind::kMonth:
      return Month{year_, index_}.ToString();
  }
  return "";
}

}  // namespace covtrack
