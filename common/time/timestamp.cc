#include "common/time/timestamp.h"

#include <algorithm>
#include <cstdint>

namespace covtrack {
namespace {

// google.protobuf.Timestamp: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
constexpr int64_t kMinSeconds = -62135596800;
constexpr int64_t kMaxSeconds = 253402300799;

}  // namespace

google::protobuf::Timestamp ToProtoTimestamp(absl::Time time) {
  google::protobuf::Timestamp timestamp;
  if (time < absl::FromUnixSeconds(kMinSeconds)) {
    timestamp.set_seconds(kMinSeconds);
    return timestamp;
  }
  if (time >= absl::FromUnixSeconds(kMaxSeconds + 1)) {
    timestamp.set_seconds(kMaxSeconds);
    timestamp.set_nanos(999999999);
    return timestamp;
  }
  // ToUnixSeconds rounds toward the infinite past, so the nanoseconds are never negative.
  const int64_t seconds = absl::ToUnixSeconds(time);
  timestamp.set_seconds(seconds);
  timestamp.set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
  return timestamp;
}

absl::Time FromProtoTimestamp(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
}

}  // namespace covtrack
