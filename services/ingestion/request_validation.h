#pragma once

// The checks of an ingestion request that need no stored data: formats, ranges, duplicates,
// sizes. Handlers run them after authorization and before the store is touched; each error is
// INVALID_ARGUMENT and names the field and the record ("records[3].month: ..."). The checks
// against stored units (does the unit exist then, do intervals overlap) are in
// unit_calendar.h; page_size and page_token in common/paging.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/text.h"
#include "covtrack/v1/ingestion_service.pb.h"

namespace covtrack::ingestion {

struct RequestLimits {
  // Records plus denominators in one SubmitReport, and units in one ImportAdminUnits. A
  // national month (about 10,000 communes × 4 schemes) fits in one request.
  int max_items_per_request = 100000;
  // Links in one ImportCrosswalk: the 2025 reform's map (10,667) fits in one request.
  int max_links_per_request = 20000;
};

// The most problems one error reports; the rest are counted.
inline constexpr int kMaxReportedProblems = 10;

// The problems of a request, collected so that one answer lets a caller fix many rows, and
// bounded so that the answer stays small whatever the input.
class ProblemList {
 public:
  void Add(absl::string_view list, int index, absl::string_view field, absl::string_view problem);
  bool empty() const { return reported_.empty(); }
  // OK when there is no problem; otherwise INVALID_ARGUMENT with the first
  // kMaxReportedProblems problems, "; "-separated, and how many more there were.
  absl::Status ToStatus() const;

 private:
  std::vector<std::string> reported_;
  int64_t more_ = 0;
};

// Why `code` is not a well-formed unit code (empty, longer than kMaxUnitCodeLength, with a
// space, comma or control byte, or not UTF-8); empty when it is. Quotes at most a short prefix.
std::string UnitCodeProblem(const std::string& code);
// Why `text` is not a "YYYY-MM" month / a "YYYY-MM-DD" date; empty when it is. Unlike
// Month::Parse and ValidateDate, never echoes more than a short prefix of the text.
std::string MonthProblem(const std::string& text);
std::string DateProblem(const std::string& text);

// "<list>[<index>].<field>: <problem>", INVALID_ARGUMENT.
absl::Status FieldError(absl::string_view list, int index, absl::string_view field,
                        absl::string_view problem);

// A write's request_id: required, at most kMaxRequestIdBytes (common/text.h) of UTF-8 without
// NUL (PostgreSQL would cut "X\0A" and "X\0B" to the same id).
absl::Status ValidateRequestId(const std::string& request_id);

absl::Status ValidateSubmitReport(const v1::SubmitReportRequest& request,
                                  const RequestLimits& limits);
absl::Status ValidateImportAdminUnits(const v1::ImportAdminUnitsRequest& request,
                                      const RequestLimits& limits);
// The filters; page_size and page_token are common/paging's.
absl::Status ValidateListAdminUnits(const v1::ListAdminUnitsRequest& request);
absl::Status ValidateListRevisions(const v1::ListRevisionsRequest& request);
absl::Status ValidateExportData(const v1::ExportDataRequest& request);
// Formats, ranges and duplicates of the links, all reported (up to kMaxReportedProblems); the
// checks against stored units and links are in crosswalk_check.h.
absl::Status ValidateImportCrosswalk(const v1::ImportCrosswalkRequest& request,
                                     const RequestLimits& limits);
absl::Status ValidateListCrosswalk(const v1::ListCrosswalkRequest& request);

}  // namespace covtrack::ingestion
