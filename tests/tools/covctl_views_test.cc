#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tools/covctl/table.h"
#include "tools/covctl/target_csv.h"
#include "tools/covctl/views.h"

namespace covtrack::covctl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(TableTest, AlignsColumnsByCharactersNotBytes) {
  Table table({{"code", Table::Align::kLeft},
               {"name", Table::Align::kLeft},
               {"participants", Table::Align::kRight}});
  table.AddRow({"815", "Thành phố Mỹ Tho", "207,717"});
  table.AddRow({"82", "Tỉnh Tiền Giang", "1,612,345"});
  EXPECT_EQ(table.RenderText(),
            "code  name              participants\n"
            "----  ----------------  ------------\n"
            "815   Thành phố Mỹ Tho       207,717\n"
            "82    Tỉnh Tiền Giang      1,612,345\n");
}

TEST(TableTest, CsvQuotesAndKeepsCellsAsGiven) {
  Table table({{"name", Table::Align::kLeft}, {"value", Table::Align::kRight}});
  table.AddRow({"Phường 5, \"cũ\"", "207717"});
  table.AddRow({"only one"});
  EXPECT_EQ(table.RenderCsv(), "name,value\n\"Phường 5, \"\"cũ\"\"\",207717\nonly one,\n");
}

TEST(TableTest, NumberFormats) {
  EXPECT_EQ(GroupThousands(0), "0");
  EXPECT_EQ(GroupThousands(999), "999");
  EXPECT_EQ(GroupThousands(1000), "1,000");
  EXPECT_EQ(GroupThousands(96208984), "96,208,984");
  EXPECT_EQ(GroupThousands(-1234567), "-1,234,567");
  EXPECT_EQ(FormatFixed(89.949, 2), "89.95");
  EXPECT_EQ(FormatFixed(-0.001, 2), "0.00");  // no "-0.00"
  EXPECT_EQ(FormatSigned(0.9, 2), "+0.90");
  EXPECT_EQ(FormatSigned(-1.25, 2), "-1.25");
  EXPECT_EQ(FormatSigned(0.0, 2), "0.00");
  EXPECT_EQ(FormatSignedCount(203), "+203");
  EXPECT_EQ(FormatSignedCount(-5000), "-5,000");
  EXPECT_EQ(DisplayWidth("Tỉnh Sơn La"), 11u);
}

v1::Coverage MyTho2023() {
  v1::Coverage coverage;
  coverage.mutable_unit()->set_code("815");
  coverage.mutable_unit()->set_name("Thành phố Mỹ Tho");
  coverage.set_period("2023");
  coverage.set_as_of_month("2023-12");
  v1::SchemeCoverage* health = coverage.add_schemes();
  health->set_scheme(v1::SCHEME_HEALTH);
  health->set_participants(207717);
  health->set_denominator(231053);
  health->set_denominator_kind(v1::DENOMINATOR_KIND_POPULATION);
  health->set_coverage_percent(89.9008);
  health->set_reporting_units(14);
  health->set_expected_units(14);
  health->set_as_of_month("2023-12");
  health->mutable_same_period_last_year()->set_period("2022");
  health->mutable_same_period_last_year()->set_as_of_month("2022-12");
  health->mutable_same_period_last_year()->set_participants_change(1203);
  health->mutable_same_period_last_year()->set_coverage_points_change(0.41);
  v1::Comparison* end_2021 = health->add_previous_year_ends();
  end_2021->set_period("2021");
  end_2021->set_participants(200000);
  end_2021->set_participants_change(7717);
  end_2021->set_as_of_month("2021-12");
  v1::Comparison* end_2020 = health->add_previous_year_ends();  // no data then
  end_2020->set_period("2020");
  end_2020->set_participants_change(207717);
  v1::SchemeCoverage* social = coverage.add_schemes();
  social->set_scheme(v1::SCHEME_SOCIAL);
  social->set_participants(37489);
  social->set_denominator_kind(v1::DENOMINATOR_KIND_LABOR_FORCE);
  social->set_reporting_units(13);
  social->set_expected_units(14);
  social->set_as_of_month("2023-12");
  social->set_units_missing_denominator(1);
  social->mutable_same_period_last_year()->set_period("2022");
  social->mutable_same_period_last_year()->set_as_of_month("2022-12");
  social->mutable_same_period_last_year()->set_territory_changed(true);
  social->mutable_same_period_last_year()->set_unit_name("Thị xã Mỹ Tho");
  social->mutable_same_period_last_year()->set_participants_change(100);
  return coverage;
}

