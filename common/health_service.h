// grpc.health.v1.Health for a covtrack server, NOT_SERVING from the first call it can take.
//
// gRPC's default health service answers SERVING for "" from the moment the server starts, before
// the server can say otherwise: an aggregation replica that had not loaded its snapshot answered
// SERVING to a probe in that window (seen by tests/integration/live_view_fault_test.cc). This
// one starts NOT_SERVING and answers SERVING only once told to. Check and Watch follow the
// protocol (grpc/health/v1/health.proto): an unknown service is NOT_FOUND on Check and
// SERVICE_UNKNOWN on Watch, which stays open and sends each change of status.
#ifndef COVTRACK_COMMON_HEALTH_SERVICE_H_
#define COVTRACK_COMMON_HEALTH_SERVICE_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace covtrack {

class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  HealthService() = default;
  HealthService(const HealthService&) = delete;
  HealthService& operator=(const HealthService&) = delete;
  ~HealthService() override;  // after the server using it has stopped

  // The services it answers for besides "" (the whole server); the others are unknown.
  void SetServiceNames(const std::vector<std::string>& names);
  // "" and every named service, sent to every watcher.
  void SetServing(bool serving);
  // NOT_SERVING for good: each watcher is sent it, then its stream ends (OK), so that a
  // draining server does not wait for watchers until its deadline.
  void Shutdown();

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::health::v1::HealthCheckResponse* response) override;
  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request) override;

 private:
  class Watcher;
  using Status = grpc::health::v1::HealthCheckResponse::ServingStatus;

  Status StatusLocked(const std::string& service) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NotifyLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Add(Watcher* watcher);
  void Remove(Watcher* watcher);

  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> names_ ABSL_GUARDED_BY(mu_);
  bool serving_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<Watcher*> watchers_ ABSL_GUARDED_BY(mu_);
  absl::CondVar no_watchers_;
};

}  // namespace covtrack

#endif  // COVTRACK_COMMON_HEALTH_SERVICE_H_
