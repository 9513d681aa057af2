#include "tools/sampledata/sample_data.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <numeric>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/domain.h"
#include "common/hierarchy/hierarchy.h"
#include "tools/sampledata/csv.h"
#include "tools/sampledata/record_csv.h"

namespace covtrack::sampledata {
namespace {

constexpr int64_t kPpm = 1000000;  // rates and fractions are integers in parts per million

// SplitMix64's finaliser: a well-mixed 64-bit value from any 64-bit input.
uint64_t SplitMix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// A deterministic pseudo-random value for (seed, tag, code, extra): FNV-1a over the strings,
// then SplitMix. No global state; the same on every machine.
uint64_t Draw(uint64_t seed, absl::string_view tag, absl::string_view code, uint64_t extra = 0) {
  uint64_t h = 0xCBF29CE484222325ULL;
  auto mix_bytes = [&h](absl::string_view bytes) {
    for (unsigned char c : bytes) {
      h = (h ^ c) * 0x100000001B3ULL;
    }
    h = (h ^ 0xFF) * 0x100000001B3ULL;  // separator, so ("ab","c") != ("a","bc")
  };
  mix_bytes(tag);
  mix_bytes(code);
  return SplitMix(SplitMix(h ^ SplitMix(seed)) + extra);
}

// Uniform in [lo, hi] (the modulo bias is below 1e-12 for these ranges).
int64_t Uniform(int64_t lo, int64_t hi, uint64_t draw) {
  return lo + static_cast<int64_t>(draw % static_cast<uint64_t>(hi - lo + 1));
}

int64_t RoundedPpm(int64_t value, int64_t ppm) { return (value * ppm + kPpm / 2) / kPpm; }

// Splits total into parts proportional to weights that add up exactly to total (largest
// remainder; ties go to the earlier part).
std::vector<int64_t> Apportion(int64_t total, const std::vector<int64_t>& weights) {
  int64_t weight_sum = std::accumulate(weights.begin(), weights.end(), int64_t{0});
  std::vector<int64_t> parts(weights.size());
  std::vector<std::pair<int64_t, size_t>> remainders;
  int64_t assigned = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    parts[i] = total * weights[i] / weight_sum;
    assigned += parts[i];
    remainders.emplace_back(total * weights[i] % weight_sum, i);
  }
  std::sort(remainders.begin(), remainders.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  for (int64_t k = 0; k < total - assigned; ++k) {
    ++parts[remainders[k].second];
  }
  return parts;
}

// Per-scheme shape of the rates (ppm). Health is against population, the rest against the
// labour force; unemployment is derived from compulsory (see RatePpm).
struct SchemeShape {
  int64_t center;           // at 2023-01
  int64_t province_spread;  // province offset in [-spread, spread]
  int64_t unit_spread;      // unit offset in [-spread, spread]
  int64_t monthly_growth;
  int64_t seasonal[12];  // by calendar month
};

// Health: cards of pupils and students lapse over the summer and are renewed in the autumn.
constexpr SchemeShape kHealth = {
    900000,
    15000,
    25000,
    250,
    {0, -500, -1000, -1000, -500, 0, -1500, -3000, -1500, 0, 1500, 3000}};
// Compulsory: dips after Tết (January/February job changes), climbs to the year end.
constexpr SchemeShape kCompulsory = {
    310000, 20000, 25000, 80, {-1500, -2500, -500, 0, 0, 500, 0, 0, 500, 500, 1000, 2000}};
// Voluntary: campaigns push enrolments towards the year end.
constexpr SchemeShape kVoluntary = {
    60000, 10000, 15000, 40, {0, -1000, -1000, -500, 0, 500, 0, 0, 500, 1000, 1500, 3000}};

const SchemeShape& ShapeOf(v1::Scheme scheme) {
  switch (scheme) {
    case v1::SCHEME_HEALTH:
      return kHealth;
    case v1::SCHEME_VOLUNTARY_SOCIAL:
      return kVoluntary;
    default:
      return kCompulsory;  // unemployment is compulsory minus a gap
  }
}

constexpr int kReferenceMonthIndex = 2023 * 12;  // 2023-01

}  // namespace

std::string DefaultDataDir() {
  if (const char* dir = std::getenv("COVTRACK_DATA_DIR"); dir != nullptr && *dir != '\0') {
    return dir;
  }
  return COVTRACK_SOURCE_DIR "/data/vn-admin-units";
}

// One interval during which the hierarchy does not change.
struct Epoch {
  std::string start;                                // "" = since always
  std::string end;                                  // exclusive; "" = still
  absl::flat_hash_map<std::string, int> by_code;    // code -> index into units
  std::vector<int> leaves;                          // unit indices, catalogue order
  std::vector<std::vector<std::string>> ancestors;  // per leaf: its code, parent, ... province
  std::vector<int> leaf_province;                   // per leaf: index into provinces
  std::vector<int> provinces;                       // unit indices
  // Per province: the pre-reform provinces it is made of (itself before the reform).
  std::vector<std::vector<std::string>> province_sources;