TEST(ViewsTest, CoverageTableForPeopleAndCsv) {
  v1::Coverage coverage = MyTho2023();
  EXPECT_EQ(CoverageTitle(coverage), "Thành phố Mỹ Tho (815), 2023, as of 2023-12");
  std::string text = CoverageTable(coverage, true).RenderText();
  EXPECT_THAT(text, HasSubstr("health       207,717"));
  EXPECT_THAT(text, HasSubstr("89.90"));
  EXPECT_THAT(text, HasSubstr("+1,203"));
  EXPECT_THAT(text, HasSubstr("+0.41"));
  EXPECT_THAT(text, HasSubstr("13/14"));
  std::string csv = CoverageTable(coverage, false).RenderCsv();
  EXPECT_THAT(csv, HasSubstr("health,207717,,231053,population,89.90,2022,1203,+0.41,14/14,,,\n"));
  // Unknown figures stay empty, never 0; a changed territory is said.
  EXPECT_THAT(csv,
              HasSubstr("social,37489,,,labor_force,,2022,100,,13/14,,,territory changed since "
                        "2022 (then Thị xã Mỹ Tho); 1 units lack a denominator\n"));
  std::string year_ends = YearEndsTable(coverage, false).RenderCsv();
  EXPECT_THAT(year_ends, HasSubstr("health,2021,200000,7717,,,,\n"));
  // A year without data shows no figures (not 0 and a change of everything).
  EXPECT_THAT(year_ends, HasSubstr("health,2020,,,,,,no data for 2020\n"));
}

TEST(ViewsTest, JsonIsTheMessageWithProtoFieldNames) {
  std::string json = ToJson(MyTho2023());
  EXPECT_THAT(json, HasSubstr("\"as_of_month\": \"2023-12\""));
  EXPECT_THAT(json, HasSubstr("\"scheme\": \"SCHEME_HEALTH\""));
  EXPECT_THAT(json, HasSubstr("\"participants\": \"207717\""));  // int64 as a JSON string
  EXPECT_THAT(json, HasSubstr("\"name\": \"Thành phố Mỹ Tho\""));
  EXPECT_THAT(json, Not(HasSubstr("asOfMonth")));
  EXPECT_EQ(json.back(), '\n');
}

TEST(ViewsTest, RevisionsShowParticipationAndDenominators) {
  v1::Revision first;
  first.mutable_participation()->set_unit_code("28249");
  first.mutable_participation()->set_month("2023-12");
  first.mutable_participation()->set_scheme(v1::SCHEME_HEALTH);
  first.mutable_participation()->set_participants(10412);
  first.mutable_participation()->set_in_province_participants(10001);
  first.set_change_seq(7);
  first.mutable_commit_time()->set_seconds(1700000000);
  first.mutable_commit_time()->set_nanos(123);
  first.set_request_id("r1");
  first.set_source("BHXH tỉnh Tiền Giang");
  first.set_peer("ipv4:127.0.0.1:5000");
  v1::Revision second;
  second.mutable_denominator()->set_unit_code("28249");
  second.mutable_denominator()->set_year(2023);
  second.mutable_denominator()->set_kind(v1::DENOMINATOR_KIND_LABOR_FORCE);
  second.mutable_denominator()->set_value(6000);
  second.set_change_seq(9);
  std::string csv = RevisionsTable({first, second}, false).RenderCsv();
  EXPECT_THAT(csv, HasSubstr("7,2023-11-14T22:13:20Z,2023-12,health,10412,10001,r1,BHXH tỉnh Tiền "
                             "Giang,ipv4:127.0.0.1:5000\n"));
  EXPECT_THAT(csv, HasSubstr("9,,2023,labor_force,6000,,,,\n"));
}

