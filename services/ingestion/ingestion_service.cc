#include "services/ingestion/ingestion_service.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/metrics/metrics.h"
#include "common/paging/paging.h"
#include "common/period.h"
#include "common/server.h"
#include "common/status/status.h"
#include "common/text.h"
#include "google/protobuf/arena.h"

namespace covtrack::ingestion {
namespace {

using access::Role;

// Page sizes (AIP-158): 0 means the default, more than the maximum is clamped.
constexpr PageSizeLimits kAdminUnitPages = {1000, 10000};
constexpr PageSizeLimits kRevisionPages = {100, 1000};
constexpr PageSizeLimits kChangePages = {100, 1000};
constexpr PageSizeLimits kCrosswalkPages = {1000, 10000};
// The page a WatchChanges stream reads the feed in.
constexpr int kWatchPageSize = 100;
// WatchChanges streams reading the feed at once. Every open stream wakes on each commit; without
// this bound 500 streams read at the same moment, and the store opened a connection for each
// (kept afterwards: 860 MB and 473 open files after the streams had closed). The others wait
// for a turn, which costs them a few milliseconds.
constexpr int kMaxConcurrentFeedReads = 4;

// StreamReports' group commit (StreamReports below). A group takes the messages that have
// arrived while the transaction runs, up to these bounds: the writers' lock is held for at most
// about a second, and the messages read ahead of the transactions take bounded memory.
constexpr int kGroupMaxMessages = 32;
constexpr absl::Duration kGroupMaxTime = absl::Seconds(1);
constexpr size_t kReadAheadMaxBytes = 32 << 20;  // serialized size of the queued messages

// What was written and what was refused, for operators (common/metrics).
struct IngestionMetrics {
  metrics::Counter& records = metrics::Registry::Global().AddCounter(
      "covtrack_ingestion_records_total",
      "Participation records, denominators and measures in committed reports (replays not "
      "counted)",
      {"kind"});
  metrics::Counter& rejected = metrics::Registry::Global().AddCounter(
      "covtrack_ingestion_rejected_requests_total",
      "Report and import requests refused, by status code", {"code"});
  metrics::Counter& rejected_records = metrics::Registry::Global().AddCounter(
      "covtrack_ingestion_rejected_records_total",
      "Records, denominators and measures in refused reports (none of them was written)", {});

  void Committed(const v1::SubmitReportResponse& response) {
    if (!response.replayed()) {
      records.Add({"participation"}, response.records_accepted());
      records.Add({"denominator"}, response.denominators_accepted());
      records.Add({"measure"}, response.measures_accepted());
    }
  }
  void Rejected(absl::StatusCode code, const v1::SubmitReportRequest* request) {
    rejected.Add({absl::StatusCodeToString(code)});
    if (request != nullptr) {
      rejected_records.Add(
          {}, request->records_size() + request->denominators_size() + request->measures_size());
    }
  }
};

IngestionMetrics& Metrics() {
  static IngestionMetrics* m = new IngestionMetrics();
  return *m;
}

// The authorizer answers in gRPC's status; the operations in absl's.
absl::Status Allowed(const grpc::Status& decision) { return FromGrpcStatus(decision); }

// Every unary handler: its body (authorize → validate → the operation) returns an
// absl::StatusOr; Answer (common/server.h) converts it once.
template <typename Response, typename Body>
grpc::Status Reply(Response* response, Body&& body) {
  return Answer<Response>(std::forward<Body>(body)(), response);
}

// The units a report writes for, each with the day its place in the hierarchy is read on: a
// record's on the last day of its month, a yearly figure's by the yearly-figure rule
// (common/hierarchy, applied by the authorizer). Malformed months are left to the report's
// checks, which refuse the whole report.
std::vector<access::UnitRef> UnitsOf(const v1::SubmitReportRequest& request) {
  std::vector<access::UnitRef> refs;
  absl::flat_hash_set<std::pair<std::string, std::string>> seen;
  MonthEnds month_ends;
  auto on_month_end = [&](const std::string& unit_code, const std::string& month) {
    absl::StatusOr<absl::string_view> day = month_ends.Of(month);
    std::string on = day.ok() ? std::string(*day) : "";
    if (seen.insert({unit_code, on}).second) {
      refs.push_back(access::UnitRef::OnDay(unit_code, std::move(on)));
    }
  };
  for (const v1::ParticipationRecord& r : request.records()) {
    on_month_end(r.unit_code(), r.month());
  }
  for (const v1::MeasureRecord& m : request.measures()) {
    on_month_end(m.unit_code(), m.month());
  }
  for (const v1::DenominatorRecord& d : request.denominators()) {
    if (seen.insert({d.unit_code(), absl::StrCat(d.year())}).second) {
      refs.push_back(access::UnitRef::InYear(d.unit_code(), d.year()));
    }
  }
  return refs;
}

}  // namespace

absl::StatusOr<std::unique_ptr<IngestionServiceImpl>> IngestionServiceImpl::Create(
    const IngestionOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<sql::Database> db, sql::Database::Open(options.store_url));
  ASSIGN_OR_RETURN(std::unique_ptr<IngestionStore> store,
                   IngestionStore::Create(db.get(), options.feed_retention));
  return std::unique_ptr<IngestionServiceImpl>(
      new IngestionServiceImpl(options, std::move(db), std::move(store)));
}

