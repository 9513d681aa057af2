#include "services/targets/report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "services/targets/achievement.h"
#include "services/targets/measure_achievement.h"

namespace covtrack::targets {
namespace {

v1::SchemeCoverage Figure(v1::Scheme scheme, int64_t participants,
                          std::optional<int64_t> in_province, std::optional<int64_t> denominator) {
  v1::SchemeCoverage c;
  c.set_scheme(scheme);
  c.set_participants(participants);
  if (in_province) {
    c.set_in_province_participants(*in_province);
  }
  if (denominator) {
    c.set_denominator(*denominator);
    c.set_coverage_percent(static_cast<double>(participants) * 100.0 /
                           static_cast<double>(*denominator));
  }
  c.set_reporting_units(1);
  c.set_expected_units(1);
  c.set_as_of_month("2023-12");
  return c;
}

v1::Target MakeTarget(v1::Scheme scheme, v1::TargetKind kind, double value,
                      v1::TargetBasis basis = v1::TARGET_BASIS_ALL_PARTICIPANTS) {
  v1::Target t;
  t.set_scheme(scheme);
  t.set_year(2023);
  t.set_kind(kind);
  t.set_value(value);
  t.set_basis(basis);
  return t;
}

void Add(v1::Achievement& a, v1::Scheme scheme, std::optional<v1::Target> target,
         v1::SchemeCoverage current) {
  SchemeInputs in;
  in.scheme = scheme;
  in.target = std::move(target);
  in.current = std::move(current);
  in.as_of = Month{2023, 12};
  *a.add_schemes() = EvaluateScheme(in);
}

TEST(WriteReportViTest, MyTho2023) {
  v1::Achievement a;
  a.mutable_unit()->set_code("815");
  a.mutable_unit()->set_name("Thành phố Mỹ Tho");
  a.set_period("2023");
  a.set_as_of_month("2023-12");
  Add(a, v1::SCHEME_HEALTH, MakeTarget(v1::SCHEME_HEALTH, v1::TARGET_KIND_COVERAGE_PERCENT, 89.0),
      Figure(v1::SCHEME_HEALTH, 207717, std::nullopt, 231000));
  Add(a, v1::SCHEME_SOCIAL, MakeTarget(v1::SCHEME_SOCIAL, v1::TARGET_KIND_COVERAGE_PERCENT, 28.9),
      Figure(v1::SCHEME_SOCIAL, 37489, std::nullopt, 124100));
  Add(a, v1::SCHEME_COMPULSORY_SOCIAL, std::nullopt,
      Figure(v1::SCHEME_COMPULSORY_SOCIAL, 35458, std::nullopt, 124100));
  Add(a, v1::SCHEME_VOLUNTARY_SOCIAL, std::nullopt,
      Figure(v1::SCHEME_VOLUNTARY_SOCIAL, 2031, std::nullopt, 124100));
  Add(a, v1::SCHEME_UNEMPLOYMENT, std::nullopt, v1::SchemeCoverage());
  EXPECT_EQ(WriteReportVi(a),
            "Tính đến 31/12/2023, thành phố Mỹ Tho có "
            "37.489 người tham gia BHXH, bằng 30,2% lực lượng lao động trong độ tuổi, "
            "vượt 1,3% chỉ tiêu (chỉ tiêu 28,9%); "
            "35.458 người tham gia BHXH bắt buộc, bằng 28,6% lực lượng lao động trong độ tuổi; "
            "2.031 người tham gia BHXH tự nguyện, bằng 1,6% lực lượng lao động trong độ tuổi; "
            "207.717 người tham gia BHYT, đạt tỷ lệ bao phủ 89,9% dân số, "
            "vượt 0,9% chỉ tiêu (chỉ tiêu 89,0%).");
}

// The caller chooses the precision of every percentage (GetReportRequest.percent_decimals); the
// points against a target are rounded at that precision too, so 0,04 points is "đạt" at one
// decimal and "vượt 0,04%" at two.
TEST(WriteReportViTest, PercentagesAtTheDecimalsAsked) {
  v1::Achievement a;
  a.mutable_unit()->set_name("Thành phố Mỹ Tho");
  a.set_period("2023");
  a.set_as_of_month("2023-12");
  // 207,717 / 230,875 = 89.9694…%: 0.0394 points above a 89.93% target.
  Add(a, v1::SCHEME_HEALTH, MakeTarget(v1::SCHEME_HEALTH, v1::TARGET_KIND_COVERAGE_PERCENT, 89.93),
      Figure(v1::SCHEME_HEALTH, 207717, std::nullopt, 230875));
  EXPECT_EQ(WriteReportVi(a, 1),
            "Tính đến 31/12/2023, thành phố Mỹ Tho có 207.717 người tham gia BHYT, "
            "đạt tỷ lệ bao phủ 90,0% dân số, đạt chỉ tiêu (chỉ tiêu 89,9%).");
  EXPECT_EQ(WriteReportVi(a, 2),
            "Tính đến 31/12/2023, thành phố Mỹ Tho có 207.717 người tham gia BHYT, "
            "đạt tỷ lệ bao phủ 89,97% dân số, vượt 0,04% chỉ tiêu (chỉ tiêu 89,93%).");
  EXPECT_EQ(WriteReportVi(a, 0),
            "Tính đến 31/12/2023, thành phố Mỹ Tho có 207.717 người tham gia BHYT, "
            "đạt tỷ lệ bao phủ 90% dân số, đạt chỉ tiêu (chỉ tiêu 90%).");
}

TEST(WriteReportViTest, MaiSon2023InProvinceBasisAndComparison) {
  v1::Achievement a;
  a.mutable_unit()->set_name("Huyện Mai Sơn");
  a.set_period("2023");
  a.set_as_of_month("2023-12");
  v1::SchemeCoverage compulsory = Figure(v1::SCHEME_COMPULSORY_SOCIAL, 11661, 6569, std::nullopt);
  compulsory.mutable_same_period_last_year()->set_period("2022");
  compulsory.mutable_same_period_last_year()->set_participants(11458);
  compulsory.mutable_same_period_last_year()->set_participants_change(203);
  Add(a, v1::SCHEME_COMPULSORY_SOCIAL,
      MakeTarget(v1::SCHEME_COMPULSORY_SOCIAL, v1::TARGET_KIND_PARTICIPANTS, 11136), compulsory);
  Add(a, v1::SCHEME_HEALTH,
      MakeTarget(v1::SCHEME_HEALTH, v1::TARGET_KIND_PARTICIPANTS, 147821,
                 v1::TARGET_BASIS_IN_PROVINCE),
      Figure(v1::SCHEME_HEALTH, 154621, 148722, std::nullopt));
  EXPECT_EQ(WriteReportVi(a),
            "Tính đến 31/12/2023, huyện Mai Sơn có "
            "11.661 người tham gia BHXH bắt buộc, tăng 203 người so với cùng kỳ năm 2022, "
            "đạt 104,7% kế hoạch (chỉ tiêu 11.136 người); "
            "154.621 người tham gia BHYT, trong đó 148.722 người tham gia tại tỉnh, "
            "đạt 100,6% kế hoạch (chỉ tiêu 147.821 người tham gia tại tỉnh).");
}

TEST(WriteReportViTest, NoChangeClauseAgainstAnotherTerritory) {
  // Đồng Tháp (82 from 2025-07-01) against what 82 was a year earlier (Tiền Giang): the
  // difference is a merger, not growth, so the paragraph does not call it one.
  v1::Achievement a;
  a.mutable_unit()->set_name("Tỉnh Đồng Tháp");
  a.set_period("2025-09");
  a.set_as_of_month("2025-09");
  v1::SchemeCoverage health = Figure(v1::SCHEME_HEALTH, 3178157, std::nullopt, std::nullopt);
  health.mutable_same_period_last_year()->set_period("2024-09");
  health.mutable_same_period_last_year()->set_participants(1645588);
  health.mutable_same_period_last_year()->set_participants_change(1532569);
  health.mutable_same_period_last_year()->set_territory_changed(true);
  Add(a, v1::SCHEME_HEALTH, std::nullopt, health);
  EXPECT_EQ(WriteReportVi(a).find("tăng"), std::string::npos) << WriteReportVi(a);
}

// The 2025 reform: the new Đồng Tháp (82) at the end of 2025, its 2024 comparison re-expressed
// from old 82 + 87 (EXACT) and its target re-expressed from theirs. The paragraph says once that
// it is written in the new boundaries, calls the change growth (same territory), and names the
// target as the one given to the units before the merger.
TEST(WriteReportViTest, ReexpressedComparisonAndTargetAreSaidOnce) {
  v1::Achievement a;
  a.mutable_unit()->set_name("Tỉnh Đồng Tháp");
  a.set_period("2025");
  a.set_as_of_month("2025-12");
  v1::SchemeCoverage health = Figure(v1::SCHEME_HEALTH, 3200000, std::nullopt, 4000000);
  health.set_as_of_month("2025-12");
  health.mutable_reexpression()->set_kind(v1::REEXPRESSION_KIND_SAME_UNIT);
  v1::Comparison* last_year = health.mutable_same_period_last_year();
  last_year->set_period("2024");
  last_year->set_participants(3150000);
  last_year->set_participants_change(50000);
  last_year->mutable_reexpression()->set_kind(v1::REEXPRESSION_KIND_EXACT);
  v1::SchemeCoverage compulsory =
      Figure(v1::SCHEME_COMPULSORY_SOCIAL, 300000, std::nullopt, std::nullopt);
  compulsory.set_as_of_month("2025-12");
  compulsory.mutable_same_period_last_year()->set_period("2024");
  compulsory.mutable_same_period_last_year()->set_participants(290000);
  compulsory.mutable_same_period_last_year()->set_participants_change(10000);
  compulsory.mutable_same_period_last_year()->mutable_reexpression()->set_kind(
      v1::REEXPRESSION_KIND_EXACT);
  Add(a, v1::SCHEME_COMPULSORY_SOCIAL, std::nullopt, compulsory);
  Add(a, v1::SCHEME_HEALTH, MakeTarget(v1::SCHEME_HEALTH, v1::TARGET_KIND_COVERAGE_PERCENT, 81),
      health);
  a.mutable_schemes(1)->set_target_reexpressed(true);
  const std::string text = WriteReportVi(a);
  EXPECT_EQ(text,
            "Tính đến 31/12/2025, tỉnh Đồng Tháp (theo địa giới hành chính mới) có "
            "300.000 người tham gia BHXH bắt buộc, tăng 10.000 người so với cùng kỳ năm 2024; "
            "3.200.000 người tham gia BHYT, đạt tỷ lệ bao phủ 80,0% dân số, tăng 50.000 người "
            "so với cùng kỳ năm 2024, thấp hơn chỉ tiêu 1,0% (chỉ tiêu giao cho các đơn vị "
            "trước sắp xếp: 81,0%).");
}

// A comparison that could not be re-expressed (ABSENT) is never written as a change, even when
// the code's own earlier figure would make one; and a report whose figures are all the unit's
// own says nothing of boundaries.
TEST(WriteReportViTest, AbsentReexpressionIsNoChangeAndNoBoundaryNote) {
  v1::Achievement a;
  a.mutable_unit()->set_name("Xã A");
  a.set_period("2025");
  a.set_as_of_month("2025-12");
  v1::SchemeCoverage health = Figure(v1::SCHEME_HEALTH, 900, std::nullopt, 1000);
  health.set_as_of_month("2025-12");
  v1::Comparison* last_year = health.mutable_same_period_last_year();
  last_year->set_period("2024");
  last_year->set_participants(500);
  last_year->set_participants_change(400);
  last_year->mutable_reexpression()->set_kind(v1::REEXPRESSION_KIND_ABSENT);
  Add(a, v1::SCHEME_HEALTH, std::nullopt, health);
  EXPECT_EQ(WriteReportVi(a),
            "Tính đến 31/12/2025, xã A có 900 người tham gia BHYT, đạt tỷ lệ bao phủ 90,0% dân "
            "số.");
}

TEST(WriteReportViTest, BelowCoverageTargetAndDecrease) {
  v1::Achievement a;
  a.mutable_unit()->set_name("Xã A");
  a.set_period("2023-08");
  a.set_as_of_month("2023-08");
  v1::SchemeCoverage health = Figure(v1::SCHEME_HEALTH, 850, std::nullopt, 1000);
  health.mutable_same_period_last_year()->set_period("2022-08");
  health.mutable_same_period_last_year()->set_participants(1900);
  health.mutable_same_period_last_year()->set_participants_change(-1050);
  Add(a, v1::SCHEME_HEALTH, MakeTarget(v1::SCHEME_HEALTH, v1::TARGET_KIND_COVERAGE_PERCENT, 90),
      health);
  EXPECT_EQ(WriteReportVi(a),
            "Tính đến 31/08/2023, xã A có 850 người tham gia BHYT, đạt tỷ lệ bao phủ 85,0% dân "
            "số, giảm 1.050 người so với cùng kỳ năm 2022, thấp hơn chỉ tiêu 5,0% "
            "(chỉ tiêu 90,0%).");
}

// Issue 14: with only compulsory SI reported, the aggregation service gives BHXH as a whole no
// figure (aggregation_service.proto), and the report never writes it from one part, target or
// not. (Before issue 14 a social target made the report state compulsory alone as "BHXH".)
TEST(WriteReportViTest, SocialWithoutAFigureIsNeverWritten) {
  v1::Achievement a;
  a.mutable_unit()->set_name("Huyện Mai Sơn");
  a.set_period("2023");
  a.set_as_of_month("2023-12");
  v1::SchemeCoverage social;  // as aggregation answers it: no participants, no as_of_month
  social.set_scheme(v1::SCHEME_SOCIAL);
  social.set_units_missing_part(1);
  Add(a, v1::SCHEME_SOCIAL, std::nullopt, social);
  Add(a, v1::SCHEME_COMPULSORY_SOCIAL, std::nullopt,
      Figure(v1::SCHEME_COMPULSORY_SOCIAL, 11661, std::nullopt, std::nullopt));
  EXPECT_EQ(WriteReportVi(a),
            "Tính đến 31/12/2023, huyện Mai Sơn có 11.661 người tham gia BHXH bắt buộc.");
  // With a target of its own: NO_DATA, and still no sentence.
  v1::Achievement with_target;
  with_target.mutable_unit()->set_name("Huyện Mai Sơn");
  with_target.set_period("2023");
  with_target.set_as_of_month("2023-12");
  Add(with_target, v1::SCHEME_SOCIAL,
      MakeTarget(v1::SCHEME_SOCIAL, v1::TARGET_KIND_PARTICIPANTS, 11000), social);
  Add(with_target, v1::SCHEME_COMPULSORY_SOCIAL, std::nullopt,
      Figure(v1::SCHEME_COMPULSORY_SOCIAL, 11661, std::nullopt, std::nullopt));
  EXPECT_EQ(with_target.schemes(0).status(), v1::ACHIEVEMENT_STATUS_NO_DATA);
  EXPECT_EQ(WriteReportVi(with_target),
            "Tính đến 31/12/2023, huyện Mai Sơn có 11.661 người tham gia BHXH bắt buộc.");
}

TEST(WriteReportViTest, NoFigures) {
  v1::Achievement a;
  a.mutable_unit()->set_name("Đặc khu Côn Đảo");
  a.set_period("2026");
  EXPECT_EQ(WriteReportVi(a), "Kỳ 2026, đặc khu Côn Đảo chưa có số liệu.");
}

// Issue 11: the measures a review carries. Mỹ Tho 2023 with its health insurance figure, the
// distinct participants, new participants against 2022 and the arrears ratio against a ceiling.
v1::Achievement MyThoWithMeasures(std::optional<double> ratio_ceiling) {
  v1::Achievement a;
  a.mutable_unit()->set_code("815");
  a.mutable_unit()->set_name("Thành phố Mỹ Tho");
  a.set_period("2023");
  a.set_as_of_month("2023-12");
  Add(a, v1::SCHEME_HEALTH, std::nullopt, Figure(v1::SCHEME_HEALTH, 207717, std::nullopt, 231000));
  if (ratio_ceiling.has_value()) {
    MeasureInputs in;
    in.target.set_measure(v1::MEASURE_ARREARS_RATIO);
    in.target.set_year(2023);
    in.target.set_value(*ratio_ceiling);
    in.month = 12;
    in.actual.value = 1.846;
    in.actual.as_of_month = "2023-12";
    *a.add_measures() = EvaluateMeasure(in);
  }
  return a;
}

v1::MeasureSummary MyThoMeasures() {
  v1::MeasureSummary m;
  v1::MeasureValue* distinct = m.add_values();
  distinct->set_measure(v1::MEASURE_DISTINCT_PARTICIPANTS);
  distinct->set_value(215300);
  distinct->set_as_of_month("2023-12");
  v1::MeasureValue* joined = m.add_values();
  joined->set_measure(v1::MEASURE_NEW_PARTICIPANTS);
  joined->set_scheme(v1::SCHEME_HEALTH);
  joined->set_value(12400);
  joined->mutable_same_period_last_year()->set_period("2022");
  joined->mutable_same_period_last_year()->set_value(11300);
  joined->mutable_same_period_last_year()->set_value_change(1100);
  // A payer group's flow is not written (the scheme's total is).
  v1::MeasureValue* group = m.add_values();
  group->set_measure(v1::MEASURE_NEW_PARTICIPANTS);
  group->set_scheme(v1::SCHEME_HEALTH);
  group->set_payer_group(v1::PAYER_GROUP_HOUSEHOLD);
  group->set_value(10200);
  v1::MeasureValue* ratio = m.add_values();
  ratio->set_measure(v1::MEASURE_ARREARS_RATIO);
  ratio->set_percent(1.846);
  return m;
}

TEST(WriteReportViTest, MeasuresDistinctParticipantsFirstThenFlowsAndArrears) {
  const v1::MeasureSummary measures = MyThoMeasures();
  EXPECT_EQ(WriteReportVi(MyThoWithMeasures(2.1), 1, &measures),
            "Tính đến 31/12/2023, thành phố Mỹ Tho có 215.300 người tham gia BHXH, BHYT, BHTN; "
            "207.717 người tham gia BHYT, đạt tỷ lệ bao phủ 89,9% dân số. Trong năm 2023, phát "
            "triển mới 12.400 người tham gia BHYT, tăng 1.100 người so với cùng kỳ năm 2022; tỷ "
            "lệ nợ 1,8%, dưới mức trần 2,1%.");
  EXPECT_EQ(WriteReportVi(MyThoWithMeasures(1.84), 2, &measures),
            "Tính đến 31/12/2023, thành phố Mỹ Tho có 215.300 người tham gia BHXH, BHYT, BHTN; "
            "207.717 người tham gia BHYT, đạt tỷ lệ bao phủ 89,92% dân số. Trong năm 2023, phát "
            "triển mới 12.400 người tham gia BHYT, tăng 1.100 người so với cùng kỳ năm 2022; tỷ "
            "lệ nợ 1,85%, vượt mức trần 1,84%.");
  // At one decimal 1.846 % and a ceiling of 1.84 % both read 1,8 %: not "vượt" a ceiling the
  // text shows as equal.
  EXPECT_THAT(WriteReportVi(MyThoWithMeasures(1.84), 1, &measures),
              ::testing::EndsWith("tỷ lệ nợ 1,8%, bằng mức trần 1,8%."));
  // No ceiling: the ratio alone.
  EXPECT_THAT(WriteReportVi(MyThoWithMeasures(std::nullopt), 1, &measures),
              ::testing::EndsWith("; tỷ lệ nợ 1,8%."));
}

// Across the reform: a measure re-expressed in the reader's territory puts the paragraph "theo
// địa giới hành chính mới", and a ceiling re-expressed from the predecessors' is named as theirs.
TEST(WriteReportViTest, MeasuresAndTheirTargetsReexpressedAreSaidSo) {
  v1::MeasureSummary measures = MyThoMeasures();
  measures.mutable_values(0)->mutable_reexpression()->set_kind(v1::REEXPRESSION_KIND_EXACT);
  v1::Achievement achievement = MyThoWithMeasures(2.1);
  achievement.mutable_measures(0)->set_target_reexpressed(true);
  EXPECT_EQ(WriteReportVi(achievement, 1, &measures),
            "Tính đến 31/12/2023, thành phố Mỹ Tho (theo địa giới hành chính mới) có 215.300 "
            "người tham gia BHXH, BHYT, BHTN; 207.717 người tham gia BHYT, đạt tỷ lệ bao phủ 89,9% "
            "dân số. Trong năm 2023, phát triển mới 12.400 người tham gia BHYT, tăng 1.100 người "
            "so với cùng kỳ năm 2022; tỷ lệ nợ 1,8%, dưới mức trần 2,1% (chỉ tiêu giao cho các "
            "đơn vị trước sắp xếp).");
}

// Nothing reported is no clause, never 0: without measures the paragraph is as before; a
// summary without values adds nothing either, and a flow without last year's figure is not
// compared.
TEST(WriteReportViTest, MeasuresNotReportedAreNotWritten) {
  const std::string before = WriteReportVi(MyThoWithMeasures(2.1));
  EXPECT_EQ(before,
            "Tính đến 31/12/2023, thành phố Mỹ Tho có 207.717 người tham gia BHYT, đạt tỷ lệ bao "
            "phủ 89,9% dân số.");
  const v1::MeasureSummary empty;
  EXPECT_EQ(WriteReportVi(MyThoWithMeasures(2.1), 1, &empty), before);
  v1::MeasureSummary flow_only;
  v1::MeasureValue* joined = flow_only.add_values();
  joined->set_measure(v1::MEASURE_NEW_PARTICIPANTS);
  joined->set_scheme(v1::SCHEME_COMPULSORY_SOCIAL);
  joined->set_value(320);
  joined->mutable_same_period_last_year()->set_period("2022");
  EXPECT_EQ(
      WriteReportVi(MyThoWithMeasures(std::nullopt), 1, &flow_only),
      absl::StrCat(before, " Trong năm 2023, phát triển mới 320 người tham gia BHXH bắt buộc."));
}

TEST(UnitNameInSentenceTest, LowersOnlyTheFirstLetter) {
  EXPECT_EQ(UnitNameInSentence("Thành phố Mỹ Tho"), "thành phố Mỹ Tho");
  EXPECT_EQ(UnitNameInSentence("Đặc khu Phú Quốc"), "đặc khu Phú Quốc");
  EXPECT_EQ(UnitNameInSentence("huyện Mai Sơn"), "huyện Mai Sơn");
}

}  // namespace
}  // namespace covtrack::targets
