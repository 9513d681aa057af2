#include "tools/covctl/commands.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/call_context.h"
#include "common/client.h"
#include "common/domain.h"
#include "common/period.h"
#include "covtrack/v1/aggregation_service.grpc.pb.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "covtrack/v1/target_service.grpc.pb.h"
#include "tools/covctl/target_csv.h"
#include "tools/covctl/upload.h"
#include "tools/sampledata/csv.h"
#include "tools/sampledata/record_csv.h"

namespace covtrack::covctl {
namespace {

using sampledata::CsvTable;
using sampledata::ParsedRows;

int ExitCodeFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::PERMISSION_DENIED:
      return kExitRejected;
    default:
      return kExitFailed;
  }
}

std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    default:
      return absl::StrCat("code ", static_cast<int>(code));
  }
}

// A progress bar on a terminal: "\r<label> [#####.....] 12,345/40,000 rows".
class Progress {
 public:
  Progress(std::ostream& err, bool enabled, std::string label, size_t total)
      : err_(err), enabled_(enabled && total > 0), label_(std::move(label)), total_(total) {}
  void Update(size_t done) {
    if (!enabled_) {
      return;
    }
    constexpr int kWidth = 30;
    int filled = static_cast<int>(kWidth * done / total_);
    err_ << "\r" << label_ << " [" << std::string(filled, '#') << std::string(kWidth - filled, '.')
         << "] " << GroupThousands(done) << "/" << GroupThousands(total_) << " rows" << std::flush;
  }
  void Finish() {
    if (enabled_) {
      err_ << "\n";
    }
  }

 private:
  std::ostream& err_;
  bool enabled_;
  std::string label_;
  size_t total_;
};

// Parsers for command-line values; their errors are usage errors (exit 2).
absl::StatusOr<std::vector<v1::Scheme>> ParseSchemeList(const std::string& text) {
  std::vector<v1::Scheme> schemes;
  for (absl::string_view name : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    absl::StatusOr<v1::Scheme> scheme = ParseScheme(name);
    if (!scheme.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--schemes: ", scheme.status().message()));
    }
    schemes.push_back(*scheme);
  }
  return schemes;
}

absl::StatusOr<v1::Scheme> ParseOptionalScheme(const std::string& text, absl::string_view what,
                                               bool required = false) {
  if (text.empty()) {
    if (required) {
      return absl::InvalidArgumentError(absl::StrCat(what, " is required"));
    }
    return v1::SCHEME_UNSPECIFIED;
  }
  absl::StatusOr<v1::Scheme> scheme = ParseScheme(text);
  if (!scheme.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", scheme.status().message()));
  }
  return *scheme;
}

absl::StatusOr<v1::AdminLevel> ParseOptionalLevel(const std::string& text) {
  if (text.empty()) {
    return v1::ADMIN_LEVEL_UNSPECIFIED;
  }
  absl::StatusOr<v1::AdminLevel> level = ParseLevel(text);
  if (!level.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--level: ", level.status().message()));
  }
  return *level;
}

absl::StatusOr<int> ParseYear(const std::string& text) {
  int year = 0;
  if (!absl::SimpleAtoi(text, &year) || year < 1900 || year > 2200) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a year"));
  }
  return year;
}

