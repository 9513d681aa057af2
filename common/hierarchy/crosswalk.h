#pragma once

// The crosswalk between unit versions across boundary changes (common.proto, CrosswalkLink), in
// memory, and the one rule that reads it: re-expressing a unit's figures for an earlier (or,
// narrowly, a later) period in the unit's own territory.
//
// A unit version is (code, valid_from). A link says that the version of from_code ending on
// effective_date passed a share of itself to the version of to_code valid on effective_date
// (a new unit, or one that keeps its version and absorbs a piece). For a unit version U valid
// on the territory date T and a period ending on day E:
//
//   Figure(U, E, T) = [U valid on E ? U's own figure : nothing]
//                     + Σ over links l into U with E < l.effective_date <= T of
//                       share_l × Figure(l.from version, E, the day before l.effective_date)
//
// The result is a list of terms (unit versions valid on E, each with the composed population
// and labour-force weight: the product of the shares along a path, summed over paths) and its
// kind: SAME_UNIT (U valid on E, no link contributes), EXACT (every weight 1), ESTIMATED (some
// weight below 1) or ABSENT (a share on the way unknown, or a version on the way existed
// neither on E nor through any link: figures then absent, never a guess). The labour-force
// share defaults to the population share.
//
// The other direction (T before E and U ended before E) follows U forward only where it went
// whole into one successor whose only predecessor is U, repeatedly; else FAILED_PRECONDITION.
//
// Pure data and pure functions: no I/O. The walk is bounded whatever the links say.

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/hierarchy/hierarchy.h"
#include "covtrack/v1/aggregation_service.pb.h"
#include "covtrack/v1/common.pb.h"

namespace covtrack {

// Every crosswalk link, indexed by the version it leads into and the version it leads out of.
class Crosswalk {
 public:
  // `links` as ListCrosswalk answers them (from_valid_from and to_valid_from filled in).
  explicit Crosswalk(std::vector<v1::CrosswalkLink> links);
  Crosswalk(const Crosswalk&) = delete;
  Crosswalk& operator=(const Crosswalk&) = delete;

  // Links into / out of the version of `code` with `valid_from` ("" for since always),
  // ordered by effective_date, then the other code. Empty when none.
  const std::vector<const v1::CrosswalkLink*>& Into(absl::string_view code,
                                                    absl::string_view valid_from) const;
  const std::vector<const v1::CrosswalkLink*>& OutOf(absl::string_view code,
                                                     absl::string_view valid_from) const;

  size_t size() const { return links_.size(); }

 private:
  // The links of one version of a code.
  struct VersionLinks {
    std::string valid_from;
    std::vector<const v1::CrosswalkLink*> links;  // point into links_
  };
  // code -> its versions' links (a code has a few versions: looked up by string_view without
  // building a key, as every read re-expresses dozens of units).
  using Index = absl::flat_hash_map<std::string, std::vector<VersionLinks>>;
  static const std::vector<const v1::CrosswalkLink*>& Find(const Index& index,
                                                           absl::string_view code,
                                                           absl::string_view valid_from);

  std::vector<v1::CrosswalkLink> links_;
  Index into_;
  Index out_of_;
};

// One unit version whose own figure (for the period ending on E) goes into a re-expressed one.
struct ReexpressionTerm {
  const v1::AdminUnit* unit = nullptr;  // valid on E; points into the Hierarchy
  double population_weight = 1;
  double labor_force_weight = 1;
};

struct Reexpressed {
  v1::ReexpressionKind kind = v1::REEXPRESSION_KIND_UNSPECIFIED;
  // Ordered by code (then valid_from); empty when ABSENT.
  std::vector<ReexpressionTerm> terms;
  std::string reason;  // ABSENT only
};

// Re-expresses `unit` (a version in `hierarchy`, valid on `territory_date`) at the period ending
// on `end_date` (both "YYYY-MM-DD"). FAILED_PRECONDITION, saying why, when `territory_date` is
// before `end_date`, `unit` ended before `end_date` and it cannot be followed forward.
absl::StatusOr<Reexpressed> Reexpress(const Hierarchy& hierarchy, const Crosswalk& crosswalk,
                                      const v1::AdminUnit& unit, absl::string_view end_date,
                                      absl::string_view territory_date);

}  // namespace covtrack
