#pragma once

// The change-feed head as of a request's arrival, read from ingestion with as few RPCs as the
// load allows: the first step of every aggregation read (read-your-writes across replicas).

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "services/aggregation/ingestion_client.h"

namespace covtrack::aggregation {

// Coalesces concurrent GetChangeHead lookups. Get() returns the head read by an RPC that
// started after Get() was called, so a write acknowledged before the call is always seen; all
// callers waiting at once share that one RPC, so the cost is amortised under load. The RPC
// carries the deadline of the call that made it; when that caller's cancellation or deadline
// cut it short, the callers still waiting make another rather than fail.
class ChangeHeadReader {
 public:
  explicit ChangeHeadReader(IngestionClient& client) : client_(client) {}
  absl::StatusOr<int64_t> Get();
  int64_t rpc_count() const;

 private:
  IngestionClient& client_;
  mutable absl::Mutex mu_;
  absl::CondVar waiting_[2];  // by the parity of the lookup number waited for
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t started_ ABSL_GUARDED_BY(mu_) = 0;    // lookups started
  uint64_t completed_ ABSL_GUARDED_BY(mu_) = 0;  // the newest lookup finished (its number)
  absl::StatusOr<int64_t> result_ ABSL_GUARDED_BY(mu_) = 0;
  // result_ failed because the call that made the lookup was cancelled or out of time.
  bool result_cut_short_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace covtrack::aggregation