IngestionServiceImpl::IngestionServiceImpl(IngestionOptions options,
                                           std::unique_ptr<sql::Database> db,
                                           std::unique_ptr<IngestionStore> store)
    : options_(std::move(options)),
      db_(std::move(db)),
      store_(std::move(store)),
      access_(options_.access_policy, [store = store_.get()](const std::string& code) {
        return store->UnitVersions(code);
      }) {}

void IngestionServiceImpl::NoteCommitted(int64_t seq) {
  absl::MutexLock lock(&mu_);
  last_committed_seq_ = std::max(last_committed_seq_, seq);
}

absl::StatusOr<v1::ImportAdminUnitsResponse> IngestionServiceImpl::Import(
    const grpc::ServerContext& context, const v1::ImportAdminUnitsRequest& request) {
  absl::StatusOr<v1::ImportAdminUnitsResponse> result =
      [&]() -> absl::StatusOr<v1::ImportAdminUnitsResponse> {
    RETURN_IF_ERROR(Allowed(access_.Require(context, Role::kAdmin)));
    RETURN_IF_ERROR(ValidateImportAdminUnits(request, options_.limits));
    return store_->ImportAdminUnits(request, Sender{PeerIdentity(context), ""});
  }();
  if (!result.ok()) {
    Metrics().Rejected(result.status().code(), nullptr);
    return result;
  }
  NoteCommitted(result->change_seq());
  log::Info(result->replayed() ? "admin units import replayed" : "admin units imported",
            {{"request_id", request.request_id()},
             {"units", absl::StrCat(result->units_accepted())},
             {"changed", absl::StrCat(result->units_changed())},
             {"seq", absl::StrCat(result->change_seq())}});
  return result;
}

absl::Status IngestionServiceImpl::CheckReport(const grpc::ServerContext& context,
                                               const v1::SubmitReportRequest& request) {
  RETURN_IF_ERROR(Allowed(access_.RequireUnits(context, Role::kReporter, UnitsOf(request))));
  return ValidateSubmitReport(request, options_.limits);
}

absl::StatusOr<v1::SubmitReportResponse> IngestionServiceImpl::Submit(
    const grpc::ServerContext& context, const v1::SubmitReportRequest& request) {
  absl::StatusOr<v1::SubmitReportResponse> result =
      [&]() -> absl::StatusOr<v1::SubmitReportResponse> {
    RETURN_IF_ERROR(CheckReport(context, request));
    return store_->SubmitReport(request, Sender{PeerIdentity(context), request.source()});
  }();
  if (!result.ok()) {
    Metrics().Rejected(result.status().code(), &request);
    return result;
  }
  Metrics().Committed(*result);
  NoteCommitted(result->change_seq());
  return result;
}