TEST(ViewsTest, TargetsAndAchievement) {
  v1::Target target;
  target.set_unit_code("125");
  target.set_scheme(v1::SCHEME_HEALTH);
  target.set_year(2023);
  target.set_kind(v1::TARGET_KIND_PARTICIPANTS);
  target.set_value(147821);
  target.set_basis(v1::TARGET_BASIS_IN_PROVINCE);
  target.set_assigned_by("UBND tỉnh");
  target.set_revision(2);
  EXPECT_THAT(TargetsTable({target}, true).RenderText(),
              HasSubstr("125        2023  health  participants  147,821  in_province  UBND tỉnh"));
  v1::Achievement achievement;
  v1::SchemeAchievement* health = achievement.add_schemes();
  health->set_scheme(v1::SCHEME_HEALTH);
  *health->mutable_target() = target;
  health->set_actual_participants(148722);
  health->set_achievement_percent(100.6095);
  health->set_status(v1::ACHIEVEMENT_STATUS_MET);
  health->set_projected_year_end_participants(148722);
  EXPECT_THAT(AchievementTable(achievement, false).RenderCsv(),
              HasSubstr("health,147821,in_province,148722,,100.61,,0,met,148722,,\n"));
}

TEST(TargetsTableTest, TargetsOnMeasuresShowTheirMeasureAndUnit) {
  v1::Target ceiling;  // "nợ dưới 2,1%": a ratio, no kind or basis
  ceiling.set_unit_code("815");
  ceiling.set_year(2024);
  ceiling.set_measure(v1::MEASURE_ARREARS_RATIO);
  ceiling.set_value(2.1);
  ceiling.set_revision(1);
  v1::Target joined;  // new participants of households in health insurance
  joined.set_unit_code("815");
  joined.set_year(2024);
  joined.set_scheme(v1::SCHEME_HEALTH);
  joined.set_measure(v1::MEASURE_NEW_PARTICIPANTS);
  joined.set_payer_group(v1::PAYER_GROUP_HOUSEHOLD);
  joined.set_value(12400);
  joined.set_revision(1);
  EXPECT_THAT(TargetsTable({ceiling, joined}, false).RenderCsv(),
              HasSubstr("815,2024,,,2.10,,,,1,,,arrears_ratio,\n"
                        "815,2024,health,,12400,,,,1,,,new_participants,household\n"));

  v1::Achievement achievement;
  v1::MeasureAchievement* m = achievement.add_measures();
  m->set_measure(v1::MEASURE_ARREARS_RATIO);
  *m->mutable_target() = ceiling;
  m->set_lower_is_better(true);
  m->set_actual(1.84);
  m->set_percent_of_target(87.619);
  m->set_points_vs_target(-0.26);
  m->set_status(v1::ACHIEVEMENT_STATUS_MET);
  EXPECT_THAT(AchievementTable(achievement, false).RenderCsv(),
              HasSubstr("arrears_ratio,2.10,ceiling,1.84,,87.62,-0.26,0.00,met,,,\n"));

  v1::ListLaggingUnitsResponse lagging;
  v1::LaggingUnit* unit = lagging.add_units();
  unit->mutable_unit()->set_code("815");
  unit->set_as_of_month("2024-12");
  m->set_actual(2.5);
  m->set_gap(0.4);
  m->set_status(v1::ACHIEVEMENT_STATUS_BEHIND);
  m->clear_percent_of_target();
  *unit->mutable_measure_achievement() = *m;
  EXPECT_THAT(LaggingTable(lagging, false).RenderCsv(),
              HasSubstr("815,,2024-12,behind,,2.50,2.10,0.40,,,\n"));
}

