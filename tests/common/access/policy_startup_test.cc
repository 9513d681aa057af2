// A service given an access policy it cannot use refuses to start, with a message that names
// the file and the mistake (exit status 2), rather than serving with no policy.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/testing/test_env.h"
#include "tests/testing/tls.h"

namespace covtrack {
namespace {

struct Outcome {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs the ingestion binary with `flags` until it exits (it must: each case is fatal).
Outcome RunIngestion(const std::string& flags) {
  const std::string command = absl::StrCat(
      "timeout 20 ", COVTRACK_INGESTION_BINARY,
      " --listen=127.0.0.1:0 --store=sqlite:", testing::TempDir(), "/startup.db ", flags, " 2>&1");
  Outcome outcome;
  FILE* pipe = popen(command.c_str(), "r");
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    outcome.output.append(buffer.data(), n);
  }
  int status = pclose(pipe);
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return outcome;
}

class PolicyStartupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static testing::TestCa* ca = new testing::TestCa("startup-ca");
    static testing::CertificateFiles cert = ca->Issue("ingestion");
    tls_ = absl::StrCat("--tls_cert=", cert.cert, " --tls_key=", cert.key,
                        " --tls_client_ca=", ca->cert_file());
  }
  std::string Policy(const std::string& text) {
    const std::string path = absl::StrCat(testing::TempDir(), "/policy-", ++files_, ".yaml");
    std::ofstream(path) << text;
    return path;
  }
  std::string tls_;
  int files_ = 0;
};

TEST_F(PolicyStartupTest, AMalformedPolicyIsFatal) {
  const std::string path = Policy("principals:\n  - name: bhxh-82\n    roles: [reader, writer]\n");
  Outcome outcome = RunIngestion(absl::StrCat(tls_, " --access_policy=", path));
  EXPECT_EQ(outcome.exit_code, 2) << outcome.output;
  EXPECT_TRUE(absl::StrContains(outcome.output, absl::StrCat("access policy ", path, ":3:")))
      << outcome.output;
  EXPECT_TRUE(absl::StrContains(outcome.output, "unknown role \"writer\"")) << outcome.output;
  EXPECT_FALSE(absl::StrContains(outcome.output, "msg=serving")) << outcome.output;
}

TEST_F(PolicyStartupTest, AMissingPolicyFileIsFatal) {
  Outcome outcome = RunIngestion(absl::StrCat(tls_, " --access_policy=/nonexistent/policy.yaml"));
  EXPECT_EQ(outcome.exit_code, 2) << outcome.output;
  EXPECT_TRUE(absl::StrContains(outcome.output, "/nonexistent/policy.yaml")) << outcome.output;
}

TEST_F(PolicyStartupTest, APolicyWithoutClientCertificatesIsFatal) {
  const std::string path = Policy("principals:\n  - name: a\n    roles: [reader]\n");
  Outcome outcome = RunIngestion(absl::StrCat("--access_policy=", path));
  EXPECT_EQ(outcome.exit_code, 2) << outcome.output;
  EXPECT_TRUE(absl::StrContains(outcome.output, "--access_policy needs")) << outcome.output;
  EXPECT_TRUE(absl::StrContains(outcome.output, "--tls_client_ca")) << outcome.output;
}

}  // namespace
}  // namespace covtrack