absl::Status CheckPeriod(const std::string& text) {
  if (!Period::Parse(text).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("period \"", text, "\" is not one of 2023, 2023-H1, 2023-Q3, 2023-08"));
  }
  return absl::OkStatus();
}

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
  int Revisions(const std::vector<std::string>& args);
  int Coverage(const std::vector<std::string>& args);
  int CoverageList(const std::vector<std::string>& args);
  int CoverageSeries(const std::vector<std::string>& args);
  int TargetsSet(const std::vector<std::string>& args);
  int TargetsList(const std::vector<std::string>& args);
  int TargetsImport(const std::vector<std::string>& args);
  int TargetsAllocate(const std::vector<std::string>& args);
  int TargetsLagging(const std::vector<std::string>& args);
  int TargetsValidate(const std::vector<std::string>& args);
  int Achievement(const std::vector<std::string>& args);
  int Report(const std::vector<std::string>& args);

 private:
  std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
    auto& channel = channels_[address];
    if (channel == nullptr) {
      // RunCommand has read the TLS files already, so this cannot fail but for a race.
      channel = NewChannel(address, options_.tls).value();
    }
    return channel;
  }
  std::unique_ptr<v1::IngestionService::Stub> Ingestion() {
    return v1::IngestionService::NewStub(Channel(options_.server));
  }
  std::unique_ptr<v1::AggregationService::Stub> Aggregation() {
    return v1::AggregationService::NewStub(Channel(options_.aggregation_server));
  }
  std::unique_ptr<v1::TargetService::Stub> Targets() {
    return v1::TargetService::NewStub(Channel(options_.targets_server));
  }
  // Every call has a deadline: --timeout (scaled by `calls` for a stream of several messages).
  void SetDeadline(grpc::ClientContext& context, size_t calls = 1) {
    context.set_deadline(std::chrono::system_clock::now() +
                         absl::ToChronoNanoseconds(
                             options_.timeout * static_cast<double>(std::max<size_t>(1, calls))));
  }

  int UsageFailed(const absl::Status& status) {
    err_ << "covctl: " << status.message() << "\n";
    return kExitUsage;
  }

  // Prints an RPC failure and returns its exit code.
  int RpcFailed(const grpc::Status& status, absl::string_view what, const std::string& address) {
    err_ << "covctl: " << what << " failed: " << CodeName(status.error_code()) << ": "
         << status.error_message();
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      err_ << " (is the service running at " << address
           << "? see --server/--aggregation_server/--targets_server)";
    }
    err_ << "\n";
    return ExitCodeFor(status.error_code());
  }

  // Prints a result in the chosen format. `table(people)` builds the table form.
  void Emit(const google::protobuf::Message& message, const std::function<Table(bool)>& table,
            const std::string& title = "") {
    switch (options_.format) {
      case OutputFormat::kJson:
        out_ << ToJson(message);
        break;
      case OutputFormat::kCsv:
        out_ << table(false).RenderCsv();
        break;
      case OutputFormat::kTable: {
        if (!title.empty()) {
          out_ << title << "\n";
        }
        Table people = table(true);
        out_ << people.RenderText();
        if (people.size() == 0) {
          out_ << "(none)\n";
        }
        break;
      }
    }
  }

  // Reads and parses a CSV file; on failure prints why and returns nullopt with `exit_code`.
  std::optional<std::pair<std::string, CsvTable>> ReadCsv(const std::string& path, int& exit_code) {
    absl::StatusOr<std::string> text = sampledata::ReadFileToString(path);
    if (!text.ok()) {
      err_ << "covctl: " << text.status().message() << "\n";
      exit_code = kExitUsage;
      return std::nullopt;
    }
    absl::StatusOr<CsvTable> table = sampledata::ParseCsv(*text);
    if (!table.ok()) {
      // ParseCsv's messages start with "line N: ".
      err_ << path << ":" << table.status().message().substr(5) << "\n"
           << path << ": the file is not valid CSV; nothing was sent\n";
      exit_code = kExitRejected;
      return std::nullopt;
    }
    return std::make_pair(*std::move(text), *std::move(table));
  }

  // Prints every bad row; true when there were any (then nothing must be sent).
  template <typename T>
  bool ReportBadRows(const std::string& path, const ParsedRows<T>& parsed, size_t rows) {
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
                 ParsedRows<Record> (*parse)(const CsvTable&),
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

int Commands::StreamUpload(const std::string& path, std::vector<v1::SubmitReportRequest> messages,
                           const std::vector<size_t>& rows_in, absl::string_view upload_id,
                           absl::string_view element, const std::vector<int>& lines) {
  auto stub = Ingestion();
  grpc::ClientContext context;
  SetDeadline(context, messages.size());
  v1::StreamReportsResponse summary;
  std::unique_ptr<grpc::ClientWriter<v1::SubmitReportRequest>> writer =
      stub->StreamReports(&context, &summary);
  size_t total_rows = std::accumulate(rows_in.begin(), rows_in.end(), size_t{0});
  Progress progress(err_, options_.progress, "uploading", total_rows);
  size_t sent_rows = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (!writer->Write(messages[i])) {
      break;  // the server ended the call; Finish() says why
    }
    sent_rows += rows_in[i];
    progress.Update(sent_rows);
  }
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  progress.Finish();
  if (!status.ok()) {
    std::string committed =
        absl::StrCat("it is not known how many of ", messages.size(), " batches were committed");
    const auto& trailers = context.GetServerTrailingMetadata();
    if (auto it = trailers.find("covtrack-committed-messages"); it != trailers.end()) {
      committed = absl::StrCat(absl::string_view(it->second.data(), it->second.size()), " of ",
                               messages.size(), " batches were committed");
    }
    if (std::optional<int> line =
            LineOfServerError(status.error_message(), upload_id, element,
                              static_cast<size_t>(options_.batch_size), lines)) {
      err_ << path << ":" << *line << ": rejected by the server: " << status.error_message()
           << "\n";
    }
    int code = RpcFailed(status, "upload", options_.server);
    err_ << path << ": " << committed
         << "; the rest was not stored. Run the same command again to resume "
            "(committed batches are recognised and not counted twice)\n";
    return code;
  }
  Emit(summary, [&](bool people) { return UploadSummaryTable(summary, people); });
  return kExitOk;
}

int Commands::Ingest(const std::vector<std::string>& args) {
  return UploadRows(args[0], "participation", "records", &sampledata::ParseParticipationRows,
                    &v1::SubmitReportRequest::add_records);
}

int Commands::DenominatorsImport(const std::vector<std::string>& args) {
  return UploadRows(args[0], "denominators", "denominators", &sampledata::ParseDenominatorRows,
                    &v1::SubmitReportRequest::add_denominators);
}

