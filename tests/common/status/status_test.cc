#include "common/status/status.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace covtrack {
namespace {

using ::covtrack::testing::IsOk;
using ::covtrack::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

absl::StatusOr<int> UnitPopulation(bool known) {
  if (!known) {
    return absl::NotFoundError("unit_code \"99\" names no administrative unit");
  }
  return 1200;
}

absl::StatusOr<int> Doubled(bool known, bool check) {
  RETURN_IF_ERROR(check ? absl::InvalidArgumentError("check failed") : absl::OkStatus());
  ASSIGN_OR_RETURN(int population, UnitPopulation(known));
  return 2 * population;
}

TEST(StatusMacrosTest, PropagateTheFirstError) {
  EXPECT_THAT(Doubled(false, false), StatusIs(absl::StatusCode::kNotFound, HasSubstr("\"99\"")));
  EXPECT_THAT(Doubled(true, true), StatusIs(absl::StatusCode::kInvalidArgument));
  absl::StatusOr<int> value = Doubled(true, false);
  ASSERT_THAT(value, IsOk());
  EXPECT_EQ(*value, 2400);
}

TEST(StatusConversionTest, KeepsCodeAndMessageBothWays) {
  const absl::Status denied = absl::PermissionDeniedError("reporter-87 may not write 82");
  const grpc::Status edge = ToGrpcStatus(denied);
  EXPECT_THAT(edge, StatusIs(grpc::StatusCode::PERMISSION_DENIED));
  EXPECT_EQ(edge.error_message(), "reporter-87 may not write 82");
  EXPECT_EQ(FromGrpcStatus(edge), denied);
  EXPECT_THAT(ToGrpcStatus(absl::OkStatus()), IsOk());
  EXPECT_THAT(FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down")),
              StatusIs(absl::StatusCode::kUnavailable, "down"));
  // Every canonical code maps to itself.
  for (int code = 1; code <= 16; ++code) {
    const absl::Status s(static_cast<absl::StatusCode>(code), "m");
    EXPECT_EQ(static_cast<int>(ToGrpcStatus(s).error_code()), code);
    EXPECT_EQ(FromGrpcStatus(ToGrpcStatus(s)), s);
  }
  EXPECT_THAT(ToGrpcStatus(absl::Status(static_cast<absl::StatusCode>(99), "odd")),
              StatusIs(grpc::StatusCode::UNKNOWN, "odd"));
}

TEST(StatusMatchersTest, TellAMismatchApart) {
  EXPECT_THAT(absl::NotFoundError("x"), Not(StatusIs(absl::StatusCode::kInvalidArgument)));
  EXPECT_THAT(absl::NotFoundError("x"), Not(IsOk()));
  EXPECT_THAT(absl::NotFoundError("x"), Not(StatusIs(absl::StatusCode::kNotFound, "y")));
}

}  // namespace
}  // namespace covtrack
