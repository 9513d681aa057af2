#pragma once

// The checks of an ingestion request that need no stored data: formats, ranges, duplicates,
// sizes. Handlers run them after authorization and before the store is touched; each error is
// INVALID_ARGUMENT and names the field and the record ("records[3].month: ..."). The checks
// against stored units (does the unit exist then, do intervals overlap) are in
// unit_calendar.h; page_size and page_token in common/paging.

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "covtrack/v1/ingestion_service.pb.h"

namespace covtrack::ingestion {

struct RequestLimits {
  // Records plus denominators in one SubmitReport, and units in one ImportAdminUnits. A
  // national month (about 10,000 communes × 4 schemes) fits in one request.
  int max_items_per_request = 100000;
};

// "<list>[<index>].<field>: <problem>", INVALID_ARGUMENT.
absl::Status FieldError(absl::string_view list, int index, absl::string_view field,
                        absl::string_view problem);

// A write's request_id: required, at most 200 characters.
absl::Status ValidateRequestId(const std::string& request_id);

absl::Status ValidateSubmitReport(const v1::SubmitReportRequest& request,
                                  const RequestLimits& limits);
absl::Status ValidateImportAdminUnits(const v1::ImportAdminUnitsRequest& request,
                                      const RequestLimits& limits);
// The filters; page_size and page_token are common/paging's.
absl::Status ValidateListAdminUnits(const v1::ListAdminUnitsRequest& request);
absl::Status ValidateListRevisions(const v1::ListRevisionsRequest& request);
absl::Status ValidateExportData(const v1::ExportDataRequest& request);

}  // namespace covtrack::ingestion