TEST(TargetCsvTest, ParsesAndValidatesRows) {
  absl::StatusOr<sampledata::CsvTable> table = sampledata::ParseCsv(
      "unit_code,year,scheme,kind,value,basis,assigned_by,decision_ref\n"
      "815,2023,health,coverage_percent,89.0,,UBND tỉnh,\"Quyết định số 1/QĐ-UBND\"\n"  // 2 good
      "125,2023,health,participants,147821,in_province,UBND tỉnh,\n"                    // 3 good
      "125,2023,health,participants,1.5,,,\n"      // 4 not whole + duplicate is skipped
      "815,1999,health,coverage_percent,101,,,\n"  // 5 year and value
      "815,2023,dental,people,5,everyone,,\n"      // 6 scheme, kind, basis
      "125,2023,health,participants,150000,,,\n"   // 7 duplicate of 3
  );
  ASSERT_TRUE(table.ok()) << table.status();
  sampledata::ParsedRows<v1::Target> parsed = ParseTargetRows(*table);
  ASSERT_EQ(parsed.items.size(), 2u);
  EXPECT_EQ(parsed.items[0].kind(), v1::TARGET_KIND_COVERAGE_PERCENT);
  EXPECT_DOUBLE_EQ(parsed.items[0].value(), 89.0);
  EXPECT_EQ(parsed.items[0].decision_ref(), "Quyết định số 1/QĐ-UBND");
  EXPECT_EQ(parsed.items[0].basis(), v1::TARGET_BASIS_ALL_PARTICIPANTS);
  EXPECT_EQ(parsed.items[1].basis(), v1::TARGET_BASIS_IN_PROVINCE);
  ASSERT_EQ(parsed.errors.size(), 4u);
  EXPECT_EQ(parsed.errors[0].line, 4);
  EXPECT_THAT(parsed.errors[0].message, HasSubstr("whole number of people"));
  EXPECT_EQ(parsed.errors[1].line, 5);
  EXPECT_THAT(parsed.errors[1].message, HasSubstr("year \"1999\""));
  EXPECT_THAT(parsed.errors[1].message, HasSubstr("percentage, 0..100"));
  EXPECT_EQ(parsed.errors[2].line, 6);
  EXPECT_THAT(parsed.errors[2].message, HasSubstr("scheme \"dental\""));
  EXPECT_THAT(parsed.errors[2].message, HasSubstr("kind \"people\""));
  EXPECT_THAT(parsed.errors[2].message, HasSubstr("basis \"everyone\""));
  EXPECT_EQ(parsed.errors[3].line, 7);
  EXPECT_THAT(parsed.errors[3].message, HasSubstr("already on line 3"));
}

TEST(TargetCsvTest, UnitAsOfNamesTheUnitInsideTheYear) {
  absl::StatusOr<sampledata::CsvTable> table = sampledata::ParseCsv(
      "unit_code,year,scheme,kind,value,unit_as_of\n"
      "82,2025,health,coverage_percent,93,2025-06-30\n"  // 2 old 82 Tiền Giang
      "82,2025,health,coverage_percent,94,\n"            // 3 the new 82: another target
      "87,2025,health,coverage_percent,92,2024-06-30\n"  // 4 not in 2025
      "87,2025,health,coverage_percent,92,2025-13-01\n"  // 5 not a date
  );
  ASSERT_TRUE(table.ok()) << table.status();
  sampledata::ParsedRows<v1::Target> parsed = ParseTargetRows(*table);
  ASSERT_EQ(parsed.items.size(), 2u);
  EXPECT_EQ(parsed.items[0].unit_as_of(), "2025-06-30");
  EXPECT_EQ(parsed.items[1].unit_as_of(), "");
  ASSERT_EQ(parsed.errors.size(), 2u);
  EXPECT_THAT(parsed.errors[0].message, HasSubstr("unit_as_of 2024-06-30 is not in year"));
  EXPECT_THAT(parsed.errors[1].message, HasSubstr("unit_as_of \"2025-13-01\" is not a date"));
}

