#include <gtest/gtest.h>

#include "tools/covctl/upload.h"

namespace covtrack::covctl {
namespace {

TEST(UploadIdTest, DependsOnContentAndSaltOnly) {
  std::string id = UploadId("unit_code,month\n1,2\n", "batch=5000");
  EXPECT_EQ(id.size(), 16u);
  EXPECT_EQ(id, UploadId("unit_code,month\n1,2\n", "batch=5000"));  // a re-run sends the same ids
  EXPECT_NE(id, UploadId("unit_code,month\n1,3\n", "batch=5000"));
  EXPECT_NE(id, UploadId("unit_code,month\n1,2\n", "batch=100"));
  EXPECT_EQ(BatchRequestId(id, 3), "covctl-" + id + "-3");
}

TEST(UploadIdTest, PinnedDigest) {
  // The ids must not change between builds or machines, or a re-run after an upgrade would
  // not resume. printf 'abc\0x' | sha256sum
  EXPECT_EQ(UploadId("abc", "x"), "c0f25b467b7394ad");
}

TEST(LineOfServerErrorTest, MapsBatchAndElementToTheFileLine) {
  std::vector<int> lines;
  for (int i = 0; i < 25; ++i) {
    lines.push_back(i + 2);  // row i is on line i + 2
  }
  std::string id = "00112233aabbccdd";
  // Batch 2 of size 10, records[3] -> row 23 -> line 25.
  EXPECT_EQ(LineOfServerError("message 2 (request_id \"covctl-00112233aabbccdd-2\"): "
                              "records[3].unit_code: unknown unit",
                              id, "records", 10, lines),
            25);
  // No request id but a single batch: batch 0.
  EXPECT_EQ(LineOfServerError("records[4].month: bad", id, "records", 100, lines), 6);
  // Several batches and no id: cannot tell.
  EXPECT_EQ(LineOfServerError("records[4].month: bad", id, "records", 10, lines), std::nullopt);
  // No element named.
  EXPECT_EQ(LineOfServerError("covctl-00112233aabbccdd-0: too large", id, "records", 10, lines),
            std::nullopt);
  // Out of range.
  EXPECT_EQ(LineOfServerError("covctl-00112233aabbccdd-2 records[9]", id, "records", 10, lines),
            std::nullopt);
}

}  // namespace
}  // namespace covtrack::covctl