  bool Contains(absl::string_view date) const { return ValidOn(start, end, date); }
};

struct LeafDenominators {
  std::vector<int64_t> population;  // per epoch leaf
  std::vector<int64_t> labor_force;
};

struct SampleData::Impl {
  uint64_t seed = 0;
  std::vector<v1::AdminUnit> units;
  std::unique_ptr<Hierarchy> hierarchy;  // the same units, by code
  std::vector<Epoch> epochs;
  absl::flat_hash_map<std::string, int64_t> population_2019;  // pre-reform province code
  absl::flat_hash_set<std::string> all_codes;

  mutable absl::Mutex mutex;
  mutable std::map<std::pair<int, int>, std::shared_ptr<const LeafDenominators>> denominators
      ABSL_GUARDED_BY(mutex);

  const Epoch* EpochAt(absl::string_view date) const {
    for (const Epoch& epoch : epochs) {
      if (epoch.Contains(date)) {
        return &epoch;
      }
    }
    return nullptr;
  }

  // Pre-reform province figures.
  int64_t OldProvincePopulation(const std::string& code, int year) const {
    int64_t base = population_2019.at(code);
    int64_t growth_per_mille = Uniform(6, 14, Draw(seed, "province-growth", code));
    return base + base * growth_per_mille * (year - 2019) / 1000;
  }
  int64_t OldProvinceLaborForce(const std::string& code, int year) const {
    return RoundedPpm(OldProvincePopulation(code, year),
                      Uniform(550000, 600000, Draw(seed, "province-labor", code)));
  }
  int64_t OldProvinceOffset(const std::string& code, v1::Scheme scheme) const {
    int64_t spread = ShapeOf(scheme).province_spread;
    return Uniform(-spread, spread, Draw(seed, "province-offset", code, scheme));
  }
  // A merged province's offset is its sources' offsets weighted by their 2019 population,
  // so its rates carry on across the reform.
  int64_t ProvinceOffset(const std::vector<std::string>& sources, v1::Scheme scheme) const {
    int64_t weighted = 0;
    int64_t weight = 0;
    for (const std::string& code : sources) {
      weighted += OldProvinceOffset(code, scheme) * population_2019.at(code);
      weight += population_2019.at(code);
    }
    return weighted / weight;
  }

