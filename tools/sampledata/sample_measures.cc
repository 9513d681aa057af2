#include "tools/sampledata/sample_measures.h"

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <string>
#include <utility>

#include "common/domain.h"
#include "common/measures.h"
#include "tools/sampledata/sample_data.h"

namespace covtrack::sampledata {
namespace {

// A number in [low, high] from (unit, month, salt), the same on every machine (FNV-1a).
int64_t Jitter(const std::string& unit, const std::string& month, int salt, int64_t low,
               int64_t high) {
  uint64_t hash = 1469598103934665603ULL;
  auto mix = [&hash](unsigned char byte) {
    hash ^= byte;
    hash *= 1099511628211ULL;
  };
  for (char c : unit) {
    mix(static_cast<unsigned char>(c));
  }
  mix(0);
  for (char c : month) {
    mix(static_cast<unsigned char>(c));
  }
  mix(static_cast<unsigned char>(salt));
  return low + static_cast<int64_t>(hash % static_cast<uint64_t>(high - low + 1));
}

// Per mille of the health total for the first four payer groups; households get the rest.
constexpr std::array<int64_t, 4> kPayerPerMille = {200, 40, 400, 160};

}  // namespace

std::vector<v1::MeasureRecord> SampleMeasures(const std::vector<v1::ParticipationRecord>& records) {
  // Each (month, unit)'s stocks by scheme, in the records' order.
  std::vector<std::pair<std::string, std::string>> order;
  std::map<std::pair<std::string, std::string>, std::map<int, int64_t>> stocks;
  for (const v1::ParticipationRecord& r : records) {
    auto [it, inserted] = stocks.try_emplace({r.month(), r.unit_code()});
    if (inserted) {
      order.push_back(it->first);
    }
    it->second[r.scheme()] = r.participants();
  }
  std::map<std::string, std::map<int, int64_t>> previous;  // unit -> last month's stocks
  std::vector<v1::MeasureRecord> out;
  for (const auto& key : order) {
    const auto& [month, unit] = key;
    const std::map<int, int64_t>& s = stocks[key];
    auto stock = [&s](v1::Scheme scheme) {
      auto it = s.find(scheme);
      return it == s.end() ? int64_t{0} : it->second;
    };
    const int64_t health = stock(v1::SCHEME_HEALTH);
    const int64_t social = stock(v1::SCHEME_COMPULSORY_SOCIAL) + stock(v1::SCHEME_VOLUNTARY_SOCIAL);
    int64_t sum = 0;
    for (const auto& [scheme, value] : s) {
      sum += value;
    }
    out.push_back(MakeMeasureRecord(unit, month, v1::MEASURE_DISTINCT_PARTICIPANTS,
                                    std::min(sum, health + social / 50)));
    if (s.count(v1::SCHEME_HEALTH) > 0) {
      int64_t assigned = 0;
      for (size_t g = 0; g < kPayerPerMille.size(); ++g) {
        const int64_t part = health * kPayerPerMille[g] / 1000;
        assigned += part;
        out.push_back(MakeMeasureRecord(unit, month, v1::MEASURE_HEALTH_BY_PAYER, part,
                                        v1::SCHEME_HEALTH, kPayerGroups[g]));
      }
      out.push_back(MakeMeasureRecord(unit, month, v1::MEASURE_HEALTH_BY_PAYER, health - assigned,
                                      v1::SCHEME_HEALTH, kPayerGroups.back()));
    }
    // Across the 2025 reform a reused code names another unit: its flows start afresh.
    if (month == kReformDate.substr(0, 7)) {
      previous.erase(unit);
    }
    if (auto before = previous.find(unit); before != previous.end()) {
      for (const auto& [scheme, value] : s) {
        auto last = before->second.find(scheme);
        if (last == before->second.end()) {
          continue;
        }
        const int64_t change = value - last->second;
        int64_t lost = last->second * Jitter(unit, month, scheme, 5, 15) / 1000;
        int64_t gained = lost + change;
        if (gained < 0) {
          lost -= gained;
          gained = 0;
        }
        out.push_back(MakeMeasureRecord(unit, month, v1::MEASURE_NEW_PARTICIPANTS, gained,
                                        static_cast<v1::Scheme>(scheme)));
        out.push_back(MakeMeasureRecord(unit, month, v1::MEASURE_LOST_PARTICIPANTS, lost,
                                        static_cast<v1::Scheme>(scheme)));
      }
    }
    const int64_t due = std::min(kMaxVnd, stock(v1::SCHEME_COMPULSORY_SOCIAL) * 2'200'000 +
                                              stock(v1::SCHEME_VOLUNTARY_SOCIAL) * 400'000);
    const int64_t owed = std::min(kMaxVnd, due * 12 / 1000 * Jitter(unit, month, 10, 10, 40));
    out.push_back(MakeMeasureRecord(unit, month, v1::MEASURE_CONTRIBUTIONS_DUE_VND, due));
    out.push_back(MakeMeasureRecord(unit, month, v1::MEASURE_ARREARS_OWED_VND, owed));
    out.push_back(MakeMeasureRecord(unit, month, v1::MEASURE_ARREARS_OVERDUE_3M_VND,
                                    owed / 100 * Jitter(unit, month, 11, 30, 60)));
    out.push_back(MakeMeasureRecord(
        unit, month, v1::MEASURE_EMPLOYERS_OWING,
        stock(v1::SCHEME_COMPULSORY_SOCIAL) * Jitter(unit, month, 12, 80, 120) / 25'000));
    previous[unit] = s;
  }
  return out;
}

}  // namespace covtrack::sampledata
