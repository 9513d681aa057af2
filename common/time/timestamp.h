#pragma once

// The one conversion between absl::Time and google.protobuf.Timestamp (the API's commit_time,
// update_time). Stores keep times as microseconds since the Unix epoch: absl::FromUnixMicros /
// absl::ToUnixMicros on the way in and out, these at the edge of the API.

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace covtrack {

// Rounds down to the nanosecond; times outside the Timestamp's range (years 1 to 9999,
// infinite ones included) are clamped to it.
google::protobuf::Timestamp ToProtoTimestamp(absl::Time time);
absl::Time FromProtoTimestamp(const google::protobuf::Timestamp& timestamp);

}  // namespace covtrack