  std::shared_ptr<const LeafDenominators> DenominatorsFor(int epoch_index, int year) const {
    {
      absl::MutexLock lock(&mutex);
      auto it = denominators.find({epoch_index, year});
      if (it != denominators.end()) {
        return it->second;
      }
    }
    const Epoch& epoch = epochs[epoch_index];
    auto result = std::make_shared<LeafDenominators>();
    result->population.resize(epoch.leaves.size());
    result->labor_force.resize(epoch.leaves.size());
    std::vector<std::vector<size_t>> leaves_of(epoch.provinces.size());
    for (size_t i = 0; i < epoch.leaves.size(); ++i) {
      leaves_of[epoch.leaf_province[i]].push_back(i);
    }
    for (size_t p = 0; p < epoch.provinces.size(); ++p) {
      int64_t population = 0;
      int64_t labor_force = 0;
      for (const std::string& source : epoch.province_sources[p]) {
        population += OldProvincePopulation(source, year);
        labor_force += OldProvinceLaborForce(source, year);
      }
      std::vector<int64_t> weights;
      std::vector<int64_t> labor_weights;
      for (size_t i : leaves_of[p]) {
        const v1::AdminUnit& leaf = units[epoch.leaves[i]];
        // Island districts without communes are small.
        int64_t weight = leaf.level() == v1::ADMIN_LEVEL_COMMUNE
                             ? Uniform(300, 1700, Draw(seed, "weight", leaf.code(), epoch_index))
                             : Uniform(5, 30, Draw(seed, "weight", leaf.code(), epoch_index));
        weights.push_back(weight);
        labor_weights.push_back(
            weight * Uniform(970, 1030, Draw(seed, "labor-weight", leaf.code(), epoch_index)));
      }
      std::vector<int64_t> populations = Apportion(population, weights);
      std::vector<int64_t> labor_forces = Apportion(labor_force, labor_weights);
      for (size_t k = 0; k < leaves_of[p].size(); ++k) {
        result->population[leaves_of[p][k]] = populations[k];
        result->labor_force[leaves_of[p][k]] = labor_forces[k];
      }
    }
    absl::MutexLock lock(&mutex);
    denominators[{epoch_index, year}] = result;
    return result;
  }

  // The leaf positions (into epoch.leaves) under any of the roots.
  absl::StatusOr<std::vector<size_t>> SelectLeaves(const Epoch& epoch,
                                                   const std::vector<std::string>& roots) const {
    absl::flat_hash_set<std::string> wanted;
    bool everything = roots.empty();
    for (const std::string& root : roots) {
      if (root.empty() || root == kNationCode) {
        everything = true;
      } else if (!all_codes.contains(root)) {
        return absl::NotFoundError(absl::StrCat("unit \"", root, "\" is not in the catalogue"));
      } else {
        wanted.insert(root);
      }
    }
    std::vector<size_t> selected;
    for (size_t i = 0; i < epoch.leaves.size(); ++i) {
      bool under = everything;
      for (size_t k = 0; !under && k < epoch.ancestors[i].size(); ++k) {
        under = wanted.contains(epoch.ancestors[i][k]);
      }
      if (under) {
        selected.push_back(i);
      }
    }
    return selected;
  }

  // The rate of one leaf, scheme and month, in ppm of its denominator.
  int64_t RatePpm(const Epoch& epoch, int epoch_index, size_t leaf, v1::Scheme scheme,
                  Month month) const {
    const std::string& code = units[epoch.leaves[leaf]].code();
    v1::Scheme shape_scheme =
        scheme == v1::SCHEME_UNEMPLOYMENT ? v1::SCHEME_COMPULSORY_SOCIAL : scheme;
    const SchemeShape& shape = ShapeOf(shape_scheme);
    const std::vector<std::string>& sources = epoch.province_sources[epoch.leaf_province[leaf]];
    int64_t rate = shape.center + ProvinceOffset(sources, shape_scheme) +
                   Uniform(-shape.unit_spread, shape.unit_spread,
                           Draw(seed, "unit-offset", code, epoch_index * 16 + shape_scheme)) +
                   shape.monthly_growth * (month.Index() - kReferenceMonthIndex) +
                   shape.seasonal[month.month - 1];
    if (scheme == v1::SCHEME_UNEMPLOYMENT) {
      rate -= Uniform(10000, 40000, Draw(seed, "unemployment-gap", code, epoch_index));
    }
    return std::clamp<int64_t>(rate, 0, 990000);
  }

