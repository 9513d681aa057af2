#include "services/ingestion/measure_checks.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/measures.h"
#include "common/status/status.h"
#include "common/text.h"
#include "services/ingestion/request_validation.h"

namespace covtrack::ingestion {
namespace {

absl::Status ValidateMeasure(const v1::MeasureRecord& m, int i) {
  if (m.unit_code().empty()) {
    return FieldError("measures", i, "unit_code", "required");
  }
  if (std::string problem = UnitCodeProblem(m.unit_code()); !problem.empty()) {
    return FieldError("measures", i, "unit_code", problem);
  }
  if (std::string problem = MonthProblem(m.month()); !problem.empty()) {
    return FieldError("measures", i, "month", problem);
  }
  const MeasureInfo* info = FindMeasure(m.measure());
  if (info == nullptr) {
    return FieldError("measures", i, "measure",
                      absl::StrCat("unknown measure (got ", static_cast<int>(m.measure()), ")"));
  }
  if (info->source == MeasureSource::kParticipationRecord) {
    return FieldError("measures", i, "measure",
                      absl::StrCat(info->name, " is sent as a ParticipationRecord (records)"));
  }
  if (info->source == MeasureSource::kDerived) {
    return FieldError("measures", i, "measure",
                      absl::StrCat(info->name, " is derived from other measures, never reported"));
  }
  std::string field;
  if (std::string problem = MeasureKeyProblem(*info, m.scheme(), m.payer_group(), &field);
      !problem.empty()) {
    return FieldError("measures", i, field, problem);
  }
  if (m.value() < 0) {
    return FieldError("measures", i, "value",
                      absl::StrCat(info->name, " must not be negative (got ", m.value(), ")"));
  }
  if (m.value() > info->bound) {
    return FieldError(
        "measures", i, "value",
        absl::StrCat(info->name, " must be at most ", info->bound, " (got ", m.value(), ")"));
  }
  return absl::OkStatus();
}

}  // namespace

MeasureKey KeyOf(const v1::MeasureRecord& record) {
  return {record.unit_code(), record.month(), record.measure(), record.scheme(),
          record.payer_group()};
}

absl::Status ValidateMeasureRecords(
    const google::protobuf::RepeatedPtrField<v1::MeasureRecord>& measures) {
  std::map<MeasureKey, int> seen;
  for (int i = 0; i < measures.size(); ++i) {
    RETURN_IF_ERROR(ValidateMeasure(measures[i], i));
    auto [it, inserted] = seen.emplace(KeyOf(measures[i]), i);
    if (!inserted) {
      return FieldError("measures", i, "measure",
                        absl::StrCat("duplicates measures[", it->second,
                                     "] (same unit, month, measure, scheme and payer group)"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPartsWithinWholes(const ValuesAfterWrite& after) {
  // Each whole's key, with the sum of its parts (each part is at most kMaxVnd or kMaxPeople and
  // a whole has at most five, so the sum cannot wrap) and the parts themselves.
  struct Parts {
    int64_t sum = 0;
    std::vector<MeasureKey> keys;
  };
  std::map<MeasureKey, Parts> wholes;
  for (const auto& [key, value] : after.values) {
    const auto& [unit, month, measure, scheme, group] = key;
    const MeasureInfo* info = FindMeasure(static_cast<v1::Measure>(measure));
    if (info == nullptr || info->whole == v1::MEASURE_UNSPECIFIED) {
      continue;
    }
    if (info->parts_by_payer_group && group == v1::PAYER_GROUP_UNSPECIFIED) {
      continue;  // the total itself, not a part
    }
    const MeasureKey whole = {unit, month, info->whole, scheme,
                              info->parts_by_payer_group ? v1::PAYER_GROUP_UNSPECIFIED : group};
    Parts& parts = wholes[whole];
    parts.sum += value;
    parts.keys.push_back(key);
  }
  for (const auto& [whole, parts] : wholes) {
    auto total = after.values.find(whole);
    if (total == after.values.end() || parts.sum <= total->second) {
      continue;
    }
    // The record to name: the whole when the request sets it, else the first part the request sets.
    const std::pair<std::string, std::string>* at = nullptr;
    if (auto it = after.sent.find(whole); it != after.sent.end()) {
      at = &it->second;
    }
    for (const MeasureKey& part : parts.keys) {
      if (auto it = after.sent.find(part); it != after.sent.end() && at == nullptr) {
        at = &it->second;
      }
    }
    if (at == nullptr) {
      continue;
    }
    const auto& [unit, month, measure, scheme, group] = whole;
    const MeasureInfo* part_info =
        FindMeasure(static_cast<v1::Measure>(std::get<2>(parts.keys.front())));
    const std::string what = part_info->parts_by_payer_group
                                 ? absl::StrCat("the payer groups of ", part_info->name)
                                 : std::string(part_info->name);
    return absl::InvalidArgumentError(
        absl::StrCat(at->first, ".", at->second, ": ", what, " of unit ", QuoteInput(unit), " in ",
                     month, " add up to ", parts.sum, ", more than its whole ",
                     MeasureName(static_cast<v1::Measure>(measure)), " (", total->second,
                     "), once this request is applied to what is stored"));
  }
  return absl::OkStatus();
}

}  // namespace covtrack::ingestion
