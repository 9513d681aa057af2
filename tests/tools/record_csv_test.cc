#include "tools/sampledata/record_csv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace covtrack::sampledata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

CsvTable Parse(const std::string& text) {
  absl::StatusOr<CsvTable> table = ParseCsv(text);
  EXPECT_TRUE(table.ok()) << table.status();
  return table.ok() ? *table : CsvTable{};
}

std::vector<int> ErrorLines(const std::vector<RowError>& errors) {
  std::vector<int> lines;
  for (const RowError& error : errors) {
    lines.push_back(error.line);
  }
  return lines;
}

TEST(ParticipationRowsTest, GoodRowsBecomeRecords) {
  ParsedRows<v1::ParticipationRecord> parsed =
      ParseParticipationRows(Parse("unit_code,month,scheme,participants,in_province_participants\n"
                                   "28249,2023-12,health,10412,10001\n"
                                   "28249,2023-12,compulsory_social,1200,\n"));
  ASSERT_TRUE(parsed.errors.empty());
  ASSERT_EQ(parsed.items.size(), 2u);
  EXPECT_EQ(parsed.items[0].unit_code(), "28249");
  EXPECT_EQ(parsed.items[0].month(), "2023-12");
  EXPECT_EQ(parsed.items[0].scheme(), v1::SCHEME_HEALTH);
  EXPECT_EQ(parsed.items[0].participants(), 10412);
  EXPECT_EQ(parsed.items[0].in_province_participants(), 10001);
  EXPECT_FALSE(parsed.items[1].has_in_province_participants());
  EXPECT_THAT(parsed.lines, ElementsAre(2, 3));
}

TEST(ParticipationRowsTest, EveryBadRowIsReportedWithItsLineAndReason) {
  ParsedRows<v1::ParticipationRecord> parsed =
      ParseParticipationRows(Parse("unit_code,month,scheme,participants,in_province_participants\n"
                                   "28249,2023-12,health,100,90\n"  // 2: good
                                   "28249,2023-13,health,100,\n"    // 3: month
                                   "28250,2023-12,social,5,\n"      // 4: derived scheme
                                   "28251,2023-12,dental,5,\n"      // 5: unknown scheme
                                   "28252,2023-12,health,-4,\n"     // 6: negative
                                   "28253,2023-12,health,10,20\n"   // 7: in-province above total
                                   "28254,2023-12,health,ten,\n"    // 8: not a number
                                   ",2023-12,health,1,\n"           // 9: no unit
                                   "28249,2023-12,health,100,90\n"  // 10: duplicate of line 2
                                   "28255,2023-12,health\n"         // 11: too few fields
                                   "28256,2023-12,voluntary_social,7,7\n"  // 12: good
                                   ));
  EXPECT_THAT(ErrorLines(parsed.errors), ElementsAre(3, 4, 5, 6, 7, 8, 9, 10, 11));
  EXPECT_THAT(parsed.errors[0].message, HasSubstr("month \"2023-13\" is not a month"));
  EXPECT_THAT(parsed.errors[1].message, HasSubstr("\"social\" is derived"));
  EXPECT_THAT(parsed.errors[2].message, HasSubstr("scheme \"dental\""));
  EXPECT_THAT(parsed.errors[3].message, HasSubstr("participants -4 is negative"));
  EXPECT_THAT(parsed.errors[4].message,
              HasSubstr("in_province_participants 20 is above participants 10"));
  EXPECT_THAT(parsed.errors[5].message, HasSubstr("participants \"ten\" is not a whole number"));
  EXPECT_THAT(parsed.errors[6].message, HasSubstr("unit_code is empty"));
  EXPECT_THAT(parsed.errors[7].message, HasSubstr("already on line 2"));
  EXPECT_THAT(parsed.errors[8].message, HasSubstr("has 3 fields, the header has 5"));
  EXPECT_THAT(parsed.lines, ElementsAre(2, 12));
}

TEST(ParticipationRowsTest, SeveralProblemsInOneRowAreAllNamed) {
  ParsedRows<v1::ParticipationRecord> parsed =
      ParseParticipationRows(Parse("unit_code,month,scheme,participants\nx y,2023/12,health,-1\n"));
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_THAT(parsed.errors[0].message, HasSubstr("unit_code \"x y\""));
  EXPECT_THAT(parsed.errors[0].message, HasSubstr("month \"2023/12\""));
  EXPECT_THAT(parsed.errors[0].message, HasSubstr("participants -1 is negative"));
}

TEST(ParticipationRowsTest, HeaderProblemsAreLineOne) {
  ParsedRows<v1::ParticipationRecord> parsed =
      ParseParticipationRows(Parse("unit,month,scheme,participants,extra\n1,2,3,4,5\n"));
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_EQ(parsed.errors[0].line, 1);
  EXPECT_THAT(parsed.errors[0].message, HasSubstr("unknown column \"unit\""));
  EXPECT_THAT(parsed.errors[0].message, HasSubstr("unknown column \"extra\""));
  EXPECT_THAT(parsed.errors[0].message, HasSubstr("missing column \"unit_code\""));
  EXPECT_TRUE(parsed.items.empty());
}

TEST(ParticipationRowsTest, ColumnsMayComeInAnyOrder) {
  ParsedRows<v1::ParticipationRecord> parsed =
      ParseParticipationRows(Parse("scheme,participants,month,unit_code\nhealth,5,2024-01,815\n"));
  ASSERT_TRUE(parsed.errors.empty());
  ASSERT_EQ(parsed.items.size(), 1u);
  EXPECT_EQ(parsed.items[0].unit_code(), "815");
  EXPECT_EQ(parsed.items[0].participants(), 5);
}

