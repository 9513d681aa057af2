#pragma once

// Waits for a condition that another thread or process makes true (a cache that connects, a
// change that reaches a follower), polling every few milliseconds up to `limit`. Tests use it
// instead of sleeps; it returns the condition's last value so the caller asserts on it.

#include <chrono>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace covtrack::testing {

template <typename Condition>
bool Eventually(Condition done, absl::Duration limit = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + limit;
  while (absl::Now() < deadline) {
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

}  // namespace covtrack::testing