// Issue 11: targets on measures, with their payer group; the scheme "none" (or empty) for a
// measure without one; kind and basis are participants' only.
TEST(TargetCsvTest, MeasureTargets) {
  absl::StatusOr<sampledata::CsvTable> table = sampledata::ParseCsv(
      "unit_code,year,scheme,kind,value,measure,payer_group\n"
      "815,2024,none,,2.1,arrears_ratio,\n"                 // 2 good
      "815,2024,health,,9000,new_participants,household\n"  // 3 good
      "815,2024,health,,12000,new_participants,\n"          // 4 good: another target
      "815,2024,,coverage_percent,5,arrears_ratio,\n"       // 5 kind
      "815,2024,health,,1,gross_income,\n"                  // 6 measure
      "815,2024,health,,1,new_participants,nobody\n"        // 7 payer group
      "815,2024,,,2.5,arrears_ratio,\n"                     // 8 duplicate of 2
  );
  ASSERT_TRUE(table.ok()) << table.status();
  sampledata::ParsedRows<v1::Target> parsed = ParseTargetRows(*table);
  ASSERT_EQ(parsed.items.size(), 3u);
  EXPECT_EQ(parsed.items[0].measure(), v1::MEASURE_ARREARS_RATIO);
  EXPECT_EQ(parsed.items[0].scheme(), v1::SCHEME_UNSPECIFIED);
  EXPECT_EQ(parsed.items[0].kind(), v1::TARGET_KIND_UNSPECIFIED);
  EXPECT_EQ(parsed.items[0].basis(), v1::TARGET_BASIS_UNSPECIFIED);
  EXPECT_DOUBLE_EQ(parsed.items[0].value(), 2.1);
  EXPECT_EQ(parsed.items[1].payer_group(), v1::PAYER_GROUP_HOUSEHOLD);
  EXPECT_EQ(parsed.items[2].payer_group(), v1::PAYER_GROUP_UNSPECIFIED);
  ASSERT_EQ(parsed.errors.size(), 4u);
  EXPECT_THAT(parsed.errors[0].message, HasSubstr("kind \"coverage_percent\""));
  EXPECT_THAT(parsed.errors[1].message, HasSubstr("measure \"gross_income\""));
  EXPECT_THAT(parsed.errors[2].message, HasSubstr("payer_group \"nobody\""));
  EXPECT_EQ(parsed.errors[3].line, 8);
  EXPECT_THAT(parsed.errors[3].message, HasSubstr("already on line 2"));
}

TEST(ViewsTest, SeriesRowsPerMonthAndBlankWithoutData) {
  v1::CoverageSeries series;
  v1::SchemeCoverageAtMonth* june = series.add_months();
  june->set_month("2024-06");
  june->mutable_coverage()->set_as_of_month("2024-06");
  june->mutable_coverage()->set_participants(18850);
  june->mutable_coverage()->set_denominator(21000);
  june->mutable_coverage()->set_coverage_percent(89.7619);
  june->mutable_coverage()->set_reporting_units(2);
  june->mutable_coverage()->set_expected_units(2);
  v1::SchemeCoverageAtMonth* july = series.add_months();  // nothing reported
  july->set_month("2024-07");
  july->mutable_coverage()->set_expected_units(2);
  EXPECT_EQ(SeriesTable(series, false).RenderCsv(),
            "month,participants,in_province,denominator,coverage_%,reporting,basis\n"
            "2024-06,18850,,21000,89.76,2/2,\n"
            "2024-07,,,,,0/2,\n");
}

