// absl::Time <-> google.protobuf.Timestamp (common/time/timestamp.h).
#include "common/time/timestamp.h"

#include <gtest/gtest.h>

namespace covtrack {
namespace {

TEST(TimestampTest, KeepsMicrosecondsFromAStore) {
  const absl::Time time = absl::FromUnixMicros(1700000000123456);
  const google::protobuf::Timestamp timestamp = ToProtoTimestamp(time);
  EXPECT_EQ(timestamp.seconds(), 1700000000);
  EXPECT_EQ(timestamp.nanos(), 123456000);
  EXPECT_EQ(FromProtoTimestamp(timestamp), time);
}

TEST(TimestampTest, NanosAreNeverNegativeBeforeTheEpoch) {
  // 1969-12-31T23:59:59.75Z: seconds -1 and 750 ms, not seconds 0 and -250 ms.
  const google::protobuf::Timestamp timestamp = ToProtoTimestamp(absl::FromUnixMillis(-250));
  EXPECT_EQ(timestamp.seconds(), -1);
  EXPECT_EQ(timestamp.nanos(), 750000000);
  EXPECT_EQ(FromProtoTimestamp(timestamp), absl::FromUnixMillis(-250));
}

TEST(TimestampTest, ClampsToTheTimestampsRange) {
  const google::protobuf::Timestamp future = ToProtoTimestamp(absl::InfiniteFuture());
  EXPECT_EQ(future.seconds(), 253402300799);  // 9999-12-31T23:59:59Z
  EXPECT_EQ(future.nanos(), 999999999);
  const google::protobuf::Timestamp past = ToProtoTimestamp(absl::InfinitePast());
  EXPECT_EQ(past.seconds(), -62135596800);  // 0001-01-01T00:00:00Z
  EXPECT_EQ(past.nanos(), 0);
}

TEST(TimestampTest, TheEpochIsZero) {
  const google::protobuf::Timestamp epoch = ToProtoTimestamp(absl::UnixEpoch());
  EXPECT_EQ(epoch.seconds(), 0);
  EXPECT_EQ(epoch.nanos(), 0);
  EXPECT_EQ(FromProtoTimestamp(google::protobuf::Timestamp()), absl::UnixEpoch());
}

}  // namespace
}  // namespace covtrack