grpc::Status IngestionServiceImpl::ImportAdminUnits(grpc::ServerContext* context,
                                                    const v1::ImportAdminUnitsRequest* request,
                                                    v1::ImportAdminUnitsResponse* response) {
  return Reply(response, [&] { return Import(*context, *request); });
}

grpc::Status IngestionServiceImpl::SubmitReport(grpc::ServerContext* context,
                                                const v1::SubmitReportRequest* request,
                                                v1::SubmitReportResponse* response) {
  return Reply(response, [&] { return Submit(*context, *request); });
}

grpc::Status IngestionServiceImpl::ListAdminUnits(grpc::ServerContext* context,
                                                  const v1::ListAdminUnitsRequest* request,
                                                  v1::ListAdminUnitsResponse* response) {
  return Reply(response, [&]() -> absl::StatusOr<v1::ListAdminUnitsResponse> {
    RETURN_IF_ERROR(Allowed(access_.Require(*context, Role::kReader)));
    RETURN_IF_ERROR(ValidateListAdminUnits(*request));
    ASSIGN_OR_RETURN(const PageRequest page, PageRequest::Read(*request, kAdminUnitPages));
    return store_->ListAdminUnits(*request, page);
  });
}

grpc::Status IngestionServiceImpl::ListRevisions(grpc::ServerContext* context,
                                                 const v1::ListRevisionsRequest* request,
                                                 v1::ListRevisionsResponse* response) {
  return Reply(response, [&]() -> absl::StatusOr<v1::ListRevisionsResponse> {
    RETURN_IF_ERROR(Allowed(access_.Require(*context, Role::kReader)));
    RETURN_IF_ERROR(ValidateListRevisions(*request));
    ASSIGN_OR_RETURN(const PageRequest page, PageRequest::Read(*request, kRevisionPages));
    return store_->ListRevisions(*request, page);
  });
}

grpc::Status IngestionServiceImpl::GetChangeHead(grpc::ServerContext* context,
                                                 const v1::GetChangeHeadRequest* request,
                                                 v1::ChangeHead* response) {
  return Reply(response, [&]() -> absl::StatusOr<v1::ChangeHead> {
    RETURN_IF_ERROR(Allowed(access_.Require(*context, Role::kReader)));
    ASSIGN_OR_RETURN(const int64_t seq, store_->ChangeHead());
    v1::ChangeHead head;
    head.set_seq(seq);
    return head;
  });
}

grpc::Status IngestionServiceImpl::ListChanges(grpc::ServerContext* context,
                                               const v1::ListChangesRequest* request,
                                               v1::ListChangesResponse* response) {
  return Reply(response, [&]() -> absl::StatusOr<v1::ListChangesResponse> {
    RETURN_IF_ERROR(Allowed(access_.Require(*context, Role::kReader)));
    // The feed pages by after_seq (the last seq of the previous page), not by a token.
    ASSIGN_OR_RETURN(const int page_size, ResolvePageSize(request->page_size(), kChangePages));
    return store_->ListChanges(request->after_seq(), page_size);
  });
}

void IngestionServiceImpl::BeginDrain(absl::Duration grace) {
  const absl::Time uploads_stop = absl::Now() + grace / 2;
  uploads_stop_unix_ns_.store(absl::ToUnixNanos(uploads_stop));
  absl::MutexLock lock(&mu_);
  draining_ = true;  // wakes every WatchChanges stream
}

bool IngestionServiceImpl::UploadsStopped() const {
  return absl::Now() >= absl::FromUnixNanos(uploads_stop_unix_ns_.load());
}

