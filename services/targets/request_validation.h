#pragma once

// What a request to the target service must satisfy before anything is read or written: one
// function per request message (the handlers call ValidateRequest first, tests call it alone),
// built from checks of single fields. Every error is INVALID_ARGUMENT and names the field (and
// the record, for a target). Every string field is bounded, free of NUL bytes and valid UTF-8
// (common/text.h), and an error quotes at most a short prefix of what was sent (QuoteInput).

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/paging/paging.h"
#include "common/text.h"
#include "covtrack/v1/target_service.pb.h"

namespace covtrack::targets {

// The largest participants target: more than the country's population.
inline constexpr double kMaxParticipantsTarget = 1e9;
// A VND target (arrears, contributions due): a whole number of đồng up to 9 × 10^15, below 2^53
// so that every value is held exactly by the double Target.value is (a year's national amount
// due is around 5 × 10^14).
inline constexpr double kMaxVndTarget = 9e15;

// Page sizes of the two List methods (target_service.proto).
inline constexpr PageSizeLimits kTargetsPage{100, 1000};
inline constexpr PageSizeLimits kLaggingUnitsPage{50, 500};

// The requests.
absl::Status ValidateRequest(const v1::SetTargetRequest& request);
absl::Status ValidateRequest(const v1::ListTargetsRequest& request);
absl::Status ValidateRequest(const v1::GetAchievementRequest& request);
absl::Status ValidateRequest(const v1::ListLaggingUnitsRequest& request);
absl::Status ValidateRequest(const v1::AllocateTargetRequest& request);
absl::Status ValidateRequest(const v1::ValidateAllocationRequest& request);
absl::Status ValidateRequest(const v1::GetReportRequest& request);

// Checks a target from a client and fills in its defaults (basis; no revision or update time).
// unit_as_of is checked as a date inside the year; which unit it names is checked by the
// service (TargetServiceImpl::NormalizeUnitAsOf), which needs the hierarchy.
absl::StatusOr<v1::Target> NormalizeTarget(const v1::Target& target);

// The single fields, `field` naming the field in the message.
// "VN" or a 2-, 3- or 5-digit unit code.
absl::Status ValidateUnitCode(const std::string& code, absl::string_view field);
// One of the five schemes (not SCHEME_UNSPECIFIED).
absl::Status ValidateScheme(v1::Scheme scheme, absl::string_view field);
// 2000–2100.
absl::Status ValidateYear(int year, absl::string_view field);
// A known level, or ADMIN_LEVEL_UNSPECIFIED.
absl::Status ValidateLevel(v1::AdminLevel level, absl::string_view field);
// Text common/text.h accepts (at most `max_bytes` bytes, no NUL byte, valid UTF-8); not empty
// when `required`.
absl::Status ValidateText(const std::string& text, absl::string_view field, bool required,
                          size_t max_bytes = kMaxNameBytes);
// A calendar date "YYYY-MM-DD" (common/period.h ValidateDate).
absl::Status ValidateDate(const std::string& date, absl::string_view field);
// Empty (the current year) or a period Period::Parse reads ("2024", "2024-H1", "2024-03", ...).
absl::Status ValidatePeriod(const std::string& period, absl::string_view field);
// common.proto's Freshness: at_least_seq >= 0 (0: no token) and a known consistency; the
// errors name `field`.at_least_seq or `field`.consistency.
absl::Status ValidateFreshness(const v1::Freshness& freshness, absl::string_view field);

}  // namespace covtrack::targets
