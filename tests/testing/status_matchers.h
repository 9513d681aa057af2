#pragma once

// gMock matchers for the status types covtrack uses: absl::Status, absl::StatusOr<T> and
// grpc::Status. `EXPECT_THAT(s, StatusIs(absl::StatusCode::kNotFound))`,
// `EXPECT_THAT(s, StatusIs(grpc::StatusCode::NOT_FOUND, HasSubstr("unit_code")))`, `IsOk()`.
// A mismatch prints the code and message that were there.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "grpcpp/support/status.h"

namespace covtrack::testing {

struct StatusView {
  int code;
  std::string message;
};

inline StatusView ViewOf(const absl::Status& s) {
  return {static_cast<int>(s.code()), std::string(s.message())};
}
template <typename T>
StatusView ViewOf(const absl::StatusOr<T>& s) {
  return ViewOf(s.status());
}
inline StatusView ViewOf(const grpc::Status& s) {
  return {static_cast<int>(s.error_code()), s.error_message()};
}

MATCHER_P2(StatusIsMatcher, code, message_matcher, "") {
  const StatusView view = ViewOf(arg);
  *result_listener << "whose code is " << view.code << " and message is \"" << view.message << "\"";
  return view.code == code && ::testing::SafeMatcherCast<const std::string&>(message_matcher)
                                  .MatchAndExplain(view.message, result_listener);
}

// The code of either status type; absl and gRPC number their codes alike.
template <typename Code>
auto StatusIs(Code code) {
  return StatusIsMatcher(static_cast<int>(code), ::testing::_);
}
template <typename Code, typename MessageMatcher>
auto StatusIs(Code code, MessageMatcher message) {
  return StatusIsMatcher(static_cast<int>(code),
                         ::testing::MatcherCast<const std::string&>(message));
}
inline auto IsOk() { return StatusIs(0); }

}  // namespace covtrack::testing
