#pragma once

// The Commands class: one handler per covctl command (commands.cc maps command lines to them),
// and what every handler shares: the channels to the three services, a deadline on every call,
// the three output formats, CSV reading, and the ways a command fails (usage, rejected, failed).
// The handlers are defined in a file per command group:
//   unit_commands.cc      units import, units list
//   upload_commands.cc    ingest, denominators import, measures import (streamed in batches)
//   export_commands.cc    export
//   revision_commands.cc  revisions
//   crosswalk_commands.cc crosswalk import, crosswalk list
//   coverage_commands.cc  coverage, coverage list, coverage series
//   measure_view_commands.cc  measures show, measures list
//   target_commands.cc    targets set/list/import/allocate/lagging/validate
//   report_commands.cc    targets achievement, report

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "covtrack/v1/aggregation_service.grpc.pb.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "covtrack/v1/target_service.grpc.pb.h"
#include "tools/covctl/commands.h"
#include "tools/covctl/table.h"
#include "tools/covctl/views.h"
#include "tools/sampledata/csv.h"
#include "tools/sampledata/record_csv.h"

namespace covtrack::covctl {

// Whether a list RPC's pages carry `reflects_seq` (and its request `freshness`).
template <typename Response, typename = void>
struct ReflectsSeq : std::false_type {};
template <typename Response>
struct ReflectsSeq<Response, std::void_t<decltype(std::declval<Response>().reflects_seq())>>
    : std::true_type {};

// The exit code of a failed RPC: the caller's fault (rejected) or the service's (failed).
int ExitCodeFor(grpc::StatusCode code);
// "INVALID_ARGUMENT", "UNAVAILABLE", ...
std::string CodeName(grpc::StatusCode code);

// A progress bar on a terminal: "\r<label> [#####.....] 12,345/40,000 rows".
class Progress {
 public:
  Progress(std::ostream& err, bool enabled, std::string label, size_t total)
      : err_(err), enabled_(enabled && total > 0), label_(std::move(label)), total_(total) {}
  void Update(size_t done);
  void Finish();

