// The measures CSV (tools/sampledata/record_csv.h): rows checked by the measure registry, every
// problem reported with its line, and what MeasureCsvFields writes read back the same.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/measures.h"
#include "tools/sampledata/record_csv.h"

namespace covtrack::sampledata {
namespace {

using ::testing::HasSubstr;

ParsedRows<v1::MeasureRecord> Parse(const std::string& text) {
  absl::StatusOr<CsvTable> table = ParseCsv(text);
  EXPECT_TRUE(table.ok()) << table.status();
  return ParseMeasureRows(*table);
}

TEST(MeasureCsvTest, WrittenRowsReadBackTheSame) {
  std::vector<v1::MeasureRecord> records(4);
  records[0].set_measure(v1::MEASURE_DISTINCT_PARTICIPANTS);
  records[0].set_value(9100);
  records[1].set_measure(v1::MEASURE_NEW_PARTICIPANTS);
  records[1].set_scheme(v1::SCHEME_HEALTH);
  records[1].set_payer_group(v1::PAYER_GROUP_HOUSEHOLD);
  records[1].set_value(80);
  records[2].set_measure(v1::MEASURE_CONTRIBUTIONS_DUE_VND);
  records[2].set_value(kMaxVnd);
  records[3].set_measure(v1::MEASURE_LOST_PARTICIPANTS);
  records[3].set_scheme(v1::SCHEME_UNEMPLOYMENT);
  records[3].set_value(0);
  std::string text = CsvLine(MeasureCsvHeader()) + "\n";
  for (v1::MeasureRecord& r : records) {
    r.set_unit_code("28249");
    r.set_month("2024-12");
    absl::StrAppend(&text, CsvLine(MeasureCsvFields(r)), "\n");
  }
  const ParsedRows<v1::MeasureRecord> parsed = Parse(text);
  ASSERT_TRUE(parsed.errors.empty()) << parsed.errors[0].message;
  ASSERT_EQ(parsed.items.size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(parsed.items[i].SerializeAsString(), records[i].SerializeAsString()) << i;
  }
}

TEST(MeasureCsvTest, ReportsEveryBadRowWithItsLine) {
  const ParsedRows<v1::MeasureRecord> parsed = Parse(
      "unit_code,month,measure,scheme,payer_group,value\n"
      "28249,2024-12,new_participants,,,5\n"                       // 2: scheme missing
      "28249,2024-12,new_participants,unemployment,household,5\n"  // 3: group off health
      "28249,2024-12,lost_participants,health,,-1\n"               // 4: negative
      "28249,2024-12,contributions_due_vnd,,,7000000000001\n"      // 5: above the bound
      "28249,2024-12,arrears_ratio,,,2\n"                          // 6: derived
      "28249,2024-12,employers_owing,,,3\n"                        // 7: good
      "28249,2024-12,employers_owing,,,4\n");                      // 8: duplicate
  ASSERT_EQ(parsed.errors.size(), 6u);
  EXPECT_EQ(parsed.errors[0].line, 2);
  EXPECT_THAT(parsed.errors[0].message, HasSubstr("scheme"));
  EXPECT_THAT(parsed.errors[1].message, HasSubstr("payer_group"));
  EXPECT_THAT(parsed.errors[2].message, HasSubstr("negative"));
  EXPECT_THAT(parsed.errors[3].message, HasSubstr("bound"));
  EXPECT_THAT(parsed.errors[4].message, HasSubstr("arrears_ratio"));
  EXPECT_EQ(parsed.errors[5].line, 8);
  EXPECT_THAT(parsed.errors[5].message, HasSubstr("already on line 7"));
  EXPECT_EQ(parsed.items.size(), 1u);
}

}  // namespace
}  // namespace covtrack::sampledata