// The merged 82 Đồng Tháp in 2025-09 against 2024-09 on its own territory (old 82 + old 87),
// with old 82's own 2024-09 figure; 2024 year end estimated; 2023 not re-expressible.
v1::Coverage DongThap2025() {
  v1::Coverage coverage;
  coverage.mutable_unit()->set_code("82");
  coverage.mutable_unit()->set_name("Tỉnh Đồng Tháp");
  coverage.set_period("2025-09");
  coverage.set_as_of_month("2025-09");
  coverage.set_territory_date("2025-09-30");
  v1::SchemeCoverage* health = coverage.add_schemes();
  health->set_scheme(v1::SCHEME_HEALTH);
  health->set_as_of_month("2025-09");
  health->set_participants(3178157);
  health->mutable_reexpression()->set_kind(v1::REEXPRESSION_KIND_SAME_UNIT);
  v1::Comparison* last_year = health->mutable_same_period_last_year();
  last_year->set_period("2024-09");
  last_year->set_as_of_month("2024-09");
  last_year->set_participants(3100000);
  last_year->set_participants_change(78157);
  last_year->mutable_reexpression()->set_kind(v1::REEXPRESSION_KIND_EXACT);
  last_year->mutable_code_then()->set_period("2024-09");
  last_year->mutable_code_then()->set_as_of_month("2024-09");
  last_year->mutable_code_then()->set_unit_name("Tỉnh Tiền Giang");
  last_year->mutable_code_then()->set_participants(1645588);
  last_year->mutable_code_then()->set_territory_changed(true);
  v1::Comparison* end_2024 = health->add_previous_year_ends();
  end_2024->set_period("2024");
  end_2024->set_as_of_month("2024-12");
  end_2024->set_participants(3120000);
  end_2024->set_participants_change(58157);
  end_2024->mutable_reexpression()->set_kind(v1::REEXPRESSION_KIND_ESTIMATED);
  end_2024->mutable_reexpression()->set_estimated_part(0.125);
  v1::Comparison* end_2023 = health->add_previous_year_ends();
  end_2023->set_period("2023");
  end_2023->set_territory_changed(true);
  end_2023->mutable_reexpression()->set_kind(v1::REEXPRESSION_KIND_ABSENT);
  end_2023->mutable_reexpression()->set_reason("the share of 29999 in 82 is unknown");
  return coverage;
}

TEST(ViewsTest, EachComparisonSaysHowItWasObtained) {
  v1::Coverage coverage = DongThap2025();
  std::string text = CoverageTable(coverage, true).RenderText();
  EXPECT_THAT(text, HasSubstr("exact; then Tỉnh Tiền Giang: 1,645,588"));
  EXPECT_THAT(text, Not(HasSubstr("territory changed")));
  std::string csv = CoverageTable(coverage, false).RenderCsv();
  EXPECT_THAT(csv, HasSubstr(",78157,,0/0,,exact; then Tỉnh Tiền Giang: 1645588,\n"));
  std::string year_ends = YearEndsTable(coverage, false).RenderCsv();
  EXPECT_THAT(year_ends, HasSubstr("health,2024,3120000,58157,,,estimated (12.5% on shares),\n"));
  // Absent: no figures, the reason, and no second note saying the same.
  EXPECT_THAT(year_ends,
              HasSubstr("health,2023,,,,,absent: the share of 29999 in 82 is unknown,\n"));
  // JSON carries the message itself.
  std::string json = ToJson(coverage);
  EXPECT_THAT(json, HasSubstr("\"kind\": \"REEXPRESSION_KIND_EXACT\""));
  EXPECT_THAT(json, HasSubstr("\"estimated_part\": 0.125"));
}

TEST(ViewsTest, AReexpressedFigureSaysSoWithTheCodeThen) {
  v1::Coverage coverage;
  coverage.mutable_unit()->set_code("82");
  coverage.mutable_unit()->set_name("Tỉnh Đồng Tháp");
  coverage.set_period("2024");
  coverage.set_as_of_month("2024-12");
  coverage.set_territory_date("2025-07-01");
  for (const char* code : {"82", "87"}) {
    v1::Predecessor* p = coverage.add_predecessors();
    p->mutable_unit()->set_code(code);
    p->mutable_unit()->set_name(std::string(code) == "82" ? "Tỉnh Tiền Giang" : "Tỉnh Đồng Tháp");
    p->set_population_share(1.0);
  }
  v1::SchemeCoverage* health = coverage.add_schemes();
  health->set_scheme(v1::SCHEME_HEALTH);
  health->set_as_of_month("2024-12");
  health->set_participants(3150000);
  health->mutable_reexpression()->set_kind(v1::REEXPRESSION_KIND_EXACT);
  v1::Coverage* then = coverage.mutable_code_then();
  then->mutable_unit()->set_code("82");
  then->mutable_unit()->set_name("Tỉnh Tiền Giang");
  v1::SchemeCoverage* then_health = then->add_schemes();
  then_health->set_scheme(v1::SCHEME_HEALTH);
  then_health->set_as_of_month("2024-12");
  then_health->set_participants(1650000);
  EXPECT_EQ(CoverageTitle(coverage),
            "Tỉnh Đồng Tháp (82), 2024, as of 2024-12\n"
            "in the territory of 2025-07-01, re-expressed from 82 Tỉnh Tiền Giang (whole), 87 "
            "Tỉnh Đồng Tháp (whole)");
  EXPECT_THAT(CoverageListTable({coverage}, false).RenderCsv(),
              HasSubstr("82,Tỉnh Đồng Tháp,2024-12,health,3150000,,,,0/0,exact; then Tỉnh Tiền "
                        "Giang: 1650000\n"));
  // The figure itself, not re-expressed, says nothing (the basis column is empty).
  health->mutable_reexpression()->set_kind(v1::REEXPRESSION_KIND_SAME_UNIT);
  EXPECT_THAT(CoverageListTable({coverage}, false).RenderCsv(), HasSubstr(",0/0,\n"));
}

