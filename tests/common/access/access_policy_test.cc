// The access policy file: what it accepts, and that every mistake an administrator is likely
// to make is refused with a message naming the principal and the line.

#include "common/access/access_policy.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "tests/testing/status_matchers.h"

namespace covtrack::access {
namespace {

using ::covtrack::testing::IsOk;
using ::covtrack::testing::StatusIs;

constexpr char kPolicy[] = R"(# covtrack access policy
principals:
  - name: bhxh-tien-giang
    roles: [reader, reporter, planner]
    jurisdiction: ["82"]
  - name: aggregation
    roles: [reader]
  - name: ops
    roles: [admin]
  - name: bhxh-vn
    roles: [reporter]
    jurisdiction: [VN]
)";

TEST(AccessPolicyTest, ParsesPrincipalsRolesAndJurisdictions) {
  absl::StatusOr<AccessPolicy> policy = AccessPolicy::Parse(kPolicy, "policy.yaml");
  ASSERT_THAT(policy, IsOk());
  EXPECT_EQ(policy->size(), 4u);
  const Principal* office = policy->Find("bhxh-tien-giang");
  ASSERT_NE(office, nullptr);
  EXPECT_TRUE(office->Has(Role::kReader));
  EXPECT_TRUE(office->Has(Role::kReporter));
  EXPECT_TRUE(office->Has(Role::kPlanner));
  EXPECT_FALSE(office->Has(Role::kAdmin));
  EXPECT_EQ(office->jurisdiction, std::vector<std::string>{"82"});
  EXPECT_FALSE(office->National());

  const Principal* ops = policy->Find("ops");
  ASSERT_NE(ops, nullptr);
  EXPECT_TRUE(ops->Has(Role::kAdmin));
  EXPECT_FALSE(ops->Has(Role::kReader));  // roles do not imply one another
  EXPECT_TRUE(policy->Find("bhxh-vn")->National());
  EXPECT_EQ(policy->Find("nobody"), nullptr);
}

struct BadPolicy {
  const char* text;
  std::vector<const char*> message_parts;
};

class AccessPolicyErrorTest : public ::testing::TestWithParam<BadPolicy> {};

TEST_P(AccessPolicyErrorTest, IsRefusedWithAClearMessage) {
  absl::StatusOr<AccessPolicy> policy = AccessPolicy::Parse(GetParam().text, "policy.yaml");
  ASSERT_FALSE(policy.ok());
  EXPECT_THAT(policy, StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string message(policy.status().message());
  EXPECT_TRUE(absl::StartsWith(message, "access policy policy.yaml")) << message;
  for (const char* part : GetParam().message_parts) {
    EXPECT_TRUE(absl::StrContains(message, part)) << message << "\n  lacks: " << part;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Mistakes, AccessPolicyErrorTest,
    ::testing::Values(
        BadPolicy{"principals:\n  - name: a\n    roles: [writer]\n",
                  {":3:", "\"a\"", "unknown role \"writer\""}},
        BadPolicy{"principals:\n  - name: a\n    roles: [reporter]\n",
                  {":2:", "\"a\"", "needs a jurisdiction"}},
        BadPolicy{"principals:\n  - name: a\n    roles: [reader]\n    jurisdication: [\"82\"]\n",
                  {":4:", "unknown key \"jurisdication\""}},
        BadPolicy{
            "principals:\n  - name: a\n    roles: [reader]\n  - name: a\n    roles: [admin]\n",
            {":4:", "\"a\" appears twice"}},
        BadPolicy{
            "principals:\n  - name: a\n    roles: [reporter]\n    jurisdiction: [\"Tien Giang\"]\n",
            {":4:", "\"Tien Giang\" is not a unit code"}},
        BadPolicy{"principals:\n  - roles: [reader]\n", {":2:", "name", "required"}},
        BadPolicy{"principals:\n  - name: a\n    roles: reader\n", {":3:", "must be a list"}},
        BadPolicy{"principals:\n  - name: a\n    roles: []\n", {"must not be empty"}},
        BadPolicy{"principals: [\n", {"not valid YAML"}},
        BadPolicy{"users:\n  - name: a\n", {"\"principals\""}}, BadPolicy{"", {"\"principals\""}}));

TEST(AccessPolicyTest, LoadNamesAMissingFile) {
  absl::StatusOr<AccessPolicy> policy = AccessPolicy::Load("/nonexistent/policy.yaml");
  ASSERT_FALSE(policy.ok());
  EXPECT_TRUE(absl::StrContains(policy.status().message(), "/nonexistent/policy.yaml"));
}

}  // namespace
}  // namespace covtrack::access
