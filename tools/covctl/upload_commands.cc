// covctl ingest and covctl denominators import: a CSV checked row by row (nothing is sent if one
// row is bad), then streamed to ingestion in batches whose request ids derive from the file's
// content, so that running the same command again resumes without counting twice.

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "tools/covctl/command_handlers.h"
#include "tools/covctl/upload.h"

namespace covtrack::covctl {

using sampledata::CsvTable;
using sampledata::ParsedRows;

template <typename Record>
int Commands::UploadRows(const std::string& path, absl::string_view kind, absl::string_view element,
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
  std::string upload_id =
      UploadId(file->first, absl::StrCat(kind, ";batch=", batch_size, ";source=", options_.source));
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

}  // namespace covtrack::covctl
