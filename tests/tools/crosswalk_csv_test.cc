#include "tools/covctl/crosswalk_csv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tools/sampledata/sample_data.h"

namespace covtrack::covctl {
namespace {

using ::testing::HasSubstr;

sampledata::ParsedRows<v1::CrosswalkLink> Parse(const std::string& text,
                                                const std::string& effective_date = "") {
  absl::StatusOr<sampledata::CsvTable> table = sampledata::ParseCsv(text);
  EXPECT_TRUE(table.ok()) << table.status();
  return ParseCrosswalkRows(*table, effective_date);
}

TEST(CrosswalkCsvTest, WithoutShareOrKindAnOldCodeOnOneRowIsWholeAndOnSeveralUnknown) {
  // The plain shipped map: old_code,new_code,level.
  auto parsed = Parse(
      "old_code,new_code,level\n"
      "82,82,province\n"
      "87,82,province\n"
      "28249,28249,commune\n"
      "28252,28249,commune\n"
      "28252,28261,commune\n",
      "2025-07-01");
  ASSERT_TRUE(parsed.errors.empty()) << parsed.errors[0].message;
  ASSERT_EQ(parsed.items.size(), 5u);
  EXPECT_EQ(parsed.items[1].from_code(), "87");
  EXPECT_EQ(parsed.items[1].to_code(), "82");
  EXPECT_EQ(parsed.items[1].effective_date(), "2025-07-01");
  EXPECT_DOUBLE_EQ(parsed.items[1].population_share(), 1.0);
  EXPECT_FALSE(parsed.items[1].has_labor_force_share());
  EXPECT_DOUBLE_EQ(parsed.items[2].population_share(), 1.0);
  EXPECT_FALSE(parsed.items[3].has_population_share());
  EXPECT_FALSE(parsed.items[4].has_population_share());
  EXPECT_EQ(parsed.lines, (std::vector<int>{2, 3, 4, 5, 6}));
  CrosswalkCounts counts = CountShares(parsed.items);
  EXPECT_EQ(counts.whole, 3u);
  EXPECT_EQ(counts.share_unknown, 2u);
}

TEST(CrosswalkCsvTest, KindColumnAndSharesWinOverCounting) {
  // The detailed map's columns, with a share learnt later for one partial row.
  auto parsed = Parse(
      "old_code,old_name,new_code,new_name,level,kind,population_share,labor_force_share\n"
      "87,Tỉnh Đồng Tháp,82,Tỉnh Đồng Tháp,province,full,,\n"
      "28252,Phường 4,28249,Phường Mỹ Tho,commune,partial,0.25,0.3\n"
      "28252,Phường 4,28261,Phường Đạo Thạnh,commune,partial,,\n",
      "2025-07-01");
  ASSERT_TRUE(parsed.errors.empty()) << parsed.errors[0].message;
  ASSERT_EQ(parsed.items.size(), 3u);
  EXPECT_DOUBLE_EQ(parsed.items[0].population_share(), 1.0);
  EXPECT_DOUBLE_EQ(parsed.items[1].population_share(), 0.25);
  EXPECT_DOUBLE_EQ(parsed.items[1].labor_force_share(), 0.3);
  EXPECT_FALSE(parsed.items[2].has_population_share());
}

TEST(CrosswalkCsvTest, EffectiveDateFromTheColumnOrTheFlagAndOneIsNeeded) {
  auto parsed = Parse(
      "old_code,new_code,effective_date,share\n"
      "87,82,2025-07-01,1\n"
      "99,98,,1\n",
      "2026-01-01");
  ASSERT_TRUE(parsed.errors.empty()) << parsed.errors[0].message;
  EXPECT_EQ(parsed.items[0].effective_date(), "2025-07-01");
  EXPECT_EQ(parsed.items[1].effective_date(), "2026-01-01");

  auto none = Parse("old_code,new_code\n87,82\n");
  ASSERT_EQ(none.errors.size(), 1u);
  EXPECT_EQ(none.errors[0].line, 1);
  EXPECT_THAT(none.errors[0].message, HasSubstr("--effective_date"));
  EXPECT_TRUE(none.items.empty());

  auto empty_cell = Parse("old_code,new_code,effective_date\n87,82,\n");
  ASSERT_EQ(empty_cell.errors.size(), 1u);
  EXPECT_EQ(empty_cell.errors[0].line, 2);
  EXPECT_THAT(empty_cell.errors[0].message, HasSubstr("effective_date is empty"));
}

TEST(CrosswalkCsvTest, EveryBadRowIsReportedWithItsLineAndField) {
  auto parsed = Parse(
      "old_code,new_code,population_share,kind\n"
      "87,82,1,\n"               // 2 good
      "87,82,1,\n"               // 3 the same link again
      "8-7,82,,full\n"           // 4 not a code
      "90,91,1.5,\n"             // 5 above 1
      "92,93,0,\n"               // 6 zero
      "94,95,abc,\n"             // 7 not a number
      "96,97,,whole\n"           // 8 an unknown kind
      "28252,28249,0.5,\n"       // 9 with 10: 0.9, for the service to refuse (it may store a
      "28252,28261,0.4,\n"       // 10 third successor of 28252 that the file does not give)
      "28300,28301,0.7,\n"       // 11 with 12: more than 1 though 12 is unknown
      "28300,28302,0.6,\n"       // 12
      "28300,28303,,partial\n",  // 13
      "2025-07-01");
  std::vector<int> lines;
  for (const sampledata::RowError& error : parsed.errors) {
    lines.push_back(error.line);
  }
  EXPECT_EQ(lines, (std::vector<int>{3, 4, 5, 6, 7, 8, 13}));
  EXPECT_THAT(parsed.errors[0].message, HasSubstr("already on line 2"));
  EXPECT_THAT(parsed.errors[1].message, HasSubstr("old_code \"8-7\" is not a unit code"));
  EXPECT_THAT(parsed.errors[2].message, HasSubstr("population_share \"1.5\" is outside (0, 1]"));
  EXPECT_THAT(parsed.errors[3].message, HasSubstr("population_share \"0\" is outside (0, 1]"));
  EXPECT_THAT(parsed.errors[4].message, HasSubstr("population_share \"abc\" is not a number"));
  EXPECT_THAT(parsed.errors[5].message, HasSubstr("kind \"whole\" is not full or partial"));
  EXPECT_THAT(parsed.errors[6].message,
              HasSubstr("the shares of 28300 from 2025-07-01 (lines 11, 12, 13) add up to 1.3, "
                        "more than 1"));
}

TEST(CrosswalkCsvTest, ALaborForceShareNeedsAPopulationShare) {
  auto parsed = Parse(
      "old_code,new_code,labor_force_share\n"
      "87,82,1\n"          // whole by counting rows: fine
      "28252,28249,0.3\n"  // split, share unknown: refused
      "28252,28261,\n",
      "2025-07-01");
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_EQ(parsed.errors[0].line, 3);
  EXPECT_THAT(parsed.errors[0].message, HasSubstr("labor_force_share is given without"));
  auto kind = Parse("old_code,new_code,kind,labor_force_share\n87,82,partial,0.9\n", "2025-07-01");
  ASSERT_EQ(kind.errors.size(), 1u);
  EXPECT_EQ(kind.errors[0].line, 2);
}

TEST(CrosswalkCsvTest, HeaderProblemsAreReportedOnLineOne) {
  auto parsed = Parse("old_code,successor,share,population_share\n87,82,1,1\n", "2025-07-01");
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_EQ(parsed.errors[0].line, 1);
  EXPECT_THAT(parsed.errors[0].message, HasSubstr("unknown column \"successor\""));
  EXPECT_THAT(parsed.errors[0].message, HasSubstr("missing column \"new_code\""));
  EXPECT_THAT(parsed.errors[0].message, HasSubstr("population_share or share, not both"));
}

TEST(CrosswalkCsvTest, ReadsTheShippedMap) {
  absl::StatusOr<std::string> text =
      sampledata::ReadFileToString(sampledata::DefaultDataDir() + "/merge_map_2025.csv");
  ASSERT_TRUE(text.ok()) << text.status();
  auto parsed = Parse(*text, "2025-07-01");
  ASSERT_TRUE(parsed.errors.empty()) << parsed.errors[0].line << ": " << parsed.errors[0].message;
  // Every row is a link; the 1,012 rows of the 460 communes split among several have no share.
  EXPECT_EQ(parsed.items.size(), 10667u);
  EXPECT_LE(parsed.items.size(), kMaxCrosswalkLinks);
  EXPECT_EQ(CountShares(parsed.items).share_unknown, 1012u);
}

}  // namespace
}  // namespace covtrack::covctl