  int64_t InProvincePpm(const std::string& code, int epoch_index, v1::Scheme scheme) const {
    bool employees = scheme == v1::SCHEME_COMPULSORY_SOCIAL || scheme == v1::SCHEME_UNEMPLOYMENT;
    return employees
               ? Uniform(700000, 950000, Draw(seed, "in-province", code, epoch_index * 16 + scheme))
               : Uniform(930000, 990000,
                         Draw(seed, "in-province", code, epoch_index * 16 + scheme));
  }
};

namespace {

absl::Status ReadUnits(const std::string& path, const UnitDefaults& defaults,
                       std::vector<v1::AdminUnit>& units) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    return text.status();
  }
  absl::StatusOr<CsvTable> table = ParseCsv(*text);
  if (!table.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", table.status().message()));
  }
  ParsedRows<v1::AdminUnit> parsed = ParseUnitRows(*table, defaults);
  if (!parsed.errors.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": line ", parsed.errors[0].line, ": ", parsed.errors[0].message));
  }
  for (v1::AdminUnit& unit : parsed.items) {
    if (unit.level() == v1::ADMIN_LEVEL_PROVINCE && unit.parent_code().empty()) {
      unit.set_parent_code(std::string(kNationCode));
    }
    units.push_back(std::move(unit));
  }
  return absl::OkStatus();
}

absl::StatusOr<CsvTable> ReadTable(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    return text.status();
  }
  absl::StatusOr<CsvTable> table = ParseCsv(*text);
  if (!table.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", table.status().message()));
  }
  return table;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SampleData>> SampleData::Load(uint64_t seed,
                                                             const std::string& data_dir) {
  std::string dir = data_dir.empty() ? DefaultDataDir() : data_dir;
  auto impl = std::make_unique<Impl>();
  impl->seed = seed;
  if (absl::Status status = ReadUnits(absl::StrCat(dir, "/units_2025-03-01.csv"),
                                      UnitDefaults{"", std::string(kReformDate)}, impl->units);
      !status.ok()) {
    return status;
  }
  if (absl::Status status = ReadUnits(absl::StrCat(dir, "/units_2025-07-01.csv"),
                                      UnitDefaults{std::string(kReformDate), ""}, impl->units);
      !status.ok()) {
    return status;
  }
  for (const v1::AdminUnit& unit : impl->units) {
    impl->all_codes.insert(unit.code());
  }
  impl->hierarchy = std::make_unique<Hierarchy>(impl->units);

  // 2019 census population of the pre-reform provinces.
  absl::StatusOr<CsvTable> population =
      ReadTable(absl::StrCat(dir, "/population_province_2019.csv"));
  if (!population.ok()) {
    return population.status();
  }
  for (const CsvRow& row : population->rows) {
    int64_t value = 0;
    if (row.fields.size() != 3 || !absl::SimpleAtoi(row.fields[2], &value) || value <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir, "/population_province_2019.csv: line ", row.line, ": bad row"));
    }
    impl->population_2019[row.fields[0]] = value;
  }
  // Old province -> new province (the province rows of the merge map).
  absl::StatusOr<CsvTable> merges = ReadTable(absl::StrCat(dir, "/merge_map_2025.csv"));
  if (!merges.ok()) {
    return merges.status();
  }
  std::map<std::string, std::vector<std::string>> sources_of_new;
  for (const CsvRow& row : merges->rows) {
    if (row.fields.size() == 3 && row.fields[2] == "province") {
      sources_of_new[row.fields[1]].push_back(row.fields[0]);
    }
  }

  // Epoch boundaries: every date a unit starts or stops being valid.
  std::set<std::string> boundaries;
  for (const v1::AdminUnit& unit : impl->units) {
    if (!unit.valid_from().empty()) {
      boundaries.insert(unit.valid_from());
    }
    if (!unit.valid_to().empty()) {
      boundaries.insert(unit.valid_to());
    }
  }
  std::vector<std::string> starts = {""};
  starts.insert(starts.end(), boundaries.begin(), boundaries.end());
  for (size_t e = 0; e < starts.size(); ++e) {
    Epoch epoch;
    epoch.start = starts[e];
    epoch.end = e + 1 < starts.size() ? starts[e + 1] : "";
    std::string probe = epoch.start.empty() ? "0001-01-01" : epoch.start;
    absl::flat_hash_set<std::string> has_children;
    for (size_t i = 0; i < impl->units.size(); ++i) {
      const v1::AdminUnit& unit = impl->units[i];
      if (ValidOn(unit, probe)) {
        epoch.by_code[unit.code()] = static_cast<int>(i);
        has_children.insert(unit.parent_code());
      }
    }
    absl::flat_hash_map<std::string, int> province_position;
    for (size_t i = 0; i < impl->units.size(); ++i) {
      const v1::AdminUnit& unit = impl->units[i];
      auto found = epoch.by_code.find(unit.code());
      if (found == epoch.by_code.end() || found->second != static_cast<int>(i)) {
        continue;
      }
      if (unit.level() == v1::ADMIN_LEVEL_PROVINCE) {
        std::vector<std::string> sources;
        if (impl->population_2019.contains(unit.code()) && epoch.start.empty()) {
          sources.push_back(unit.code());
        } else {
          sources = sources_of_new[unit.code()];
        }
        for (const std::string& source : sources) {
          if (!impl->population_2019.contains(source)) {
            return absl::InvalidArgumentError(absl::StrCat("province ", unit.code(), " from ",
                                                           epoch.start, ": no 2019 population for ",
                                                           source));
          }
        }
        if (sources.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat("province ", unit.code(), " from ", epoch.start,
                           ": neither a 2019 population nor a merge-map source"));
        }
        province_position[unit.code()] = static_cast<int>(epoch.provinces.size());
        epoch.provinces.push_back(static_cast<int>(i));
        epoch.province_sources.push_back(std::move(sources));
      }
    }
    for (size_t i = 0; i < impl->units.size(); ++i) {
      const v1::AdminUnit& unit = impl->units[i];
      auto found = epoch.by_code.find(unit.code());
      if (found == epoch.by_code.end() || found->second != static_cast<int>(i) ||
          has_children.contains(unit.code()) || unit.level() == v1::ADMIN_LEVEL_PROVINCE) {
        continue;
      }
      std::vector<std::string> chain = {unit.code()};
      int current = static_cast<int>(i);
      while (impl->units[current].level() != v1::ADMIN_LEVEL_PROVINCE) {
        auto parent = epoch.by_code.find(impl->units[current].parent_code());
        if (parent == epoch.by_code.end() || chain.size() > 8) {
          return absl::InvalidArgumentError(absl::StrCat("unit ", unit.code(), ": parent ",
                                                         impl->units[current].parent_code(),
                                                         " is not valid on ", probe));
        }
        current = parent->second;
        chain.push_back(impl->units[current].code());
      }
      epoch.leaves.push_back(static_cast<int>(i));
      epoch.leaf_province.push_back(province_position.at(impl->units[current].code()));
      epoch.ancestors.push_back(std::move(chain));
    }
    impl->epochs.push_back(std::move(epoch));
  }
  return std::unique_ptr<SampleData>(new SampleData(std::move(impl)));
}