template <typename Record>
int Commands::UploadRows(const std::string& path, absl::string_view kind,
                         absl::string_view element,
                         ParsedRows<Record> (*parse)(const CsvTable&),
                         Record* (v1::SubmitReportRequest::*add)()) {
  int exit_code = kExitOk;
  auto file = ReadCsv(path, exit_code);
  if (!file) {
    return exit_code;
  }
  ParsedRows<Record> parsed = parse(file->second);
  if (ReportBadRows(path, parsed, file->second.rows.size())) {
    return kExitRejected;
  }
  size_t batch_size = static_cast<size_t>(options_.batch_size);
  std::string upload_id = UploadId(
      file->first, absl::StrCat(kind, ";batch=", batch_size, ";source=", options_.source));
  std::vector<v1::SubmitReportRequest> messages;
  std::vector<size_t> rows;
  for (size_t start = 0; start < parsed.items.size(); start += batch_size) {
    v1::SubmitReportRequest& message = messages.emplace_back();
    message.set_request_id(BatchRequestId(upload_id, messages.size() - 1));
    message.set_source(options_.source);
    size_t end = std::min(parsed.items.size(), start + batch_size);
    for (size_t i = start; i < end; ++i) {
      *(message.*add)() = parsed.items[i];
    }
    rows.push_back(end - start);
  }
  return StreamUpload(path, std::move(messages), rows, upload_id, element, parsed.lines);
}

int Commands::UnitsImport(const std::vector<std::string>& args) {
  const std::string& path = args[0];
  int exit_code = kExitOk;
  auto file = ReadCsv(path, exit_code);
  if (!file) {
    return exit_code;
  }
  for (const std::string* date : {&options_.valid_from, &options_.valid_to}) {
    if (!date->empty() && !ValidateDate(*date).ok()) {
      err_ << "covctl: --valid_from/--valid_to \"" << *date << "\" is not a date (YYYY-MM-DD)\n";
      return kExitUsage;
    }
  }
  ParsedRows<v1::AdminUnit> parsed =
      sampledata::ParseUnitRows(file->second, {options_.valid_from, options_.valid_to});
  if (ReportBadRows(path, parsed, file->second.rows.size())) {
    return kExitRejected;
  }
  // Parents before children, so that every batch's parents exist when it arrives.
  std::vector<size_t> order(parsed.items.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return parsed.items[a].level() < parsed.items[b].level();
  });
  size_t batch_size = static_cast<size_t>(options_.batch_size);
  std::string upload_id =
      UploadId(file->first, absl::StrCat("units;batch=", batch_size, ";from=", options_.valid_from,
                                         ";to=", options_.valid_to));
  std::vector<int> sorted_lines;
  for (size_t i : order) {
    sorted_lines.push_back(parsed.lines[i]);
  }
  auto stub = Ingestion();
  v1::ImportAdminUnitsResponse total;
  Progress progress(err_, options_.progress, "importing units", order.size());
  size_t batches = (order.size() + batch_size - 1) / batch_size;
  for (size_t batch = 0; batch < batches; ++batch) {
    v1::ImportAdminUnitsRequest request;
    request.set_request_id(BatchRequestId(upload_id, batch));
    size_t end = std::min(order.size(), (batch + 1) * batch_size);
    for (size_t k = batch * batch_size; k < end; ++k) {
      *request.add_units() = parsed.items[order[k]];
    }
    grpc::ClientContext context;
    SetDeadline(context);
    v1::ImportAdminUnitsResponse response;
    grpc::Status status = stub->ImportAdminUnits(&context, request, &response);
    if (!status.ok()) {
      progress.Finish();
      // The message names units[i] of this request.
      std::string message = absl::StrCat(request.request_id(), " ", status.error_message());
      if (std::optional<int> line =
              LineOfServerError(message, upload_id, "units", batch_size, sorted_lines)) {
        err_ << path << ":" << *line << ": rejected by the server: " << status.error_message()
             << "\n";
      }
      int code = RpcFailed(status, "units import", options_.server);
      err_ << path << ": " << batch << " of " << batches
           << " batches were committed; run the same command again to resume\n";
      return code;
    }
    total.set_units_accepted(total.units_accepted() + response.units_accepted());
    total.set_units_changed(total.units_changed() + response.units_changed());
    total.set_change_seq(std::max(total.change_seq(), response.change_seq()));
    total.set_replayed(batch == 0 ? response.replayed() : total.replayed() && response.replayed());
    progress.Update(end);
  }
  progress.Finish();
  Emit(total, [&](bool people) { return UnitsImportTable(total, people); });
  return kExitOk;
}