namespace {

// One message of a StreamReports call as the read-ahead thread left it: read and checked (the
// caller's rights, the report's own checks), not yet written.
// The request lives on an arena of its own: a message of 5,000 records is then freed in a few
// blocks instead of one by one, which StreamReports' transaction did while it held the store
// (some 1 ms a message, 9 in a national month).
struct ReadMessage {
  std::unique_ptr<google::protobuf::Arena> arena = std::make_unique<google::protobuf::Arena>();
  v1::SubmitReportRequest* request =
      google::protobuf::Arena::CreateMessage<v1::SubmitReportRequest>(arena.get());
  absl::Status checked;
  size_t bytes = 0;
};

// The messages read ahead of StreamReports' transactions, by a thread of the call's own.
struct ReadAhead {
  absl::Mutex mu;
  std::deque<ReadMessage> queue ABSL_GUARDED_BY(mu);
  size_t queued_bytes ABSL_GUARDED_BY(mu) = 0;
  bool done ABSL_GUARDED_BY(mu) = false;  // no message will be queued any more
  bool stop ABSL_GUARDED_BY(mu) = false;  // the handler ends the call: read nothing more

  // The next message; with `wait`, waits for one (nullopt: the stream has ended), without,
  // nullopt when none has arrived.
  std::optional<ReadMessage> Take(bool wait) {
    absl::MutexLock lock(&mu);
    if (wait) {
      mu.Await(absl::Condition(
          +[](ReadAhead* r)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(r->mu) { return !r->queue.empty() || r->done; },
          this));
    }
    if (queue.empty()) {
      return std::nullopt;
    }
    ReadMessage message = std::move(queue.front());
    queue.pop_front();
    queued_bytes -= message.bytes;
    return message;
  }
};

// What the messages of one group wrote, added to the call's answer once the group is committed.
struct GroupAnswer {
  std::vector<std::pair<std::string, v1::SubmitReportResponse>> written;  // request_id, answer
  // Why the group stopped taking messages, when the call ends with it.
  enum class Stop { kNone, kRefused, kShutdown, kTooMany } stop = Stop::kNone;
  absl::Status refused;  // the refused message's error (kRefused)
  std::string refused_id;
  const v1::SubmitReportRequest* refused_request = nullptr;
};

}  // namespace

