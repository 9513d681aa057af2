#include "services/aggregation/ingestion_client.h"

#include "absl/strings/str_cat.h"
#include "common/call_context.h"
#include "common/client.h"
#include "common/status/status.h"

namespace covtrack::aggregation {

IngestionClient::IngestionClient(std::shared_ptr<grpc::Channel> channel,
                                 const IngestionClientOptions& options)
    : options_(options),
      channel_(std::move(channel)),
      stub_(v1::IngestionService::NewStub(channel_)) {}

namespace {
// Between the pages of a listing or the chunks of an export: the caller has gone, so stop.
absl::Status Cancelled(absl::string_view method) {
  return absl::CancelledError(
      absl::StrCat("ingestion ", method, ": stopped, the call being served was cancelled"));
}

absl::Status Annotate(const grpc::Status& status, absl::string_view method) {
  absl::Status s = FromGrpcStatus(status);
  // Ingestion refusing for lack of room is not this caller's doing: to them this service is
  // unavailable for a moment (their retry policy retries UNAVAILABLE), and the message keeps
  // ingestion's "retry after N ms".
  absl::StatusCode code =
      s.code() == absl::StatusCode::kResourceExhausted ? absl::StatusCode::kUnavailable : s.code();
  return absl::Status(code, absl::StrCat("ingestion ", method, ": ", s.message()));
}
}  // namespace

absl::StatusOr<int64_t> IngestionClient::GetChangeHead() {
  grpc::ClientContext context;
  SetCallDeadline(context, options_.call_deadline);
  // The follower retries a lost ingestion in a loop, which stretches the channel's reconnect
  // backoff: a call that failed fast would fail for seconds after ingestion is back. Waiting
  // for the channel (within the deadline) answers as soon as it reconnects.
  context.set_wait_for_ready(true);
  v1::ChangeHead head;
  grpc::Status status = stub_->GetChangeHead(&context, v1::GetChangeHeadRequest(), &head);
  if (!status.ok()) {
    return Annotate(status, "GetChangeHead");
  }
  return head.seq();
}

absl::StatusOr<v1::ListChangesResponse> IngestionClient::ListChanges(int64_t after_seq,
                                                                     int page_size) {
  grpc::ClientContext context;
  SetCallDeadline(context, options_.call_deadline);
  context.set_wait_for_ready(true);  // as in GetChangeHead
  v1::ListChangesRequest request;
  request.set_after_seq(after_seq);
  request.set_page_size(page_size);
  v1::ListChangesResponse response;
  grpc::Status status = stub_->ListChanges(&context, request, &response);
  if (!status.ok()) {
    return Annotate(status, "ListChanges");
  }
  return response;
}

absl::StatusOr<std::vector<v1::AdminUnit>> IngestionClient::ListAllUnits() {
  std::vector<v1::AdminUnit> units;
  std::string token;
  do {
    if (CurrentCallCancelled()) {
      return Cancelled("ListAdminUnits");
    }
    grpc::ClientContext context;
    SetCallDeadline(context, options_.call_deadline);
    v1::ListAdminUnitsRequest request;
    request.set_page_size(10000);
    request.set_page_token(token);
    v1::ListAdminUnitsResponse response;
    grpc::Status status = stub_->ListAdminUnits(&context, request, &response);
    if (!status.ok()) {
      return Annotate(status, "ListAdminUnits");
    }
    for (v1::AdminUnit& u : *response.mutable_units()) {
      units.push_back(std::move(u));
    }
    token = response.next_page_token();
  } while (!token.empty());
  return units;
}

absl::StatusOr<std::vector<v1::CrosswalkLink>> IngestionClient::ListAllCrosswalkLinks() {
  std::vector<v1::CrosswalkLink> links;
  std::string token;
  do {
    if (CurrentCallCancelled()) {
      return Cancelled("ListCrosswalk");
    }
    grpc::ClientContext context;
    SetCallDeadline(context, options_.call_deadline);
    v1::ListCrosswalkRequest request;
    request.set_page_size(10000);
    request.set_page_token(token);
    v1::ListCrosswalkResponse response;
    grpc::Status status = stub_->ListCrosswalk(&context, request, &response);
    if (!status.ok()) {
      return Annotate(status, "ListCrosswalk");
    }
    for (v1::CrosswalkLink& link : *response.mutable_links()) {
      links.push_back(std::move(link));
    }
    token = response.next_page_token();
  } while (!token.empty());
  return links;
}

absl::StatusOr<int64_t> IngestionClient::ExportData(
    const std::string& root, const std::string& as_of, const std::string& from_month,
    const std::string& to_month, int from_year, int to_year, bool include_measures,
    const std::function<void(const v1::ExportDataResponse&)>& sink) {
  grpc::ClientContext context;
  SetCallDeadline(context, options_.export_deadline);
  v1::ExportDataRequest request;
  request.set_root_code(root);
  request.set_as_of(as_of);
  request.set_from_month(from_month);
  request.set_to_month(to_month);
  request.set_from_year(from_year);
  request.set_to_year(to_year);
  request.set_include_measures(include_measures);
  std::unique_ptr<grpc::ClientReader<v1::ExportDataResponse>> reader =
      stub_->ExportData(&context, request);
  int64_t snapshot_seq = 0;
  v1::ExportDataResponse chunk;
  bool cancelled = false;
  while (reader->Read(&chunk)) {
    // A deadline ends the stream by itself; a cancellation without one must end it here.
    if (CurrentCallCancelled()) {
      cancelled = true;
      context.TryCancel();
      break;
    }
    snapshot_seq = chunk.snapshot_seq();
    sink(chunk);
  }
  grpc::Status status = reader->Finish();
  if (cancelled) {
    return Cancelled("ExportData");
  }
  if (!status.ok()) {
    return Annotate(status, "ExportData");
  }
  return snapshot_seq;
}

absl::Status IngestionClient::WatchChanges(
    int64_t after_seq, grpc::ClientContext& context,
    const std::function<bool(const v1::Change&)>& on_change) {
  context.set_wait_for_ready(true);  // as in GetChangeHead
  v1::WatchChangesRequest request;
  request.set_after_seq(after_seq);
  std::unique_ptr<grpc::ClientReader<v1::Change>> reader = stub_->WatchChanges(&context, request);
  v1::Change change;
  while (reader->Read(&change)) {
    if (!on_change(change)) {
      context.TryCancel();
      break;
    }
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) {
    return Annotate(status, "WatchChanges");
  }
  return absl::OkStatus();
}

}  // namespace covtrack::aggregation
