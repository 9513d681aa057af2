#pragma once

// How covctl shows each answer: a table for people (grouped thousands, percentages with two
// decimals), CSV (the same columns, plain numbers), or JSON (the protobuf message itself, with
// the .proto field names, via MessageToJsonString).

#include <google/protobuf/message.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "covtrack/v1/aggregation_service.pb.h"
#include "covtrack/v1/ingestion_service.pb.h"
#include "covtrack/v1/target_service.pb.h"
#include "tools/covctl/table.h"

namespace covtrack::covctl {

enum class OutputFormat { kTable, kJson, kCsv };
absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view name);

// The message as JSON (proto field names, zero values printed), ending in '\n'.
std::string ToJson(const google::protobuf::Message& message);

// `people`: true for the human-readable table (grouped numbers), false for CSV.
Table UnitsTable(const std::vector<v1::AdminUnit>& units, bool people);
Table RevisionsTable(const std::vector<v1::Revision>& revisions, bool people);
// One row per scheme; the comparison with the same period last year in the same row.
Table CoverageTable(const v1::Coverage& coverage, bool people);
// The comparisons with previous year ends, one row per (scheme, year end).
Table YearEndsTable(const v1::Coverage& coverage, bool people);
// One row per (unit, scheme).
Table CoverageListTable(const std::vector<v1::Coverage>& coverages, bool people);
// One row per month.
Table SeriesTable(const v1::CoverageSeries& series, bool people);
Table TargetsTable(const std::vector<v1::Target>& targets, bool people);
Table AchievementTable(const v1::Achievement& achievement, bool people);
Table LaggingTable(const v1::ListLaggingUnitsResponse& lagging, bool people);
Table AllocationTable(const v1::AllocateTargetResponse& allocation, bool people);
Table UploadSummaryTable(const v1::StreamReportsResponse& summary, bool people);
Table UnitsImportTable(const v1::ImportAdminUnitsResponse& summary, bool people);
Table CrosswalkImportTable(const v1::ImportCrosswalkResponse& summary, bool people);
// One row per link; a share not known yet is "unknown" for people and empty in CSV.
Table CrosswalkTable(const std::vector<v1::CrosswalkLink>& links, bool people);

// How a figure in the reader's territory was obtained: "same unit", "exact",
// "estimated (12.5% on shares)", "absent: <reason>"; "" when the service did not say.
std::string ReexpressionText(const v1::Reexpression& reexpression);

// "Thành phố Mỹ Tho (815), 2023, as of 2023-12" — the line above a coverage table; where the
// figures were re-expressed, a second line names the territory date and the predecessors.
std::string CoverageTitle(const v1::Coverage& coverage);

// Short names used in tables: "health", "participants", "in_province", "met", ...
std::string TargetKindName(v1::TargetKind kind);
std::string TargetBasisName(v1::TargetBasis basis);
std::string StatusName(v1::AchievementStatus status);

}  // namespace covtrack::covctl