SampleData::SampleData(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SampleData::~SampleData() = default;

const std::vector<v1::AdminUnit>& SampleData::units() const { return impl_->units; }

absl::StatusOr<std::vector<std::string>> SampleData::Leaves(const std::vector<std::string>& roots,
                                                            Month month) const {
  // A month's stock belongs to the units valid on its last day (StockMonths).
  const Epoch* epoch = impl_->EpochAt(month.LastDay());
  absl::StatusOr<std::vector<size_t>> selected = impl_->SelectLeaves(*epoch, roots);
  if (!selected.ok()) {
    return selected.status();
  }
  std::vector<std::string> codes;
  for (size_t i : *selected) {
    codes.push_back(impl_->units[epoch->leaves[i]].code());
  }
  return codes;
}

absl::StatusOr<std::vector<v1::ParticipationRecord>> SampleData::Records(
    const std::vector<std::string>& roots, Month from, Month to) const {
  std::vector<v1::ParticipationRecord> records;
  for (Month month = from; month <= to; month = month.Next()) {
    const Epoch* epoch = impl_->EpochAt(month.LastDay());
    int epoch_index = static_cast<int>(epoch - impl_->epochs.data());
    absl::StatusOr<std::vector<size_t>> selected = impl_->SelectLeaves(*epoch, roots);
    if (!selected.ok()) {
      return selected.status();
    }
    std::shared_ptr<const LeafDenominators> denominators =
        impl_->DenominatorsFor(epoch_index, month.year);
    std::string month_text = month.ToString();
    records.reserve(records.size() + selected->size() * kReportedSchemes.size());
    for (size_t leaf : *selected) {
      const std::string& code = impl_->units[epoch->leaves[leaf]].code();
      for (v1::Scheme scheme : kReportedSchemes) {
        int64_t denominator = scheme == v1::SCHEME_HEALTH ? denominators->population[leaf]
                                                          : denominators->labor_force[leaf];
        int64_t participants =
            RoundedPpm(denominator, impl_->RatePpm(*epoch, epoch_index, leaf, scheme, month));
        v1::ParticipationRecord& record = records.emplace_back();
        record.set_unit_code(code);
        record.set_month(month_text);
        record.set_scheme(scheme);
        record.set_participants(participants);
        record.set_in_province_participants(
            RoundedPpm(participants, impl_->InProvincePpm(code, epoch_index, scheme)));
      }
    }
  }
  return records;
}

absl::StatusOr<std::vector<v1::DenominatorRecord>> SampleData::Denominators(
    const std::vector<std::string>& roots, int from_year, int to_year,
    absl::string_view as_of) const {
  if (!as_of.empty()) {
    if (absl::Status status = ValidateDate(as_of); !status.ok()) {
      return status;
    }
  }
  std::vector<v1::DenominatorRecord> records;
  auto emit = [&records](const std::string& code, int year, const LeafDenominators& values,
                         size_t leaf) {
    for (auto [kind, value] :
         {std::make_pair(v1::DENOMINATOR_KIND_POPULATION, values.population[leaf]),
          std::make_pair(v1::DENOMINATOR_KIND_LABOR_FORCE, values.labor_force[leaf])}) {
      v1::DenominatorRecord& record = records.emplace_back();
      record.set_unit_code(code);
      record.set_year(year);
      record.set_kind(kind);
      record.set_value(value);
    }
  };
  for (int year = from_year; year <= to_year; ++year) {
    std::string date = as_of.empty() ? YearEnd(year) : std::string(as_of);
    const Epoch* epoch = impl_->EpochAt(date);
    int epoch_index = static_cast<int>(epoch - impl_->epochs.data());
    absl::StatusOr<std::vector<size_t>> selected = impl_->SelectLeaves(*epoch, roots);
    if (!selected.ok()) {
      return selected.status();
    }
    std::shared_ptr<const LeafDenominators> values = impl_->DenominatorsFor(epoch_index, year);
    for (size_t leaf : *selected) {
      emit(impl_->units[epoch->leaves[leaf]].code(), year, *values, leaf);
    }
    if (!as_of.empty()) {
      continue;
    }
    // common.proto: a code no unit holds on 31 December belongs to the last unit that held it
    // during the year (YearlyFigureHolder), so the leaves that ended during the year get their
    // figures too (in 2025: the old communes whose codes were not reused).
    std::string year_start = absl::StrFormat("%04d-01-01", year);
    absl::flat_hash_set<std::string> emitted;
    for (int e = epoch_index - 1; e >= 0; --e) {
      const Epoch& earlier = impl_->epochs[e];
      if (!earlier.end.empty() && earlier.end <= year_start) {
        break;
      }
      absl::StatusOr<std::vector<size_t>> ended = impl_->SelectLeaves(earlier, roots);
      if (!ended.ok()) {
        return ended.status();
      }
      std::shared_ptr<const LeafDenominators> earlier_values = impl_->DenominatorsFor(e, year);
      for (size_t leaf : *ended) {
        const v1::AdminUnit& unit = impl_->units[earlier.leaves[leaf]];
        const std::string& code = unit.code();
        if (epoch->by_code.contains(code)) {
          continue;  // held on 31 December: emitted above when a leaf then
        }
        const v1::AdminUnit* holder = impl_->hierarchy->YearlyFigureHolder(code, year);
        if (holder != nullptr && holder->valid_from() == unit.valid_from() &&
            emitted.insert(code).second) {
          emit(code, year, *earlier_values, leaf);
        }
      }
    }
  }
  return records;
}

}  // namespace covtrack::sampledata
