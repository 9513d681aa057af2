#include "tools/sampledata/csv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace covtrack::sampledata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(CsvTest, ReadsHeaderAndRowsWithLineNumbers) {
  absl::StatusOr<CsvTable> table = ParseCsv("code,name\n01,Hà Nội\n\n79,Hồ Chí Minh\n");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_THAT(table->header, ElementsAre("code", "name"));
  ASSERT_EQ(table->rows.size(), 2u);
  EXPECT_EQ(table->rows[0].line, 2);
  EXPECT_THAT(table->rows[0].fields, ElementsAre("01", "Hà Nội"));
  EXPECT_EQ(table->rows[1].line, 4);  // the blank line 3 is skipped but counted
  EXPECT_THAT(table->rows[1].fields, ElementsAre("79", "Hồ Chí Minh"));
}

TEST(CsvTest, QuotedFieldsHoldCommasQuotesAndLineBreaks) {
  absl::StatusOr<CsvTable> table =
      ParseCsv("a,b\n\"x, y\",\"say \"\"hi\"\"\"\n\"two\nlines\",z\nlast,\"\"\n");
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->rows.size(), 3u);
  EXPECT_THAT(table->rows[0].fields, ElementsAre("x, y", "say \"hi\""));
  EXPECT_THAT(table->rows[1].fields, ElementsAre("two\nlines", "z"));
  EXPECT_EQ(table->rows[1].line, 3);
  EXPECT_EQ(table->rows[2].line, 5);  // after the two-line row
  EXPECT_THAT(table->rows[2].fields, ElementsAre("last", ""));
}

TEST(CsvTest, SkipsByteOrderMarkAndHandlesCrlf) {
  absl::StatusOr<CsvTable> table =
      ParseCsv("\xEF\xBB\xBFunit_code,value\r\n28249,5\r\n\"a\r\nb\",6\r\n");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_THAT(table->header, ElementsAre("unit_code", "value"));
  ASSERT_EQ(table->rows.size(), 2u);
  EXPECT_THAT(table->rows[0].fields, ElementsAre("28249", "5"));  // no stray '\r'
  EXPECT_THAT(table->rows[1].fields, ElementsAre("a\r\nb", "6"));
  EXPECT_EQ(table->rows[1].line, 3);
}

TEST(CsvTest, NoFinalLineBreakIsFine) {
  absl::StatusOr<CsvTable> table = ParseCsv("a,b\n1,2");
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->rows.size(), 1u);
  EXPECT_THAT(table->rows[0].fields, ElementsAre("1", "2"));
}

TEST(CsvTest, StructuralErrorsNameTheLine) {
  absl::StatusOr<CsvTable> unterminated = ParseCsv("a,b\n1,2\n3,\"open\n4,5\n");
  ASSERT_FALSE(unterminated.ok());
  EXPECT_THAT(unterminated.status().message(), HasSubstr("line 3: unterminated quoted field"));

  absl::StatusOr<CsvTable> stray = ParseCsv("a,b\n1,x\"y\n");
  ASSERT_FALSE(stray.ok());
  EXPECT_THAT(stray.status().message(), HasSubstr("line 2: a quote inside an unquoted field"));

  absl::StatusOr<CsvTable> after_quote = ParseCsv("a,b\n\"1\"x,2\n");
  ASSERT_FALSE(after_quote.ok());
  EXPECT_THAT(after_quote.status().message(), HasSubstr("line 2"));

  absl::StatusOr<CsvTable> latin1 = ParseCsv("a,b\n1,2\nH\xe0 N\xf4i,3\n");
  ASSERT_FALSE(latin1.ok());
  EXPECT_THAT(latin1.status().message(), HasSubstr("line 3: invalid UTF-8"));

  EXPECT_FALSE(ParseCsv("").ok());
  EXPECT_FALSE(ParseCsv("\n\n").ok());
}

TEST(CsvTest, WriterQuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(CsvLine({"01", "Thành phố Hà Nội", ""}), "01,Thành phố Hà Nội,");
  EXPECT_EQ(CsvLine({"a,b", "say \"hi\"", "x\ny"}), "\"a,b\",\"say \"\"hi\"\"\",\"x\ny\"");
  // Round trip.
  std::vector<std::string> fields = {"a,b", "say \"hi\"", "x\r\ny", "plain", ""};
  absl::StatusOr<CsvTable> table = ParseCsv("h1,h2,h3,h4,h5\n" + CsvLine(fields) + "\n");
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->rows.size(), 1u);
  EXPECT_EQ(table->rows[0].fields, fields);
}

}  // namespace
}  // namespace covtrack::sampledata
