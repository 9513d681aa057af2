#include "services/aggregation/change_head_reader.h"

#include <utility>

#include "absl/time/clock.h"
#include "common/call_context.h"

namespace covtrack::aggregation {

absl::StatusOr<int64_t> ChangeHeadReader::Get() {
  absl::MutexLock lock(&mu_);
  // Lookups are numbered in the order they start. This call needs one that started after it
  // arrived: the next number. At most one lookup is in flight, so waiters need either the
  // lookup in flight or the one after it, and each parity has its own condition variable:
  // finishing lookup n wakes everyone waiting for n and just one waiter for n + 1 (to start
  // it), rather than every waiter.
  uint64_t needed = started_ + 1;
  while (true) {
    while (completed_ < needed) {
      if (!in_flight_) {
        in_flight_ = true;
        const uint64_t number = ++started_;
        mu_.Unlock();
        // The lookup carries this call's deadline (SetCallDeadline), so it may be cut short by
        // a caller who gave up; the others then must not inherit that failure.
        absl::StatusOr<int64_t> head = client_.GetChangeHead();
        const bool cut_short =
            !head.ok() && (CurrentCallCancelled() || absl::Now() >= CurrentCallDeadline());
        mu_.Lock();
        in_flight_ = false;
        completed_ = number;
        result_ = std::move(head);
        result_cut_short_ = cut_short;
        waiting_[number % 2].SignalAll();
        waiting_[(number + 1) % 2].Signal();
      } else {
        waiting_[needed % 2].Wait(&mu_);
      }
    }
    // A lookup that failed only because the caller who made it had gone: a caller still here
    // asks again (its own deadline bounds how long).
    if (result_cut_short_ && !CurrentCallCancelled() && absl::Now() < CurrentCallDeadline()) {
      needed = started_ + 1;
      continue;
    }
    break;
  }
  // Someone else may need a lookup started: pass the baton if this call consumed a signal.
  if (!in_flight_) {
    waiting_[(started_ + 1) % 2].Signal();
  }
  return result_;
}

int64_t ChangeHeadReader::rpc_count() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(started_);
}

}  // namespace covtrack::aggregation
