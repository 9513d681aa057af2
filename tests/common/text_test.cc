#include "common/text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace covtrack {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(TextProblemTest, AcceptsVietnameseWithinItsBound) {
  EXPECT_EQ(TextProblem("Thành phố Hồ Chí Minh", kMaxNameBytes), "");
  EXPECT_EQ(TextProblem("", kMaxNameBytes), "");
  std::string exact(kMaxNameBytes, 'a');
  EXPECT_EQ(TextProblem(exact, kMaxNameBytes), "");
}

TEST(TextProblemTest, RefusesTooLongWithoutQuotingIt) {
  std::string huge(10 << 20, 'x');
  std::string problem = TextProblem(huge, kMaxNameBytes);
  EXPECT_EQ(problem, "longer than 200 bytes (got 10485760)");
}

TEST(TextProblemTest, RefusesNulAndInvalidUtf8) {
  EXPECT_EQ(TextProblem(std::string("X\0A", 3), 10), "contains a NUL byte at byte 1");
  EXPECT_EQ(TextProblem(std::string("28252\0", 6), 10), "contains a NUL byte at byte 5");
  EXPECT_EQ(TextProblem("ab\xC3", 10), "is not valid UTF-8 at byte 2");            // cut sequence
  EXPECT_EQ(TextProblem("\xC0\xAF", 10), "is not valid UTF-8 at byte 0");          // overlong '/'
  EXPECT_EQ(TextProblem("\xED\xA0\x80", 10), "is not valid UTF-8 at byte 0");      // surrogate
  EXPECT_EQ(TextProblem("\xF4\x90\x80\x80", 10), "is not valid UTF-8 at byte 0");  // > U+10FFFF
}

TEST(CheckTextTest, NamesTheField) {
  absl::Status status = CheckText("units[3].name", std::string(300, 'a'), kMaxNameBytes);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "units[3].name: longer than 200 bytes (got 300)");
  EXPECT_TRUE(CheckText("name", "Hà Nội", kMaxNameBytes).ok());
}

TEST(QuoteInputTest, QuotesAShortPrefixSafely) {
  EXPECT_EQ(QuoteInput("Hà Nội"), "\"Hà Nội\"");
  std::string quoted = QuoteInput(std::string(1 << 20, 'z'));
  EXPECT_EQ(quoted, "\"" + std::string(40, 'z') + "…\"");
  EXPECT_EQ(QuoteInput(std::string("a\0b\xFF\"", 5)), "\"a\\x00b\\xFF\\\"\"");
  EXPECT_THAT(QuoteInput("ấấấấấ", 3), Not(HasSubstr("\\x")));  // never cuts inside a character
  EXPECT_EQ(QuoteInput("ấấấấấ", 3), "\"ấấấ…\"");
}

}  // namespace
}  // namespace covtrack
