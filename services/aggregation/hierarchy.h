#pragma once

// The administrative hierarchy through time: every version of every unit, read as of a date.
// Pure data; the service reloads it from ingestion when the change feed says units changed.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "covtrack/v1/common.pb.h"

namespace covtrack::aggregation {

// True when `unit` is valid on `date` ("YYYY-MM-DD"): valid_from <= date < valid_to, empty
// bounds open.
bool ValidOn(const v1::AdminUnit& unit, absl::string_view date);

class Hierarchy {
 public:
  // `units`: every version of every unit (ListAdminUnits with as_of empty). A province's parent
  // may be empty or "VN"; the nation itself need not be listed.
  explicit Hierarchy(std::vector<v1::AdminUnit> units);
  Hierarchy(const Hierarchy&) = delete;
  Hierarchy& operator=(const Hierarchy&) = delete;

  // The version `code` names on `date`; the nation for "VN" (or ""); nullptr when none.
  const v1::AdminUnit* UnitAt(absl::string_view code, absl::string_view date) const;
  // Units whose parent on `date` is `code` (provinces for "VN"), ordered by code.
  std::vector<const v1::AdminUnit*> ChildrenAt(absl::string_view code,
                                               absl::string_view date) const;
  // Units at `level` anywhere beneath `root` on `date`, ordered by code.
  std::vector<const v1::AdminUnit*> DescendantsAt(absl::string_view root, v1::AdminLevel level,
                                                  absl::string_view date) const;
  // True when `code` is `root` or lies beneath it on `date`.
  bool InSubtree(absl::string_view code, absl::string_view root, absl::string_view date) const;
  // A fingerprint of the territory `code` covers on `date`: its own version and the versions of
  // every unit beneath it. Two dates with equal fingerprints cover the same communes.
  // Remembered per (code, date): the hierarchy never changes once built.
  uint64_t TerritoryFingerprint(absl::string_view code, absl::string_view date) const;

  size_t version_count() const { return version_count_; }

 private:
  static std::string ParentKey(const v1::AdminUnit& unit);

  v1::AdminUnit nation_;
  size_t version_count_ = 0;
  // Versions of each code, ordered by valid_from.
  absl::flat_hash_map<std::string, std::vector<v1::AdminUnit>> by_code_;
  // Versions by parent code ("VN" for provinces), ordered by code; point into by_code_.
  absl::flat_hash_map<std::string, std::vector<const v1::AdminUnit*>> by_parent_;
  mutable absl::Mutex fingerprints_mu_;
  mutable absl::flat_hash_map<std::string, uint64_t> fingerprints_
      ABSL_GUARDED_BY(fingerprints_mu_);
};

}  // namespace covtrack::aggregation