 private:
  std::ostream& err_;
  bool enabled_;
  std::string label_;
  size_t total_;
};

// Parsers for command-line values; their errors are usage errors (exit 2).
absl::StatusOr<std::vector<v1::Scheme>> ParseSchemeList(const std::string& text);
absl::StatusOr<v1::Scheme> ParseOptionalScheme(const std::string& text, absl::string_view what,
                                               bool required = false);
absl::StatusOr<v1::AdminLevel> ParseOptionalLevel(const std::string& text);
absl::StatusOr<int> ParseYear(const std::string& text);
absl::Status CheckPeriod(const std::string& text);
// --territory_date: empty, or a date.
absl::Status CheckTerritoryDate(const std::string& text);
// --at_least_seq (>= 0) and --consistency ("", applied, full) as a request's freshness.
absl::StatusOr<v1::Freshness> ParseFreshness(int64_t at_least_seq, const std::string& consistency);

// Returns from a handler with exit code 2 when a command-line value is bad.
#define COVCTL_ASSIGN_OR_USAGE(lhs, expr)  \
  auto lhs##_or = (expr);                  \
  if (!lhs##_or.ok()) {                    \
    return UsageFailed(lhs##_or.status()); \
  }                                        \
  auto lhs = *std::move(lhs##_or)
#define COVCTL_CHECK_USAGE(expr)                  \
  if (absl::Status check = (expr); !check.ok()) { \
    return UsageFailed(check);                    \
  }

class Commands {
 public:
  Commands(const Options& options, std::ostream& out, std::ostream& err)
      : options_(options), out_(out), err_(err) {}

  int UnitsImport(const std::vector<std::string>& args);
  int UnitsList(const std::vector<std::string>& args);
  int Ingest(const std::vector<std::string>& args);
  int DenominatorsImport(const std::vector<std::string>& args);
  int MeasuresImport(const std::vector<std::string>& args);
  int Export(const std::vector<std::string>& args);
  int Revisions(const std::vector<std::string>& args);
  int CrosswalkImport(const std::vector<std::string>& args);
  int CrosswalkList(const std::vector<std::string>& args);
  int Coverage(const std::vector<std::string>& args);
  int CoverageList(const std::vector<std::string>& args);
  int CoverageSeries(const std::vector<std::string>& args);
  int MeasuresShow(const std::vector<std::string>& args);
  int MeasuresList(const std::vector<std::string>& args);
  int TargetsSet(const std::vector<std::string>& args);
  int TargetsList(const std::vector<std::string>& args);
  int TargetsImport(const std::vector<std::string>& args);
  int TargetsAllocate(const std::vector<std::string>& args);
  int TargetsLagging(const std::vector<std::string>& args);
  int TargetsValidate(const std::vector<std::string>& args);
  int Achievement(const std::vector<std::string>& args);
  int Report(const std::vector<std::string>& args);

 private:
  std::shared_ptr<grpc::Channel> Channel(const std::string& address);
  std::unique_ptr<v1::IngestionService::Stub> Ingestion();
  std::unique_ptr<v1::AggregationService::Stub> Aggregation();
  std::unique_ptr<v1::TargetService::Stub> Targets();
  // Every call has a deadline: --timeout (scaled by `calls` for a stream of several messages).
  void SetDeadline(grpc::ClientContext& context, size_t calls = 1);

  // Reads every page of a list RPC into `all`, each page's items added by `merge(page, all)`.
  // A list whose pages say which change-feed seq they reflect (aggregation's lists, targets
  // lagging) reflects its oldest page's seq, and each page is asked at least as fresh as the one
  // before it (aggregation_service.proto, ListCoverageRequest.freshness), so that no page is
  // older than an earlier one.
  template <typename Stub, typename Request, typename Response, typename Merge>
  grpc::Status ReadAllPages(Stub& stub,
                            grpc::Status (Stub::*rpc)(grpc::ClientContext*, const Request&,
                                                      Response*),
                            Request request, Merge merge, Response& all) {
    bool first = true;
    do {
      grpc::ClientContext context;
      SetDeadline(context);
      Response page;
      grpc::Status status = (stub.*rpc)(&context, request, &page);
      if (!status.ok()) {
        return status;
      }
      merge(page, all);
      if constexpr (ReflectsSeq<Response>::value) {
        all.set_reflects_seq(first ? page.reflects_seq()
                                   : std::min(all.reflects_seq(), page.reflects_seq()));
        if (page.reflects_seq() > request.freshness().at_least_seq()) {
          request.mutable_freshness()->set_at_least_seq(page.reflects_seq());
        }
      }
      first = false;
      request.set_page_token(page.next_page_token());
    } while (!request.page_token().empty());
    return grpc::Status::OK;
  }

  // Prints a bad command-line value and returns the usage exit code.
  int UsageFailed(const absl::Status& status);

  // Prints an RPC failure and returns its exit code.
  int RpcFailed(const grpc::Status& status, absl::string_view what, const std::string& address);

  // Prints a result in the chosen format. `table(people)` builds the table form.
  void Emit(const google::protobuf::Message& message, const std::function<Table(bool)>& table,
            const std::string& title = "");

  // Reads and parses a CSV file; on failure prints why and returns nullopt with `exit_code`.
  std::optional<std::pair<std::string, sampledata::CsvTable>> ReadCsv(const std::string& path,
                                                                      int& exit_code);

  // Prints every bad row; true when there were any (then nothing must be sent).
  template <typename T>
  bool ReportBadRows(const std::string& path, const sampledata::ParsedRows<T>& parsed,
                     size_t rows) {
    for (const sampledata::RowError& error : parsed.errors) {
      err_ << path << ":" << error.line << ": " << error.message << "\n";
    }
    if (parsed.errors.empty()) {
      return false;
    }
    err_ << path << ": " << parsed.errors.size() << " bad row"
         << (parsed.errors.size() == 1 ? "" : "s") << " of " << rows << "; nothing was sent\n";
    return true;
  }

  // Reads a CSV of records or denominators, checks every row (nothing is sent if one is bad),
  // and streams it in batches whose request ids derive from the file's content and `kind`.
  template <typename Record>
  int UploadRows(const std::string& path, absl::string_view kind, absl::string_view element,
                 sampledata::ParsedRows<Record> (*parse)(const sampledata::CsvTable&),
                 Record* (v1::SubmitReportRequest::*add)());

  // Sends the messages through one StreamReports call. `element` is "records" or
  // "denominators" (to point a rejection at a file line).
  int StreamUpload(const std::string& path, std::vector<v1::SubmitReportRequest> messages,
                   const std::vector<size_t>& rows_in, absl::string_view upload_id,
                   absl::string_view element, const std::vector<int>& lines);

  const Options& options_;
  std::ostream& out_;
  std::ostream& err_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
};

}  // namespace covtrack::covctl