TEST(ViewsTest, AReexpressedTargetIsMarkedWithItsSources) {
  v1::Achievement achievement;
  v1::SchemeAchievement* health = achievement.add_schemes();
  health->set_scheme(v1::SCHEME_HEALTH);
  health->set_status(v1::ACHIEVEMENT_STATUS_ON_TRACK);
  health->mutable_target()->set_unit_code("82");
  health->mutable_target()->set_kind(v1::TARGET_KIND_COVERAGE_PERCENT);
  health->mutable_target()->set_value(92.5);
  health->set_target_reexpressed(true);
  for (const char* code : {"82", "87"}) {
    v1::Target* source = health->add_source_targets();
    source->set_unit_code(code);
    source->set_unit_as_of("2025-06-30");
    source->set_decision_ref("Quyết định số 546/QĐ-TTg");
  }
  health->mutable_coverage()->mutable_reexpression()->set_kind(v1::REEXPRESSION_KIND_SAME_UNIT);
  EXPECT_THAT(AchievementTable(achievement, false).RenderCsv(),
              HasSubstr(",on_track,0,,\"re-expressed from 82 (Quyết định số 546/QĐ-TTg), 87 "
                        "(Quyết định số 546/QĐ-TTg)\"\n"));
  health->set_target_reexpressed(false);
  EXPECT_THAT(AchievementTable(achievement, false).RenderCsv(), HasSubstr(",on_track,0,,\n"));
}

TEST(ViewsTest, CrosswalkLinksShowUnknownShares) {
  v1::CrosswalkLink whole;
  whole.set_from_code("87");
  whole.set_to_code("82");
  whole.set_effective_date("2025-07-01");
  whole.set_population_share(1.0);
  whole.set_to_valid_from("2025-07-01");
  v1::CrosswalkLink partial;
  partial.set_from_code("28249");
  partial.set_to_code("28261");
  partial.set_effective_date("2025-07-01");
  EXPECT_EQ(CrosswalkTable({whole, partial}, false).RenderCsv(),
            "effective_date,from_code,from_valid_from,to_code,to_valid_from,population_share,"
            "labor_force_share\n"
            "2025-07-01,87,,82,2025-07-01,1,\n"
            "2025-07-01,28249,,28261,,,\n");
  std::string text = CrosswalkTable({whole, partial}, true).RenderText();
  EXPECT_THAT(text, HasSubstr("1.0000"));
  EXPECT_THAT(text, HasSubstr("unknown"));
  EXPECT_EQ(ReexpressionText(v1::Reexpression()), "");
}

TEST(ViewsTest, OutputFormatNames) {
  EXPECT_EQ(*ParseOutputFormat("json"), OutputFormat::kJson);
  EXPECT_EQ(*ParseOutputFormat("csv"), OutputFormat::kCsv);
  EXPECT_EQ(*ParseOutputFormat("table"), OutputFormat::kTable);
  EXPECT_FALSE(ParseOutputFormat("yaml").ok());
}

}  // namespace
}  // namespace covtrack::covctl
