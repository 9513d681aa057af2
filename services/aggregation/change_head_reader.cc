#include "services/aggregation/change_head_reader.h"

#include <utility>

namespace covtrack::aggregation {

absl::StatusOr<int64_t> ChangeHeadReader::Get() {
  absl::MutexLock lock(&mu_);
  // Lookups are numbered in the order they start. This call needs one that started after it
  // arrived: the next number. At most one lookup is in flight, so waiters need either the
  // lookup in flight or the one after it, and each parity has its own condition variable:
  // finishing lookup n wakes everyone waiting for n and just one waiter for n + 1 (to start
  // it), rather than every waiter.
  const uint64_t needed = started_ + 1;
  while (completed_ < needed) {
    if (!in_flight_) {
      in_flight_ = true;
      const uint64_t number = ++started_;
      mu_.Unlock();
      absl::StatusOr<int64_t> head = client_.GetChangeHead();
      mu_.Lock();
      in_flight_ = false;
      completed_ = number;
      result_ = std::move(head);
      waiting_[number % 2].SignalAll();
      waiting_[(number + 1) % 2].Signal();
    } else {
      waiting_[needed % 2].Wait(&mu_);
    }
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