// Group commit: a bulk upload pays one durable commit per group of messages instead of one per
// message (9 of the ~430 ms a national month took on SQLite went to 9 commits of 10 ms each).
// The contract stays the one documented on the RPC: each message is all or nothing and
// idempotent by request_id, messages are written in order, the first refused one ends the call
// and the count of committed messages (the trailer "covtrack-committed-messages", and the
// answer) says where to resume. What acknowledges a message is that count, and it is sent only
// at the end of the call, after the transaction holding the counted messages committed: a
// message the call has not counted is either in a group that committed (a resend is recognised
// by its request_id) or in none. How:
//  - A thread of the call reads messages ahead and checks them (rights, the report's checks),
//    outside any transaction; a refused check stops it reading.
//  - The handler opens a transaction when a message is there and writes, each in a savepoint of
//    its own (IngestionStore::SubmitReports), that message and every one that has arrived
//    meanwhile, up to kGroupMaxMessages or kGroupMaxTime; then commits. It never waits for the
//    client inside a transaction, so a client sending one message at a time has each committed
//    on its own as before (and visible on the change feed as soon as it is), while a client
//    sending faster than the store writes has its messages grouped.
//  - A message refused by the store is rolled back to its savepoint and changes nothing; the
//    messages before it in its group commit; the call ends with its error.
//  - A failed commit writes none of the group's messages; the call ends with that error and the
//    count of the groups committed before.
// One difference a client can see: a message refused by the store ends the call once the
// client has sent its next message or closed its side (the read-ahead thread, blocked reading,
// must return before the call can end); a client streaming a file does both at once.
grpc::Status IngestionServiceImpl::StreamReports(
    grpc::ServerContext* context, grpc::ServerReader<v1::SubmitReportRequest>* reader,
    v1::StreamReportsResponse* response) {
  ReadAhead ahead;
  std::thread read_ahead([&] {
    for (;;) {
      {
        absl::MutexLock lock(&ahead.mu);
        ahead.mu.Await(absl::Condition(
            +[](ReadAhead* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(r->mu) {
              return r->stop || r->queued_bytes < kReadAheadMaxBytes;
            },
            &ahead));
        if (ahead.stop) {
          break;
        }
      }
      ReadMessage message;
      if (!reader->Read(message.request)) {
        break;
      }
      message.checked = CheckReport(*context, *message.request);
      message.bytes = message.request->ByteSizeLong();
      const bool refused = !message.checked.ok();
      absl::MutexLock lock(&ahead.mu);
      if (ahead.stop) {
        break;
      }
      ahead.queued_bytes += message.bytes;
      ahead.queue.push_back(std::move(message));
      if (refused) {  // the call ends with it: nothing after it is read
        break;
      }
    }
    absl::MutexLock lock(&ahead.mu);
    ahead.done = true;
  });
  // Every way the call ends says how many messages were committed, so that the client sends
  // the rest from there; the read-ahead thread has returned first.
  auto end = [&](const absl::Status& status) {
    {
      absl::MutexLock lock(&ahead.mu);
      ahead.stop = true;
    }
    read_ahead.join();
    context->AddTrailingMetadata("covtrack-committed-messages",
                                 absl::StrCat(response->messages_committed()));
    return ToGrpcStatus(status);
  };
  const std::string peer = PeerIdentity(*context);
  int groups = 0;  // transactions committed, for the log: how well the messages were grouped
  while (std::optional<ReadMessage> first = ahead.Take(/*wait=*/true)) {
    GroupAnswer group;
    std::optional<ReadMessage> held;  // the message being written (its request outlives it)
    const absl::Status committed =
        store_->SubmitReports([&](const IngestionStore::SubmitInGroup& submit) -> absl::Status {
          const absl::Time began = absl::Now();
          held = std::move(first);
          while (held.has_value()) {
            if (UploadsStopped()) {
              // Shutting down: the message just read is not written (it is whole or nothing),
              // and the client resumes with it on another replica or after the restart.
              group.stop = GroupAnswer::Stop::kShutdown;
              break;
            }
            // The counts below are sums: messages is an int32, and each message holds at most
            // max_items_per_request (an int) records, so with messages bounded every int64 sum
            // fits.
            if (response->messages_committed() + static_cast<int64_t>(group.written.size()) ==
                std::numeric_limits<int32_t>::max()) {
              group.stop = GroupAnswer::Stop::kTooMany;
              break;
            }
            absl::StatusOr<v1::SubmitReportResponse> result =
                held->checked.ok() ? submit(*held->request, Sender{peer, held->request->source()})
                                   : absl::StatusOr<v1::SubmitReportResponse>(held->checked);
            if (!result.ok()) {
              group.stop = GroupAnswer::Stop::kRefused;
              group.refused = result.status();
              group.refused_id = held->request->request_id();
              group.refused_request = held->request;
              break;
            }
            group.written.emplace_back(held->request->request_id(), *std::move(result));
            if (static_cast<int>(group.written.size()) >= kGroupMaxMessages ||
                absl::Now() - began >= kGroupMaxTime) {
              held.reset();
              break;
            }
            held = ahead.Take(/*wait=*/false);
          }
          return absl::OkStatus();
        });
    if (!committed.ok()) {
      LogIfBroken(committed);
      Metrics().Rejected(committed.code(), nullptr);
      return end(absl::Status(
          committed.code(),
          absl::StrCat("the transaction of messages ", response->messages_committed(),
                       " onwards failed: ", committed.message(), "; ",
                       response->messages_committed(), " earlier messages were committed")));
    }
    // Committed: the group's messages count from here on.
    ++groups;
    for (const auto& [request_id, written] : group.written) {
      Metrics().Committed(written);
      response->set_messages_committed(response->messages_committed() + 1);
      response->set_records_accepted(response->records_accepted() + written.records_accepted());
      response->set_denominators_accepted(response->denominators_accepted() +
                                          written.denominators_accepted());
      response->set_measures_accepted(response->measures_accepted() + written.measures_accepted());
      if (written.replayed()) {
        response->set_messages_replayed(response->messages_replayed() + 1);
      } else {
        response->set_records_changed(response->records_changed() + written.records_changed());
        response->set_denominators_changed(response->denominators_changed() +
                                           written.denominators_changed());
        response->set_measures_changed(response->measures_changed() + written.measures_changed());
      }
      response->set_last_change_seq(written.change_seq());
      response->set_last_request_id(request_id);
    }
    if (!group.written.empty()) {
      NoteCommitted(response->last_change_seq());
    }
    switch (group.stop) {
      case GroupAnswer::Stop::kNone:
        break;
      case GroupAnswer::Stop::kRefused:
        LogIfBroken(group.refused);
        Metrics().Rejected(group.refused.code(), group.refused_request);
        return end(absl::Status(
            group.refused.code(),
            absl::StrCat("message ", response->messages_committed(), " (request_id ",
                         QuoteInput(group.refused_id), "): ", group.refused.message(), "; ",
                         response->messages_committed(), " earlier messages were committed")));
      case GroupAnswer::Stop::kShutdown:
        log::Info("report stream stopped for shutdown",
                  {{"messages", absl::StrCat(response->messages_committed())}});
        return end(absl::UnavailableError(absl::StrCat(
            "ingestion is shutting down: ", response->messages_committed(),
            " messages of this stream were committed; send the rest again from message ",
            response->messages_committed())));
      case GroupAnswer::Stop::kTooMany:
        return end(absl::OutOfRangeError(
            absl::StrCat("too many messages in one stream; send the rest from message ",
                         response->messages_committed(), " in another call")));
    }
  }
  if (context->IsCancelled()) {  // the caller went away, or the server is shutting down
    log::Warn("report stream cancelled",
              {{"messages", absl::StrCat(response->messages_committed())}});
    return end(absl::CancelledError(absl::StrCat("cancelled after ", response->messages_committed(),
                                                 " committed messages; resume from there")));
  }
  log::Info("report stream committed", {{"messages", absl::StrCat(response->messages_committed())},
                                        {"transactions", absl::StrCat(groups)},
                                        {"records", absl::StrCat(response->records_accepted())},
                                        {"changed", absl::StrCat(response->records_changed())},
                                        {"seq", absl::StrCat(response->last_change_seq())}});
  return end(absl::OkStatus());
}

bool IngestionServiceImpl::AcquireFeedRead(grpc::ServerContext& context) {
  absl::MutexLock lock(&feed_mu_);
  auto has_room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(feed_mu_) {
    return feed_readers_ < kMaxConcurrentFeedReads;
  };
  while (!feed_mu_.AwaitWithTimeout(absl::Condition(&has_room), absl::Milliseconds(100))) {
    if (context.IsCancelled()) {
      return false;
    }
  }
  ++feed_readers_;
  return true;
}

void IngestionServiceImpl::ReleaseFeedRead() {
  absl::MutexLock lock(&feed_mu_);
  --feed_readers_;
}

grpc::Status IngestionServiceImpl::WatchChanges(grpc::ServerContext* context,
                                                const v1::WatchChangesRequest* request,
                                                grpc::ServerWriter<v1::Change>* writer) {
  if (absl::Status allowed = Allowed(access_.Require(*context, Role::kReader)); !allowed.ok()) {
    return ToGrpcStatus(allowed);
  }
  int64_t sent = request->after_seq();
  while (!context->IsCancelled()) {
    {
      absl::MutexLock lock(&mu_);
      if (draining_) {
        // A watch never ends by itself: it ends at once on shutdown rather than hold the
        // shutdown for its whole grace, and the client watches again from where it was.
        return ToGrpcStatus(absl::UnavailableError(
            absl::StrCat("ingestion is shutting down; watch again with after_seq ", sent)));
      }
    }
    if (!AcquireFeedRead(*context)) {
      break;
    }
    absl::StatusOr<v1::ListChangesResponse> page = store_->ListChanges(sent, kWatchPageSize);
    ReleaseFeedRead();
    if (!page.ok()) {
      LogIfBroken(page.status());
      return ToGrpcStatus(page.status());
    }
    for (const v1::Change& change : page->changes()) {
      if (!writer->Write(change)) {
        return grpc::Status::OK;  // the client went away
      }
      sent = change.seq();
    }
    if (page->changes_size() > 0) {
      continue;
    }
    // Wait for a commit through this replica, or poll for those through others.
    absl::MutexLock lock(&mu_);
    auto committed_after = [this, sent]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return last_committed_seq_ > sent || draining_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&committed_after), options_.watch_poll_interval);
  }
  return ToGrpcStatus(absl::CancelledError("watch cancelled by the caller"));
}

