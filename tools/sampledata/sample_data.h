#pragma once

// The reference unit catalogue and a deterministic generator of realistic sample data, for
// the demo, tests and benchmarks.
//
// Catalogue: data/vn-admin-units (or $COVTRACK_DATA_DIR): the units of 01/03/2025, valid until
// the 2025-07-01 reform (valid_from "", valid_to "2025-07-01"), and the units from 2025-07-01
// on (valid_from "2025-07-01", valid_to ""). Provinces have parent_code "VN". Codes are reused
// across the reform (82 is Tiền Giang before, the merged Đồng Tháp after); the intervals do
// not overlap, and every question below is answered with the hierarchy valid in the month
// (or year) asked about.
//
// Generated figures (integer arithmetic only, so every machine produces the same bytes):
// - Data exists for every LEAF unit of the hierarchy valid in a month: every commune, and the
//   few island districts that have no communes before the reform.
// - Population per leaf and year: the province's 2019 census figure, grown by a per-province
//   0.6–1.4 % a year (linear from 2019), split over its leaves with deterministic weights, the
//   parts adding up exactly to the province. A post-reform province is the sum of the old
//   provinces that merged whole into it (merge_map_2025.csv), so province totals are
//   continuous across the reform. Labour force: 55–60 % of population per old province, split
//   the same way with a ±3 % jitter per leaf.
// - Participants per leaf, scheme and month: a rate times the denominator of the month's year
//   (health: population; the other schemes: labour force). Rates at 2023-01: health ≈ 90 %
//   (86–94), compulsory ≈ 31 % and voluntary ≈ 6 % of the labour force (together 35–40 %),
//   unemployment 1–4 points below compulsory (≈ 29 %); each varies by province and by unit,
//   grows a little every month, and follows a mild seasonal pattern.
//   in_province_participants is 93–99 % of participants for health and voluntary insurance,
//   70–95 % for compulsory and unemployment insurance (employees often work elsewhere).
// The same seed gives the same data; a different seed varies every unit-level figure.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/period.h"
#include "covtrack/v1/common.pb.h"

namespace covtrack::sampledata {

// The first day of the post-reform hierarchy.
inline constexpr absl::string_view kReformDate = "2025-07-01";
inline constexpr uint64_t kDefaultSeed = 20250701;

// $COVTRACK_DATA_DIR when set, else the repository's data/vn-admin-units.
std::string DefaultDataDir();

class SampleData {
 public:
  // Reads the catalogue, population and merge map from data_dir (DefaultDataDir() when empty).
  static absl::StatusOr<std::unique_ptr<SampleData>> Load(uint64_t seed = kDefaultSeed,
                                                          const std::string& data_dir = "");
  ~SampleData();

  // The reference catalogue: pre-reform units then post-reform units, each in file order
  // (parents before children), ready for ImportAdminUnits.
  const std::vector<v1::AdminUnit>& units() const;

  // The leaf units valid in `month` (on its last day, whose stock the month's figure is) under
  // any of `roots` (a root is a unit code valid in that month; "VN" or "" is the whole country; a
  // root not valid in that month contributes nothing). NOT_FOUND when a root names no unit at all.
  absl::StatusOr<std::vector<std::string>> Leaves(const std::vector<std::string>& roots,
                                                  Month month) const;

  // Participation records of those leaves for every month in [from, to], four schemes each,
  // ordered by month, then unit (catalogue order), then scheme.
  absl::StatusOr<std::vector<v1::ParticipationRecord>> Records(
      const std::vector<std::string>& roots, Month from, Month to) const;

  // Population and labour force for every year in [from_year, to_year], following
  // common.proto's rule for DenominatorRecord: a figure belongs to the unit holding the code on
  // 31 December, or, when none does, to the last unit that held it during the year. So: the
  // leaves under the roots in the hierarchy of 31 December, then the leaves that ended during
  // the year and whose code no unit holds on 31 December (in 2025, the old communes whose codes
  // were not reused: 3,316 of the 3,321 new commune codes were old commune codes, and those
  // old communes get no 2025 figure). Ordered by year, then that order, unit, kind.
  // With `as_of` ("YYYY-MM-DD"): only the leaves of the hierarchy valid on that date (tests
  // use it to compare province totals across the reform).
  absl::StatusOr<std::vector<v1::DenominatorRecord>> Denominators(
      const std::vector<std::string>& roots, int from_year, int to_year,
      absl::string_view as_of = "") const;

 private:
  struct Impl;
  explicit SampleData(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace covtrack::sampledata
