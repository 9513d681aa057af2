// The server bootstrap on its own: a free port is read back, and a port in use is refused
// rather than shared.
#include "common/server.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace covtrack {
namespace {

TEST(ServerTest, ASecondServerOnAPortInUseFailsToStart) {
  absl::StatusOr<std::unique_ptr<Server>> first = Server::Start(ServerOptions{}, {});
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_GT((*first)->port(), 0);

  ServerOptions same_port;
  same_port.listen = absl::StrCat("127.0.0.1:", (*first)->port());
  absl::StatusOr<std::unique_ptr<Server>> second = Server::Start(same_port, {});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("port free"), absl::string_view::npos)
      << second.status();
}

}  // namespace
}  // namespace covtrack