int Commands::UnitsList(const std::vector<std::string>& args) {
  v1::ListAdminUnitsRequest request;
  request.set_parent_code(options_.parent);
  request.set_as_of(options_.as_of);
  request.set_code(options_.code);
  COVCTL_ASSIGN_OR_USAGE(level, ParseOptionalLevel(options_.level));
  request.set_level(level);
  request.set_page_size(5000);
  auto stub = Ingestion();
  v1::ListAdminUnitsResponse all;
  do {
    grpc::ClientContext context;
    SetDeadline(context);
    v1::ListAdminUnitsResponse page;
    grpc::Status status = stub->ListAdminUnits(&context, request, &page);
    if (!status.ok()) {
      return RpcFailed(status, "units list", options_.server);
    }
    all.mutable_units()->MergeFrom(page.units());
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  std::vector<v1::AdminUnit> units(all.units().begin(), all.units().end());
  Emit(all, [&](bool people) { return UnitsTable(units, people); });
  return kExitOk;
}

int Commands::Revisions(const std::vector<std::string>& args) {
  v1::ListRevisionsRequest request;
  request.set_unit_code(args[0]);
  if (!options_.month.empty()) {
    absl::StatusOr<Month> month = Month::Parse(options_.month);
    if (!month.ok()) {
      return UsageFailed(absl::InvalidArgumentError(
          absl::StrCat("--month \"", options_.month, "\" is not YYYY-MM")));
    }
    request.set_month(month->ToString());
  }
  COVCTL_ASSIGN_OR_USAGE(scheme, ParseOptionalScheme(options_.scheme, "--scheme"));
  request.set_scheme(scheme);
  request.set_page_size(1000);
  auto stub = Ingestion();
  v1::ListRevisionsResponse all;
  do {
    grpc::ClientContext context;
    SetDeadline(context);
    v1::ListRevisionsResponse page;
    grpc::Status status = stub->ListRevisions(&context, request, &page);
    if (!status.ok()) {
      return RpcFailed(status, "revisions", options_.server);
    }
    all.mutable_revisions()->MergeFrom(page.revisions());
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  std::vector<v1::Revision> revisions(all.revisions().begin(), all.revisions().end());
  Emit(
      all, [&](bool people) { return RevisionsTable(revisions, people); },
      absl::StrCat("Revisions of unit ", args[0], ", oldest first"));
  return kExitOk;
}

int Commands::Coverage(const std::vector<std::string>& args) {
  COVCTL_CHECK_USAGE(CheckPeriod(args[1]));
  COVCTL_ASSIGN_OR_USAGE(schemes, ParseSchemeList(options_.schemes));
  v1::GetCoverageRequest request;
  request.set_unit_code(args[0]);
  request.set_period(args[1]);
  for (v1::Scheme scheme : schemes) {
    request.add_schemes(scheme);
  }
  request.set_previous_year_ends(options_.previous_year_ends);
  auto stub = Aggregation();
  grpc::ClientContext context;
  SetDeadline(context);
  v1::Coverage coverage;
  grpc::Status status = stub->GetCoverage(&context, request, &coverage);
  if (!status.ok()) {
    return RpcFailed(status, "coverage", options_.aggregation_server);
  }
  Emit(
      coverage, [&](bool people) { return CoverageTable(coverage, people); },
      CoverageTitle(coverage));
  if (options_.format == OutputFormat::kTable) {
    Table year_ends = YearEndsTable(coverage, true);
    if (year_ends.size() > 0) {
      out_ << "\nCompared with previous year ends:\n" << year_ends.RenderText();
    }
  }
  return kExitOk;
}

int Commands::CoverageList(const std::vector<std::string>& args) {
  COVCTL_CHECK_USAGE(CheckPeriod(args[1]));
  COVCTL_ASSIGN_OR_USAGE(level, ParseOptionalLevel(options_.level));
  COVCTL_ASSIGN_OR_USAGE(scheme, ParseOptionalScheme(options_.scheme, "--scheme"));
  v1::ListCoverageRequest request;
  request.set_parent_code(args[0]);
  request.set_period(args[1]);
  request.set_level(level);
  request.set_scheme(scheme);
  static const std::map<std::string, v1::CoverageOrder> kOrders = {
      {"", v1::COVERAGE_ORDER_CODE},
      {"code", v1::COVERAGE_ORDER_CODE},
      {"coverage_asc", v1::COVERAGE_ORDER_COVERAGE_ASCENDING},
      {"coverage_desc", v1::COVERAGE_ORDER_COVERAGE_DESCENDING},
      {"participants", v1::COVERAGE_ORDER_PARTICIPANTS_DESCENDING}};
  auto order = kOrders.find(options_.order);
  if (order == kOrders.end()) {
    return UsageFailed(absl::InvalidArgumentError(
        absl::StrCat("--order \"", options_.order,
                     "\" is not one of code, coverage_asc, coverage_desc, participants")));
  }
  request.set_order_by(order->second);
  request.set_page_size(500);
  auto stub = Aggregation();
  v1::ListCoverageResponse all;
  do {
    grpc::ClientContext context;
    SetDeadline(context);
    v1::ListCoverageResponse page;
    grpc::Status status = stub->ListCoverage(&context, request, &page);
    if (!status.ok()) {
      return RpcFailed(status, "coverage list", options_.aggregation_server);
    }
    all.mutable_coverages()->MergeFrom(page.coverages());
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  std::vector<v1::Coverage> coverages(all.coverages().begin(), all.coverages().end());
  Emit(
      all, [&](bool people) { return CoverageListTable(coverages, people); },
      absl::StrCat("Coverage under ", args[0], ", ", args[1]));
  return kExitOk;
}

int Commands::CoverageSeries(const std::vector<std::string>& args) {
  COVCTL_ASSIGN_OR_USAGE(scheme, ParseOptionalScheme(args[1], "SCHEME", /*required=*/true));
  for (const std::string& month : {args[2], args[3]}) {
    if (!Month::Parse(month).ok()) {
      return UsageFailed(
          absl::InvalidArgumentError(absl::StrCat("\"", month, "\" is not a month (YYYY-MM)")));
    }
  }
  v1::GetCoverageSeriesRequest request;
  request.set_unit_code(args[0]);
  request.set_scheme(scheme);
  request.set_from_month(args[2]);
  request.set_to_month(args[3]);
  auto stub = Aggregation();
  grpc::ClientContext context;
  SetDeadline(context);
  v1::CoverageSeries series;
  grpc::Status status = stub->GetCoverageSeries(&context, request, &series);
  if (!status.ok()) {
    return RpcFailed(status, "coverage series", options_.aggregation_server);
  }
  Emit(
      series, [&](bool people) { return SeriesTable(series, people); },
      absl::StrCat(series.unit().name().empty() ? args[0] : series.unit().name(), " (", args[0],
                   "), ", SchemeName(scheme), ", month by month"));
  return kExitOk;
}

int Commands::TargetsSet(const std::vector<std::string>& args) {
  absl::StatusOr<v1::Target> target =
      TargetFromFields({args[0], args[2], args[1], options_.kind, args[3], options_.basis,
                        options_.assigned_by, options_.decision_ref});
  if (!target.ok()) {
    return UsageFailed(target.status());
  }
  v1::SetTargetRequest request;
  *request.mutable_target() = *target;
  // The same command again is a retry (same id: nothing new stored); a different target is a
  // new revision.
  request.set_request_id(options_.request_id.empty()
                             ? BatchRequestId(UploadId(target->SerializeAsString(), "target"), 0)
                             : options_.request_id);
  auto stub = Targets();
  grpc::ClientContext context;
  SetDeadline(context);
  v1::Target stored;
  grpc::Status status = stub->SetTarget(&context, request, &stored);
  if (!status.ok()) {
    return RpcFailed(status, "targets set", options_.targets_server);
  }
  Emit(stored, [&](bool people) { return TargetsTable({stored}, people); });
  return kExitOk;
}

int Commands::TargetsList(const std::vector<std::string>& args) {
  v1::ListTargetsRequest request;
  if (!args.empty()) {
    request.set_unit_code(args[0]);
  }
  request.set_parent_code(options_.parent);
  request.set_year(options_.year);
  COVCTL_ASSIGN_OR_USAGE(scheme, ParseOptionalScheme(options_.scheme, "--scheme"));
  request.set_scheme(scheme);
  request.set_include_revisions(options_.include_revisions);
  request.set_page_size(1000);
  auto stub = Targets();
  v1::ListTargetsResponse all;
  do {
    grpc::ClientContext context;
    SetDeadline(context);
    v1::ListTargetsResponse page;
    grpc::Status status = stub->ListTargets(&context, request, &page);
    if (!status.ok()) {
      return RpcFailed(status, "targets list", options_.targets_server);
    }
    all.mutable_targets()->MergeFrom(page.targets());
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  std::vector<v1::Target> targets(all.targets().begin(), all.targets().end());
  Emit(all, [&](bool people) { return TargetsTable(targets, people); });
  return kExitOk;
}

int Commands::TargetsImport(const std::vector<std::string>& args) {
  const std::string& path = args[0];
  int exit_code = kExitOk;
  auto file = ReadCsv(path, exit_code);
  if (!file) {
    return exit_code;
  }
  ParsedRows<v1::Target> parsed = ParseTargetRows(file->second);
  if (ReportBadRows(path, parsed, file->second.rows.size())) {
    return kExitRejected;
  }
  // One SetTarget per row (the API has no batch call); ids derived from the file, so a re-run
  // after an interruption stores nothing twice.
  std::string upload_id = UploadId(file->first, "targets");
  auto stub = Targets();
  Progress progress(err_, options_.progress, "importing targets", parsed.items.size());
  v1::ListTargetsResponse stored;
  int rejected = 0;
  for (size_t i = 0; i < parsed.items.size(); ++i) {
    v1::SetTargetRequest request;
    *request.mutable_target() = parsed.items[i];
    request.set_request_id(BatchRequestId(upload_id, i));
    grpc::ClientContext context;
    SetDeadline(context);
    v1::Target target;
    grpc::Status status = stub->SetTarget(&context, request, &target);
    if (!status.ok()) {
      if (ExitCodeFor(status.error_code()) != kExitRejected) {
        progress.Finish();
        int code = RpcFailed(status, "targets import", options_.targets_server);
        err_ << path << ": stopped at line " << parsed.lines[i] << " (" << i << " of "
             << parsed.items.size() << " rows stored); run the same command again to resume\n";
        return code;
      }
      err_ << path << ":" << parsed.lines[i]
           << ": rejected by the server: " << CodeName(status.error_code()) << ": "
           << status.error_message() << "\n";
      ++rejected;
      continue;
    }
    *stored.add_targets() = target;
    progress.Update(i + 1);
  }
  progress.Finish();
  std::vector<v1::Target> targets(stored.targets().begin(), stored.targets().end());
  Emit(stored, [&](bool people) { return TargetsTable(targets, people); });
  if (rejected > 0) {
    err_ << path << ": " << rejected << " of " << parsed.items.size() << " rows rejected\n";
    return kExitRejected;
  }
  return kExitOk;
}

int Commands::TargetsAllocate(const std::vector<std::string>& args) {
  static const std::map<std::string, v1::AllocationMethod> kMethods = {
      {"population", v1::ALLOCATION_METHOD_POPULATION},
      {"labor_force", v1::ALLOCATION_METHOD_LABOR_FORCE},
      {"last_year_participants", v1::ALLOCATION_METHOD_LAST_YEAR_PARTICIPANTS}};
  auto method = kMethods.find(options_.method);
  if (method == kMethods.end()) {
    return UsageFailed(absl::InvalidArgumentError(
        "--method must be one of population, labor_force, last_year_participants"));
  }
  COVCTL_ASSIGN_OR_USAGE(scheme, ParseOptionalScheme(args[1], "SCHEME", /*required=*/true));
  COVCTL_ASSIGN_OR_USAGE(year, ParseYear(args[2]));
  COVCTL_ASSIGN_OR_USAGE(level, ParseOptionalLevel(options_.level));
  v1::AllocateTargetRequest request;
  request.set_parent_code(args[0]);
  request.set_scheme(scheme);
  request.set_year(year);
  request.set_level(level);
  request.set_method(method->second);
  request.set_preview(options_.preview);
  request.set_assigned_by(options_.assigned_by);
  request.set_decision_ref(options_.decision_ref);
  if (!options_.preview) {
    request.set_request_id(
        options_.request_id.empty()
            ? BatchRequestId(UploadId(request.SerializeAsString(), "allocate"), 0)
            : options_.request_id);
  }
  auto stub = Targets();
  grpc::ClientContext context;
  SetDeadline(context);
  v1::AllocateTargetResponse response;
  grpc::Status status = stub->AllocateTarget(&context, request, &response);
  if (!status.ok()) {
    return RpcFailed(status, "targets allocate", options_.targets_server);
  }
  std::string title = absl::StrCat(
      response.stored() ? "Stored" : "Preview (nothing stored)", ": ", args[0], " ", args[1], " ",
      args[2], " target ", GroupThousands(static_cast<int64_t>(response.parent_target().value())),
      " split by ", options_.method, "; parts add up to ",
      GroupThousands(response.allocated_total()));
  Emit(
      response, [&](bool people) { return AllocationTable(response, people); }, title);
  return kExitOk;
}

int Commands::TargetsLagging(const std::vector<std::string>& args) {
  COVCTL_CHECK_USAGE(CheckPeriod(args[1]));
  COVCTL_ASSIGN_OR_USAGE(scheme,
                         ParseOptionalScheme(options_.scheme, "--scheme", /*required=*/true));
  COVCTL_ASSIGN_OR_USAGE(level, ParseOptionalLevel(options_.level));
  v1::ListLaggingUnitsRequest request;
  request.set_parent_code(args[0]);
  request.set_period(args[1]);
  request.set_scheme(scheme);
  request.set_level(level);
  request.set_page_size(500);
  auto stub = Targets();
  v1::ListLaggingUnitsResponse all;
  do {
    grpc::ClientContext context;
    SetDeadline(context);
    v1::ListLaggingUnitsResponse page;
    grpc::Status status = stub->ListLaggingUnits(&context, request, &page);
    if (!status.ok()) {
      return RpcFailed(status, "targets lagging", options_.targets_server);
    }
    all.mutable_units()->MergeFrom(page.units());
    all.set_total_size(page.total_size());
    all.set_units_with_target(page.units_with_target());
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  Emit(
      all, [&](bool people) { return LaggingTable(all, people); },
      absl::StrCat(all.total_size(), " of ", all.units_with_target(), " units with a ",
                   options_.scheme, " target under ", args[0], " are behind or at risk in ",
                   args[1], " (worst first)"));
  return kExitOk;
}

int Commands::TargetsValidate(const std::vector<std::string>& args) {
  COVCTL_ASSIGN_OR_USAGE(scheme, ParseOptionalScheme(args[1], "SCHEME", /*required=*/true));
  COVCTL_ASSIGN_OR_USAGE(year, ParseYear(args[2]));
  COVCTL_ASSIGN_OR_USAGE(level, ParseOptionalLevel(options_.level));
  v1::ValidateAllocationRequest request;
  request.set_parent_code(args[0]);
  request.set_scheme(scheme);
  request.set_year(year);
  request.set_level(level);
  auto stub = Targets();
  grpc::ClientContext context;
  SetDeadline(context);
  v1::ValidateAllocationResponse response;
  grpc::Status status = stub->ValidateAllocation(&context, request, &response);
  if (!status.ok()) {
    return RpcFailed(status, "targets validate", options_.targets_server);
  }
  std::vector<v1::Target> children(response.child_targets().begin(),
                                   response.child_targets().end());
  std::string title =
      absl::StrCat(response.consistent() ? "Consistent" : "NOT consistent", ": children total ",
                   FormatFixed(response.children_total(), 0), ", difference ",
                   FormatSigned(response.difference(), 0),
                   response.problems().empty()
                       ? ""
                       : absl::StrCat("\n  ", absl::StrJoin(response.problems(), "\n  ")));
  Emit(
      response, [&](bool people) { return TargetsTable(children, people); }, title);
  return response.consistent() ? kExitOk : kExitRejected;
}

int Commands::Achievement(const std::vector<std::string>& args) {
  COVCTL_CHECK_USAGE(CheckPeriod(args[1]));
  COVCTL_ASSIGN_OR_USAGE(schemes, ParseSchemeList(options_.schemes));
  v1::GetAchievementRequest request;
  request.set_unit_code(args[0]);
  request.set_period(args[1]);
  for (v1::Scheme scheme : schemes) {
    request.add_schemes(scheme);
  }
  auto stub = Targets();
  grpc::ClientContext context;
  SetDeadline(context);
  v1::Achievement achievement;
  grpc::Status status = stub->GetAchievement(&context, request, &achievement);
  if (!status.ok()) {
    return RpcFailed(status, "targets achievement", options_.targets_server);
  }
  Emit(
      achievement, [&](bool people) { return AchievementTable(achievement, people); },
      absl::StrCat(achievement.unit().name(), " (", achievement.unit().code(), "), ",
                   achievement.period(), ", as of ", achievement.as_of_month()));
  return kExitOk;
}

int Commands::Report(const std::vector<std::string>& args) {
  COVCTL_CHECK_USAGE(CheckPeriod(args[1]));
  v1::GetReportRequest request;
  request.set_unit_code(args[0]);
  request.set_period(args[1]);
  auto stub = Targets();
  grpc::ClientContext context;
  SetDeadline(context);
  v1::Report report;
  grpc::Status status = stub->GetReport(&context, request, &report);
  if (!status.ok()) {
    return RpcFailed(status, "report", options_.targets_server);
  }
  if (options_.format == OutputFormat::kTable) {
    out_ << report.text() << "\n\n";
  }
  Emit(report, [&](bool people) { return AchievementTable(report.achievement(), people); });
  return kExitOk;
}

// The dispatch table: the words of a command, its positional arguments, and its handler.
struct CommandSpec {
  std::vector<std::string> words;
  std::string arguments;  // for usage
  size_t min_args;
  size_t max_args;
  int (Commands::*handler)(const std::vector<std::string>&);
  std::string summary;
};

const std::vector<CommandSpec>& CommandTable() {
  // clang-format off
  static const auto* const kCommands = new std::vector<CommandSpec>{
      {{"units", "import"}, "FILE.csv", 1, 1, &Commands::UnitsImport,
       "import units (code,name,level,type,parent_code[,valid_from,valid_to]) [--valid_from --valid_to]"},
      {{"units", "list"}, "", 0, 0, &Commands::UnitsList,
       "list units [--parent P --level L --as_of YYYY-MM-DD --code C]"},
      {{"ingest"}, "FILE.csv", 1, 1, &Commands::Ingest,
       "upload participants (unit_code,month,scheme,participants[,in_province_participants]) [--source]"},
      {{"denominators", "import"}, "FILE.csv", 1, 1, &Commands::DenominatorsImport,
       "upload population / labour force (unit_code,year,kind,value)"},
      {{"revisions"}, "UNIT", 1, 1, &Commands::Revisions,
       "audit trail of a unit [--month YYYY-MM --scheme S]"},
      {{"coverage", "list"}, "PARENT PERIOD", 2, 2, &Commands::CoverageList,
       "coverage of the units under PARENT [--level L --scheme S --order code|coverage_asc|coverage_desc|participants]"},
      {{"coverage", "series"}, "UNIT SCHEME FROM_MONTH TO_MONTH", 4, 4, &Commands::CoverageSeries,
       "coverage month by month (stocks at each month's end)"},
      {{"coverage"}, "UNIT PERIOD", 2, 2, &Commands::Coverage,
       "coverage of a unit [--schemes a,b --previous_year_ends N]"},
      {{"targets", "set"}, "UNIT SCHEME YEAR VALUE", 4, 4, &Commands::TargetsSet,
       "set a target [--kind participants|coverage_percent --basis all|in_province --assigned_by --decision_ref]"},
      {{"targets", "list"}, "[UNIT]", 0, 1, &Commands::TargetsList,
       "list targets [--parent P --year Y --scheme S --include_revisions]"},
      {{"targets", "import"}, "FILE.csv", 1, 1, &Commands::TargetsImport,
       "import targets (unit_code,year,scheme,kind,value[,basis,assigned_by,decision_ref])"},
      {{"targets", "allocate"}, "PARENT SCHEME YEAR", 3, 3, &Commands::TargetsAllocate,
       "split a parent's target --method population|labor_force|last_year_participants [--level --preview]"},
      {{"targets", "lagging"}, "PARENT PERIOD", 2, 2, &Commands::TargetsLagging,
       "units behind their target --scheme S [--level L]"},
      {{"targets", "validate"}, "PARENT SCHEME YEAR", 3, 3, &Commands::TargetsValidate,
       "check that the children's targets add up to the parent's [--level L]"},
      {{"targets", "achievement"}, "UNIT PERIOD", 2, 2, &Commands::Achievement,
       "actual figures against the year's targets [--schemes a,b]"},
      {{"report"}, "UNIT PERIOD", 2, 2, &Commands::Report,
       "the review paragraph in Vietnamese, with the achievement table"},
  };
  // clang-format on
  return *kCommands;
}

}  // namespace

std::string Usage() {
  std::string usage =
      "usage: covctl [flags] COMMAND ARGS...\n\n"
      "Commands:\n";
  for (const CommandSpec& spec : CommandTable()) {
    absl::StrAppend(&usage, "  covctl ", absl::StrJoin(spec.words, " "),
                    spec.arguments.empty() ? "" : " ", spec.arguments, "\n      ", spec.summary,
                    "\n");
  }
  absl::StrAppend(
      &usage,
      "\nCommon flags: --server (ingestion, 127.0.0.1:50051), --aggregation_server "
      "(127.0.0.1:50052),\n  --targets_server (127.0.0.1:50053), --format table|json|csv, "
      "--timeout 30s, --batch_size 5000.\n"
      "  Environment: COVTRACK_SERVER, COVTRACK_AGGREGATION_SERVER, COVTRACK_TARGETS_SERVER, "
      "COVTRACK_FORMAT, COVTRACK_TIMEOUT.\n"
      "Exit codes: 0 ok, 1 rejected (bad rows or refused by the server), 2 usage, "
      "3 server unreachable or failed.\n"
      "See docs/cli.md.\n");
  return usage;
}

int RunCommand(const std::vector<std::string>& args, const Options& options, std::ostream& out,
               std::ostream& err) {
  const CommandSpec* best = nullptr;
  for (const CommandSpec& spec : CommandTable()) {
    if (args.size() >= spec.words.size() &&
        std::equal(spec.words.begin(), spec.words.end(), args.begin()) &&
        (best == nullptr || spec.words.size() > best->words.size())) {
      best = &spec;
    }
  }
  if (best == nullptr) {
    err << (args.empty()
                ? "covctl: no command given\n"
                : absl::StrCat("covctl: unknown command \"", absl::StrJoin(args, " "), "\"\n"))
        << Usage();
    return kExitUsage;
  }
  std::vector<std::string> positional(args.begin() + best->words.size(), args.end());
  if (positional.size() < best->min_args || positional.size() > best->max_args) {
    err << "usage: covctl " << absl::StrJoin(best->words, " ") << " " << best->arguments << "\n  "
        << best->summary << "\n";
    return kExitUsage;
  }
  if (options.batch_size <= 0) {
    err << "covctl: --batch_size must be above zero\n";
    return kExitUsage;
  }
  if (!options.tls.ca_file.empty() ||
      !options.tls.cert_file.empty() || !options.tls.key_file.empty()) {
    if (options.tls.ca_file.empty()) {
      err << "covctl: --tls_cert and --tls_key need --tls_ca (the CA that signed the servers' "
             "certificates)\n";
      return kExitUsage;
    }
    for (const std::string& file : {options.tls.ca_file, options.tls.cert_file,
                                    options.tls.key_file}) {
      if (absl::StatusOr<std::string> read = ReadFileToString(file); !file.empty() && !read.ok()) {
        err << "covctl: TLS: " << read.status().message() << "\n";
        return kExitUsage;
      }
    }
  }
  // Every call of this command carries one x-request-id, which the services log (not the
  // idempotency key --request_id).
  ScopedCall call({absl::StrCat("covctl ", absl::StrJoin(best->words, " ")), NewRequestId()});
  Commands commands(options, out, err);
  return (commands.*(best->handler))(positional);
}

}  // namespace covtrack::covctl
