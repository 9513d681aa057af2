// The measure registry (common/measures.h) and the checks that read it
// (services/ingestion/measure_checks.h), without a store.
#include "services/ingestion/measure_checks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <set>

#include "common/measures.h"
#include "tests/testing/status_matchers.h"

namespace covtrack::ingestion {
namespace {

using ::testing::HasSubstr;
using testing::IsOk;
using testing::StatusIs;

TEST(MeasureRegistryTest, EveryEnumValueHasOneRowWithConsistentFields) {
  std::set<std::string> names;
  for (int value = v1::Measure_MIN + 1; value <= v1::Measure_MAX; ++value) {
    const MeasureInfo* info = FindMeasure(static_cast<v1::Measure>(value));
    ASSERT_NE(info, nullptr) << "no registry row for Measure " << value;
    EXPECT_TRUE(names.insert(std::string(info->name)).second) << info->name;
    EXPECT_THAT(ParseMeasure(info->name), IsOk());
    EXPECT_EQ(*ParseMeasure(info->name), info->measure);
    if (info->source == MeasureSource::kDerived) {
      EXPECT_EQ(info->rule, MeasureRule::kRatio);
      EXPECT_NE(FindMeasure(info->numerator), nullptr);
      EXPECT_NE(FindMeasure(info->denominator), nullptr);
    } else {
      EXPECT_GT(info->bound, 0) << info->name;
      EXPECT_EQ(info->bound, info->unit == MeasureUnit::kVnd ? kMaxVnd : kMaxPeople) << info->name;
    }
  }
  EXPECT_EQ(FindMeasure(v1::MEASURE_UNSPECIFIED), nullptr);
  EXPECT_EQ(FindMeasure(v1::MEASURE_ARREARS_RATIO)->lower_is_better, true);
  EXPECT_EQ(FindMeasure(v1::MEASURE_NEW_PARTICIPANTS)->rule, MeasureRule::kSum);
  EXPECT_EQ(FindMeasure(v1::MEASURE_DISTINCT_PARTICIPANTS)->rule, MeasureRule::kLast);
}

TEST(MeasureRegistryTest, VndBoundKeepsTenYearsOfEveryCommuneInsideInt64) {
  constexpr int64_t kCommunes = 10'980;  // more than the 10,047 communes before the reform
  constexpr int64_t kMonths = 120;
  EXPECT_LE(kMaxVnd, std::numeric_limits<int64_t>::max() / (kCommunes * kMonths));
}

TEST(MeasureRegistryTest, PayerGroupNamesRoundTrip) {
  for (v1::PayerGroup group : kPayerGroups) {
    EXPECT_EQ(*ParsePayerGroup(PayerGroupName(group)), group);
  }
  EXPECT_EQ(*ParsePayerGroup(""), v1::PAYER_GROUP_UNSPECIFIED);
  EXPECT_FALSE(ParsePayerGroup("nobody").ok());
}

v1::MeasureRecord Measure(v1::Measure measure, int64_t value, v1::Scheme scheme,
                          v1::PayerGroup group = v1::PAYER_GROUP_UNSPECIFIED) {
  v1::MeasureRecord m;
  m.set_unit_code("28249");
  m.set_month("2024-12");
  m.set_measure(measure);
  m.set_scheme(scheme);
  m.set_payer_group(group);
  m.set_value(value);
  return m;
}

TEST(MeasureChecksTest, AnUnknownPayerGroupIsRefused) {
  google::protobuf::RepeatedPtrField<v1::MeasureRecord> measures;
  *measures.Add() =
      Measure(v1::MEASURE_NEW_PARTICIPANTS, 1, v1::SCHEME_HEALTH, static_cast<v1::PayerGroup>(9));
  EXPECT_THAT(ValidateMeasureRecords(measures),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("measures[0].payer_group")));
}

TEST(MeasureChecksTest, PartsAreCheckedOnlyWhereTheRequestTakesPart) {
  ValuesAfterWrite after;
  const MeasureKey whole =
      KeyOf(Measure(v1::MEASURE_ARREARS_OWED_VND, 100, v1::SCHEME_UNSPECIFIED));
  const MeasureKey part =
      KeyOf(Measure(v1::MEASURE_ARREARS_OVERDUE_3M_VND, 101, v1::SCHEME_UNSPECIFIED));
  after.values = {{whole, 100}, {part, 101}};
  // Stored that way (by hand, or before the check existed): not this request's to answer for.
  EXPECT_THAT(CheckPartsWithinWholes(after), IsOk());
  after.sent[whole] = {"measures[4]", "value"};
  EXPECT_THAT(CheckPartsWithinWholes(after),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("measures[4].value")));
  // A part without its whole is not checked.
  after.values.erase(whole);
  EXPECT_THAT(CheckPartsWithinWholes(after), IsOk());
}

}  // namespace
}  // namespace covtrack::ingestion
