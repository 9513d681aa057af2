#include "services/aggregation/change_log.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace covtrack::aggregation {

uint64_t ChangeLog::Fingerprint(const v1::Change& change) {
  // FNV-1a over the fields a restored store would not reproduce for a new change under an old
  // seq: the commit time (to the nanosecond) and the request id. Not a defence against a
  // forger (cache entries are signed for that: common/cache), only a history's identity.
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](absl::string_view bytes) {
    for (unsigned char c : bytes) {
      h = (h ^ c) * 1099511628211ULL;
    }
    h = (h ^ 0xff) * 1099511628211ULL;  // field separator
  };
  mix(absl::StrCat(change.seq()));
  mix(absl::StrCat(change.commit_time().seconds(), ".", change.commit_time().nanos()));
  mix(change.request_id());
  return h;
}

void ChangeLog::Reset(int64_t seq, std::optional<uint64_t> fingerprint) {
  initialized_ = true;
  covered_from_ = seq;
  covered_from_fingerprint_ = fingerprint;
  seen_ = seq;
  touched_ = 0;
  changes_.clear();
}

bool ChangeLog::Append(const v1::Change& change) {
  if (!initialized_ || change.seq() <= seen_) {
    return false;
  }
  Touch touch;
  touch.seq = change.seq();
  touch.fingerprint = Fingerprint(change);
  touch.admin = change.admin_unit_codes_size() > 0;
  for (const auto& p : change.participation()) {
    absl::StatusOr<Month> month = Month::Parse(p.month());
    // A malformed month cannot be matched to a period: treat the change as touching every
    // month of that unit by using an impossible index and the admin flag's caution.
    if (!month.ok()) {
      touch.admin = true;
      continue;
    }
    touch.months.push_back({p.unit_code(), month->Index()});
  }
  for (const auto& d : change.denominators()) {
    touch.years.push_back({d.unit_code(), d.year()});
  }
  touched_ += touch.months.size() + touch.years.size() + 1;
  seen_ = change.seq();
  changes_.push_back(std::move(touch));
  while (touched_ > max_touched_ && changes_.size() > 1) {
    const Touch& oldest = changes_.front();
    touched_ -= oldest.months.size() + oldest.years.size() + 1;
    // Entries tagged at or after this change's seq can still be checked against what is left.
    covered_from_ = oldest.seq;
    covered_from_fingerprint_ = oldest.fingerprint;
    changes_.pop_front();
  }
  return true;
}

std::deque<ChangeLog::Touch>::const_iterator ChangeLog::After(int64_t seq) const {
  return std::upper_bound(changes_.begin(), changes_.end(), seq,
                          [](int64_t s, const Touch& t) { return s < t.seq; });
}

std::optional<uint64_t> ChangeLog::FingerprintAt(int64_t seq) const {
  if (!initialized_ || seq < covered_from_ || seq > seen_) {
    return std::nullopt;
  }
  // The history up to `seq` is named by its newest change.
  auto it = After(seq);
  if (it == changes_.begin()) {
    return covered_from_fingerprint_;
  }
  return std::prev(it)->fingerprint;
}

bool ChangeLog::Touched(int64_t entry_seq, uint64_t entry_fingerprint, const Hierarchy& hierarchy,
                        absl::string_view code, const Period& period) const {
  if (!initialized_ || entry_seq < covered_from_ || entry_seq > seen_) {
    return true;
  }
  if (FingerprintAt(entry_seq) != std::optional<uint64_t>(entry_fingerprint)) {
    return true;
  }
  const std::string date = period.last_month().LastDay();
  const int first = period.first_month().Index();
  const int last = period.last_month().Index();
  for (auto it = After(entry_seq); it != changes_.end(); ++it) {
    if (it->admin) {
      return true;
    }
    for (const auto& [unit, month] : it->months) {
      if (month >= first && month <= last && hierarchy.InSubtree(unit, code, date)) {
        return true;
      }
    }
    for (const auto& [unit, year] : it->years) {
      if (year == period.year() && hierarchy.InSubtree(unit, code, date)) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace covtrack::aggregation
