// covctl ingest, denominators import and measures import: a CSV checked row by row (nothing is sent
// if one row is bad), then streamed to ingestion in batches whose request ids derive from the
// file's content, so that running the same command again resumes without counting twice.

#include <algorithm>
#include <numeric>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
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

namespace {

// A drain (the service shutting down, see IngestionServiceImpl::BeginDrain) ends an upload with
// UNAVAILABLE and the number of messages it committed; covctl then sends the rest to the
// restarted service or another replica. Bounded: at most kMaxResumes interruptions in a row
// that committed nothing, waiting kFirstResumeDelay, doubling to kMaxResumeDelay, before each.
constexpr int kMaxResumes = 5;
constexpr absl::Duration kFirstResumeDelay = absl::Seconds(1);
constexpr absl::Duration kMaxResumeDelay = absl::Seconds(8);
constexpr char kCommittedTrailer[] = "covtrack-committed-messages";

// The trailer's count of committed messages, when the call carried one that makes sense for
// `sent` messages.
std::optional<size_t> CommittedMessages(const grpc::ClientContext& context, size_t sent) {
  const auto& trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find(kCommittedTrailer);
  size_t committed = 0;
  if (it == trailers.end() ||
      !absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &committed) ||
      committed > sent) {
    return std::nullopt;
  }
  return committed;
}

}  // namespace

int Commands::StreamUpload(const std::string& path, std::vector<v1::SubmitReportRequest> messages,
                           const std::vector<size_t>& rows_in, absl::string_view upload_id,
                           absl::string_view element, const std::vector<int>& lines) {
  auto stub = Ingestion();
  size_t total_rows = std::accumulate(rows_in.begin(), rows_in.end(), size_t{0});
  Progress progress(err_, options_.progress, "uploading", total_rows);
  // Over every call of the upload: the server's summaries of the calls that finished, plus
  // what is known of those a drain interrupted (their messages, not their changes).
  v1::StreamReportsResponse total;
  size_t first = 0;      // the first message of the current call
  size_t done_rows = 0;  // rows of messages 0..first-1, all committed
  int resumes = 0;       // interruptions in a row that committed nothing
  absl::Duration delay = kFirstResumeDelay;
  while (true) {
    grpc::ClientContext context;
    SetDeadline(context, messages.size() - first);
    // A resumed call waits for the service to be back (a restart) rather than failing at once.
    context.set_wait_for_ready(first > 0 || resumes > 0);
    v1::StreamReportsResponse summary;
    std::unique_ptr<grpc::ClientWriter<v1::SubmitReportRequest>> writer =
        stub->StreamReports(&context, &summary);
    size_t sent_rows = done_rows;
    bool reached = false;  // a message of this call was sent: the service was there
    for (size_t i = first; i < messages.size(); ++i) {
      if (!writer->Write(messages[i])) {
        break;  // the server ended the call; Finish() says why
      }
      reached = true;
      sent_rows += rows_in[i];
      progress.Update(sent_rows);
    }
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    const std::optional<size_t> committed = CommittedMessages(context, messages.size() - first);
    if (status.ok() &&
        summary.messages_committed() != static_cast<int64_t>(messages.size() - first)) {
      // The server ended the stream early without an error (a message it could not parse ends
      // its reader as the end of the stream does): never report that as a finished upload.
      status = grpc::Status(
          grpc::StatusCode::DATA_LOSS,
          absl::StrCat("the service committed ", summary.messages_committed(), " of the ",
                       messages.size() - first, " batches sent from batch ", first));
    }
    if (status.ok()) {
      total.set_messages_committed(total.messages_committed() + summary.messages_committed());
      total.set_messages_replayed(total.messages_replayed() + summary.messages_replayed());
      total.set_records_accepted(total.records_accepted() + summary.records_accepted());
      total.set_records_changed(total.records_changed() + summary.records_changed());
      total.set_denominators_accepted(total.denominators_accepted() +
                                      summary.denominators_accepted());
      total.set_denominators_changed(total.denominators_changed() + summary.denominators_changed());
      total.set_measures_accepted(total.measures_accepted() + summary.measures_accepted());
      total.set_measures_changed(total.measures_changed() + summary.measures_changed());
      total.set_last_change_seq(summary.last_change_seq());
      total.set_last_request_id(summary.last_request_id());
      break;
    }
    // Batches before `first` are committed; of this call's, `committed` when the server said.
    std::optional<size_t> committed_total;
    if (committed.has_value()) {
      committed_total = first + *committed;
    }
    // Resumable: the service stopped the upload saying how far it got, or the connection was
    // lost after this call reached the service (a drained server closing its connections can
    // reset them before the client reads the status). Batches sent again that were committed
    // are recognised by their request ids, so resuming from what is known is safe.
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
        (committed.has_value() || reached)) {
      for (size_t i = first; i < first + committed.value_or(0); ++i) {
        total.set_messages_committed(total.messages_committed() + 1);
        total.set_records_accepted(total.records_accepted() + messages[i].records_size());
        total.set_denominators_accepted(total.denominators_accepted() +
                                        messages[i].denominators_size());
        total.set_measures_accepted(total.measures_accepted() + messages[i].measures_size());
        done_rows += rows_in[i];
      }
      first += committed.value_or(0);
      if (committed.value_or(0) > 0) {
        resumes = 0;
        delay = kFirstResumeDelay;
      }
      if (resumes < kMaxResumes) {
        ++resumes;
        progress.Finish();
        err_ << path << ": "
             << (committed.has_value() ? "the service stopped the upload ("
                                       : "the connection was lost during the upload (")
             << status.error_message() << "); " << (committed.has_value() ? "" : "at least ")
             << first << " of " << messages.size() << " batches are committed. Resuming from batch "
             << first << " in " << absl::FormatDuration(delay) << " (attempt " << resumes << " of "
             << kMaxResumes << ")\n";
        absl::SleepFor(delay);
        delay = std::min(delay * 2, kMaxResumeDelay);
        continue;
      }
    }
    progress.Finish();
    std::string committed_text =
        committed_total.has_value()
            ? absl::StrCat(*committed_total, " of ", messages.size(), " batches were committed")
            : absl::StrCat("it is not known how many of ", messages.size(),
                           " batches were committed (at least ", first, ")");
    if (std::optional<int> line =
            LineOfServerError(status.error_message(), upload_id, element,
                              static_cast<size_t>(options_.batch_size), lines)) {
      err_ << path << ":" << *line << ": rejected by the server: " << status.error_message()
           << "\n";
    }
    int code = RpcFailed(status, "upload", options_.server);
    err_ << path << ": " << committed_text
         << "; the rest was not stored. Run the same command again to resume "
            "(committed batches are recognised and not counted twice)\n";
    return code;
  }
  progress.Finish();
  if (first > 0) {
    err_ << path << ": resumed after an interruption: changes made before it are not in the "
         << "changed counts below\n";
  }
  Emit(total, [&](bool people) { return UploadSummaryTable(total, people); });
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

int Commands::MeasuresImport(const std::vector<std::string>& args) {
  return UploadRows(args[0], "measures", "measures", &sampledata::ParseMeasureRows,
                    &v1::SubmitReportRequest::add_measures);
}

}  // namespace covtrack::covctl
