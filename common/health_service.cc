#include "common/health_service.h"

#include <optional>
#include <utility>

namespace covtrack {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// One Watch stream. Writes one status at a time; a status that changes while a write is in
// flight is sent when it completes (only the newest: a watcher wants the state, not every
// flicker). The stream ends (Finish) only with no write in flight. gRPC runs a reactor's
// reactions on its own threads, never inline from StartWrite or Finish (ServerWriteReactor is
// not "inlineable"), so a write may start with the locks held; Finish is called after this
// watcher's mutex is released, since OnDone may then delete it at once. Lock order: the
// service's mutex, then this one's.
class HealthService::Watcher final : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  Watcher(HealthService* service, std::string name) : service_(service), name_(std::move(name)) {}

  const std::string& name() const { return name_; }

  // The service's mutex held.
  void Send(Status status) {
    absl::MutexLock lock(&mu_);
    if (end_.has_value() || status == (pending_.has_value() ? *pending_ : last_sent_)) {
      return;
    }
    pending_ = status;
    StepLocked();  // with a status pending, a write starts now or when the one in flight ends
  }

  // Ends the stream (OK) once every status asked for is written. The service's mutex held.
  void FinishWhenSent() { End(grpc::Status::OK, /*drop_pending=*/false); }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
    }
    if (ok) {
      End(std::nullopt, false);
    } else {
      End(grpc::Status::CANCELLED, true);  // the client went away: nothing more can be written
    }
  }

  void OnCancel() override { End(grpc::Status::CANCELLED, true); }

  void OnDone() override {
    service_->Remove(this);
    delete this;
  }

 private:
  // Asks for the stream to end with `status` (the first asked wins) and takes the next step.
  void End(std::optional<grpc::Status> status, bool drop_pending) {
    grpc::Status end;
    {
      absl::MutexLock lock(&mu_);
      if (drop_pending) {
        pending_.reset();
      }
      if (status.has_value() && !end_.has_value()) {
        end_ = std::move(status);
      }
      if (!StepLocked()) {
        return;
      }
      end = *end_;
    }
    Finish(std::move(end));
  }

  // Starts the pending write if none is in flight; true when the stream must now be finished
  // (the caller calls Finish once the mutex is released).
  bool StepLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_) {
      return false;
    }
    if (pending_.has_value()) {
      response_.set_status(*pending_);
      last_sent_ = *pending_;
      pending_.reset();
      writing_ = true;
      StartWrite(&response_);
      return false;
    }
    if (!end_.has_value()) {
      return false;
    }
    finished_ = true;
    return true;
  }

  HealthService* const service_;
  const std::string name_;
  absl::Mutex mu_;
  HealthCheckResponse response_ ABSL_GUARDED_BY(mu_);  // the write in flight
  Status last_sent_ ABSL_GUARDED_BY(mu_) = HealthCheckResponse::UNKNOWN;
  std::optional<Status> pending_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> end_ ABSL_GUARDED_BY(mu_);  // how the stream is to end
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

HealthService::~HealthService() {
  absl::MutexLock lock(&mu_);
  while (!watchers_.empty()) {
    no_watchers_.Wait(&mu_);
  }
}

void HealthService::SetServiceNames(const std::vector<std::string>& names) {
  absl::MutexLock lock(&mu_);
  names_ = absl::flat_hash_set<std::string>(names.begin(), names.end());
  NotifyLocked();
}

void HealthService::SetServing(bool serving) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) {
    return;
  }
  serving_ = serving;
  NotifyLocked();
}

void HealthService::Shutdown() {
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
  serving_ = false;
  NotifyLocked();
  for (Watcher* watcher : watchers_) {
    watcher->FinishWhenSent();
  }
}

HealthService::Status HealthService::StatusLocked(const std::string& service) const {
  if (!service.empty() && !names_.contains(service)) {
    return HealthCheckResponse::SERVICE_UNKNOWN;
  }
  return serving_ ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
}

void HealthService::NotifyLocked() {
  for (Watcher* watcher : watchers_) {
    watcher->Send(StatusLocked(watcher->name()));
  }
}

grpc::ServerUnaryReactor* HealthService::Check(grpc::CallbackServerContext* context,
                                               const HealthCheckRequest* request,
                                               HealthCheckResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  Status status;
  {
    absl::MutexLock lock(&mu_);
    status = StatusLocked(request->service());
  }
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    // The protocol's answer; the name is not echoed (it is the caller's, of any size).
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service"));
  } else {
    response->set_status(status);
    reactor->Finish(grpc::Status::OK);
  }
  return reactor;
}

grpc::ServerWriteReactor<HealthCheckResponse>* HealthService::Watch(
    grpc::CallbackServerContext*, const HealthCheckRequest* request) {
  auto* watcher = new Watcher(this, request->service());
  Add(watcher);
  return watcher;
}

void HealthService::Add(Watcher* watcher) {
  absl::MutexLock lock(&mu_);
  watchers_.insert(watcher);
  watcher->Send(StatusLocked(watcher->name()));
  if (shut_down_) {
    watcher->FinishWhenSent();
  }
}

void HealthService::Remove(Watcher* watcher) {
  absl::MutexLock lock(&mu_);
  watchers_.erase(watcher);
  if (watchers_.empty()) {
    no_watchers_.SignalAll();
  }
}

}  // namespace covtrack
