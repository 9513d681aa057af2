#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace covtrack {

// A calendar month ("YYYY-MM"). Participants are a stock read at the end of a month.
struct Month {
  int year = 0;
  int month = 0;  // 1..12

  static absl::StatusOr<Month> Parse(absl::string_view text);  // "YYYY-MM"
  std::string ToString() const;
  // The month's last day, "YYYY-MM-DD": the date a stock for this month is read at.
  std::string LastDay() const;
  Month Next() const;
  Month Previous() const;
  Month PlusMonths(int n) const;
  // Months since year 0; consecutive months differ by one.
  int Index() const { return year * 12 + (month - 1); }

  friend bool operator==(Month a, Month b) { return a.Index() == b.Index(); }
  friend bool operator!=(Month a, Month b) { return !(a == b); }
  friend bool operator<(Month a, Month b) { return a.Index() < b.Index(); }
  friend bool operator<=(Month a, Month b) { return a.Index() <= b.Index(); }
  friend bool operator>(Month a, Month b) { return b < a; }
  friend bool operator>=(Month a, Month b) { return b <= a; }
};

// The last day of the month a text names ("YYYY-MM" → "YYYY-MM-DD"), parsed again only when the
// text differs from the one before: a report's figures are mostly of one month, and a national
// month's 10,000 unit-months had each parsed and formatted it.
class MonthEnds {
 public:
  // The view holds until the next call.
  absl::StatusOr<absl::string_view> Of(absl::string_view month_text);

 private:
  std::string text_;
  std::string last_day_;  // empty until a text parsed
};

// Validates a "YYYY-MM-DD" calendar date (leap years included).
absl::Status ValidateDate(absl::string_view text);

// A reporting period: a year ("2023"), a half ("2023-H1"), a quarter ("2023-Q3") or a month
// ("2023-08"). Its value for a stock is the value at its last month (DOMAIN.md: a year's figure
// is the figure at the end of the year, never a sum of months).
class Period {
 public:
  enum class Kind { kYear, kHalf, kQuarter, kMonth };

  static absl::StatusOr<Period> Parse(absl::string_view text);
  static Period ForYear(int year) { return Period(Kind::kYear, year, 1); }

  Kind kind() const { return kind_; }
  int year() const { return year_; }
  Month first_month() const;
  Month last_month() const;
  std::string ToString() const;
  // The same period one year earlier ("2016-H1" for "2017-H1").
  Period SamePeriodLastYear() const { return Period(kind_, year_ - 1, index_); }

  friend bool operator==(const Period& a, const Period& b) {
    return a.kind_ == b.kind_ && a.year_ == b.year_ && a.index_ == b.index_;
  }

 private:
  Period(Kind kind, int year, int index) : kind_(kind), year_(year), index_(index) {}
  Kind kind_;
  int year_;
  int index_;  // half 1..2, quarter 1..4, month 1..12; 1 for a year
};

}  // namespace covtrack
