// The sample measures (tools/sampledata/sample_measures.h) are plausible: payer groups add up to
// the health total, flows reconcile with the stocks, arrears are a few percent of what is due,
// and every value passes the registry's bounds.
#include "tools/sampledata/sample_measures.h"

#include <gtest/gtest.h>

#include <map>
#include <tuple>

#include "common/measures.h"

namespace covtrack::sampledata {
namespace {

v1::ParticipationRecord Stock(const std::string& unit, const std::string& month, v1::Scheme scheme,
                              int64_t participants) {
  v1::ParticipationRecord r;
  r.set_unit_code(unit);
  r.set_month(month);
  r.set_scheme(scheme);
  r.set_participants(participants);
  return r;
}

TEST(SampleMeasuresTest, GroupsAddUpFlowsReconcileArrearsAreAFewPercent) {
  std::vector<v1::ParticipationRecord> records;
  const std::map<std::string, std::vector<int64_t>> health = {{"28249", {9000, 9100, 8700}},
                                                              {"28252", {5000, 5000, 5200}}};
  const std::vector<std::string> months = {"2024-10", "2024-11", "2024-12"};
  for (size_t m = 0; m < months.size(); ++m) {
    for (const auto& [unit, stocks] : health) {
      records.push_back(Stock(unit, months[m], v1::SCHEME_COMPULSORY_SOCIAL, 3000 + 10 * m));
      records.push_back(Stock(unit, months[m], v1::SCHEME_VOLUNTARY_SOCIAL, 400));
      records.push_back(Stock(unit, months[m], v1::SCHEME_HEALTH, stocks[m]));
    }
  }
  // (unit, month, measure, scheme) -> value, payer groups summed.
  std::map<std::tuple<std::string, std::string, int, int>, int64_t> values;
  for (const v1::MeasureRecord& m : SampleMeasures(records)) {
    const MeasureInfo* info = FindMeasure(m.measure());
    ASSERT_NE(info, nullptr);
    EXPECT_GE(m.value(), 0);
    EXPECT_LE(m.value(), info->bound);
    values[{m.unit_code(), m.month(), m.measure(), m.scheme()}] += m.value();
  }
  for (const auto& [unit, stocks] : health) {
    for (size_t m = 0; m < months.size(); ++m) {
      auto at = [&](v1::Measure measure, v1::Scheme scheme = v1::SCHEME_UNSPECIFIED) {
        return values[{unit, months[m], measure, scheme}];
      };
      EXPECT_EQ(at(v1::MEASURE_HEALTH_BY_PAYER, v1::SCHEME_HEALTH), stocks[m]);
      EXPECT_GE(at(v1::MEASURE_DISTINCT_PARTICIPANTS), stocks[m]);
      EXPECT_LE(at(v1::MEASURE_ARREARS_OVERDUE_3M_VND), at(v1::MEASURE_ARREARS_OWED_VND));
      const double yearly_ratio = static_cast<double>(at(v1::MEASURE_ARREARS_OWED_VND)) /
                                  (12.0 * at(v1::MEASURE_CONTRIBUTIONS_DUE_VND));
      EXPECT_GE(yearly_ratio, 0.009);
      EXPECT_LE(yearly_ratio, 0.041);
      if (m > 0) {
        EXPECT_EQ(at(v1::MEASURE_NEW_PARTICIPANTS, v1::SCHEME_HEALTH) -
                      at(v1::MEASURE_LOST_PARTICIPANTS, v1::SCHEME_HEALTH),
                  stocks[m] - stocks[m - 1]);
        EXPECT_GT(at(v1::MEASURE_LOST_PARTICIPANTS, v1::SCHEME_HEALTH), 0);
      }
    }
  }
}

}  // namespace
}  // namespace covtrack::sampledata