TEST(DenominatorRowsTest, ValidatesYearKindValueAndDuplicates) {
  ParsedRows<v1::DenominatorRecord> parsed =
      ParseDenominatorRows(Parse("unit_code,year,kind,value\n"
                                 "815,2023,population,231000\n"   // 2 good
                                 "815,2023,labor_force,0\n"       // 3 zero
                                 "815,23,population,5\n"          // 4 year
                                 "815,2023,workers,5\n"           // 5 kind
                                 "815,2023,population,231001\n"   // 6 duplicate
                                 "815,2023,labor_force,120000\n"  // 7 good
                                 ));
  EXPECT_THAT(ErrorLines(parsed.errors), ElementsAre(3, 4, 5, 6));
  EXPECT_THAT(parsed.errors[0].message, HasSubstr("value 0 must be above zero"));
  EXPECT_THAT(parsed.errors[1].message, HasSubstr("year \"23\""));
  EXPECT_THAT(parsed.errors[2].message, HasSubstr("kind \"workers\""));
  EXPECT_THAT(parsed.errors[3].message, HasSubstr("already on line 2"));
  ASSERT_EQ(parsed.items.size(), 2u);
  EXPECT_EQ(parsed.items[1].kind(), v1::DENOMINATOR_KIND_LABOR_FORCE);
  EXPECT_EQ(parsed.items[1].value(), 120000);
}

TEST(UnitRowsTest, DefaultsGiveValidityToFilesWithoutTheColumns) {
  ParsedRows<v1::AdminUnit> parsed =
      ParseUnitRows(Parse("code,name,level,type,parent_code\n82,Tỉnh Tiền Giang,province,Tỉnh,\n"
                          "815,Thành phố Mỹ Tho,district,Thành phố,82\n"),
                    UnitDefaults{"", "2025-07-01"});
  ASSERT_TRUE(parsed.errors.empty()) << parsed.errors[0].message;
  ASSERT_EQ(parsed.items.size(), 2u);
  EXPECT_EQ(parsed.items[0].level(), v1::ADMIN_LEVEL_PROVINCE);
  EXPECT_EQ(parsed.items[0].valid_to(), "2025-07-01");
  EXPECT_EQ(parsed.items[1].parent_code(), "82");
}

TEST(UnitRowsTest, ReportsBadUnitsAndConflictingDefaults) {
  ParsedRows<v1::AdminUnit> parsed =
      ParseUnitRows(Parse("code,name,level,type,parent_code,valid_from,valid_to\n"
                          "82,Tỉnh Đồng Tháp,province,Tỉnh,,2025-07-01,\n"  // 2 good
                          "815,Thành phố Mỹ Tho,district,Thành phố,,,\n"    // 3 no parent
                          "28249,Phường 5,ward,Phường,815,,\n"              // 4 level
                          "28250,Phường 6,commune,Phường,815,2025-07-01,2025-01-01\n"  // 5 interval
                          "28251,Phường 7,commune,Phường,815,2025-02-30,\n"            // 6 date
                          "82,Tỉnh Đồng Tháp,province,Tỉnh,,2025-07-01,\n"  // 7 duplicate
                          ));
  EXPECT_THAT(ErrorLines(parsed.errors), ElementsAre(3, 4, 5, 6, 7));
  EXPECT_THAT(parsed.errors[0].message, HasSubstr("parent_code is empty"));
  EXPECT_THAT(parsed.errors[1].message, HasSubstr("level \"ward\""));
  EXPECT_THAT(parsed.errors[2].message, HasSubstr("is not before valid_to"));
  EXPECT_THAT(parsed.errors[3].message, HasSubstr("valid_from \"2025-02-30\""));
  EXPECT_THAT(parsed.errors[4].message, HasSubstr("already on line 2"));

  ParsedRows<v1::AdminUnit> conflicting =
      ParseUnitRows(Parse("code,name,level,type,parent_code,valid_from\n82,X,province,Tỉnh,,\n"),
                    UnitDefaults{"2025-07-01", ""});
  ASSERT_EQ(conflicting.errors.size(), 1u);
  EXPECT_EQ(conflicting.errors[0].line, 1);
  EXPECT_THAT(conflicting.errors[0].message, HasSubstr("do not also give --valid_from"));
}

TEST(RecordCsvTest, WrittenRowsReadBackUnchanged) {
  v1::ParticipationRecord record;
  record.set_unit_code("28249");
  record.set_month("2023-12");
  record.set_scheme(v1::SCHEME_UNEMPLOYMENT);
  record.set_participants(1234);
  record.set_in_province_participants(1000);
  std::string text =
      CsvLine(ParticipationCsvHeader()) + "\n" + CsvLine(ParticipationCsvFields(record)) + "\n";
  ParsedRows<v1::ParticipationRecord> parsed = ParseParticipationRows(Parse(text));
  ASSERT_EQ(parsed.items.size(), 1u);
  EXPECT_EQ(parsed.items[0].SerializeAsString(), record.SerializeAsString());

  v1::AdminUnit unit;
  unit.set_code("28249");
  unit.set_name("Phường 5, \"cũ\"");
  unit.set_level(v1::ADMIN_LEVEL_COMMUNE);
  unit.set_type("Phường");
  unit.set_parent_code("815");
  unit.set_valid_to("2025-07-01");
  ParsedRows<v1::AdminUnit> units =
      ParseUnitRows(Parse(CsvLine(UnitCsvHeader()) + "\n" + CsvLine(UnitCsvFields(unit)) + "\n"));
  ASSERT_EQ(units.items.size(), 1u);
  EXPECT_EQ(units.items[0].SerializeAsString(), unit.SerializeAsString());
}

}  // namespace
}  // namespace covtrack::sampledata