grpc::Status IngestionServiceImpl::ExportData(grpc::ServerContext* context,
                                              const v1::ExportDataRequest* request,
                                              grpc::ServerWriter<v1::ExportDataResponse>* writer) {
  absl::Status status = [&]() -> absl::Status {
    RETURN_IF_ERROR(Allowed(access_.Require(*context, Role::kReader)));
    RETURN_IF_ERROR(ValidateExportData(*request));
    RETURN_IF_ERROR(store_->ExportData(*request, [&](const v1::ExportDataResponse& chunk) {
      return !context->IsCancelled() && writer->Write(chunk);
    }));
    if (context->IsCancelled()) {
      return absl::CancelledError("export cancelled by the caller (or past its deadline)");
    }
    return absl::OkStatus();
  }();
  LogIfBroken(status);
  return ToGrpcStatus(status);
}

grpc::Status IngestionServiceImpl::ImportCrosswalk(grpc::ServerContext* context,
                                                   const v1::ImportCrosswalkRequest* request,
                                                   v1::ImportCrosswalkResponse* response) {
  return Reply(response, [&]() -> absl::StatusOr<v1::ImportCrosswalkResponse> {
    absl::StatusOr<v1::ImportCrosswalkResponse> result =
        [&]() -> absl::StatusOr<v1::ImportCrosswalkResponse> {
      RETURN_IF_ERROR(Allowed(access_.Require(*context, Role::kAdmin)));
      RETURN_IF_ERROR(ValidateImportCrosswalk(*request, options_.limits));
      return store_->ImportCrosswalk(*request, Sender{PeerIdentity(*context), request->source()});
    }();
    if (!result.ok()) {
      Metrics().Rejected(result.status().code(), nullptr);
      return result;
    }
    NoteCommitted(result->change_seq());
    log::Info(result->replayed() ? "crosswalk import replayed" : "crosswalk imported",
              {{"request_id", request->request_id()},
               {"links", absl::StrCat(result->links_accepted())},
               {"changed", absl::StrCat(result->links_changed())},
               {"seq", absl::StrCat(result->change_seq())}});
    return result;
  });
}

grpc::Status IngestionServiceImpl::ListCrosswalk(grpc::ServerContext* context,
                                                 const v1::ListCrosswalkRequest* request,
                                                 v1::ListCrosswalkResponse* response) {
  return Reply(response, [&]() -> absl::StatusOr<v1::ListCrosswalkResponse> {
    RETURN_IF_ERROR(Allowed(access_.Require(*context, Role::kReader)));
    RETURN_IF_ERROR(ValidateListCrosswalk(*request));
    ASSIGN_OR_RETURN(const PageRequest page, PageRequest::Read(*request, kCrosswalkPages));
    return store_->ListCrosswalk(*request, page);
  });
}

}  // namespace covtrack::ingestion
