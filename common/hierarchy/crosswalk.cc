#include "common/hierarchy/crosswalk.h"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace covtrack {
namespace {

// The 2025 reform is one link deep and a chain of reforms a few more: anything deeper is a
// fault in the data, answered as ABSENT rather than walked.
constexpr int kMaxDepth = 32;
// Links followed in one walk: several paths may reach one version (a split whose pieces merge
// again), so the work is bounded apart from the depth.
constexpr int kMaxSteps = 100000;
// Composed weights within this of 1 are 1 (0.3 + 0.7 of one predecessor reaching one unit).
constexpr double kWholeTolerance = 1e-9;

// "82 (from 2025-07-01)", or the bare code for a version valid since always.
std::string VersionName(absl::string_view code, absl::string_view valid_from) {
  return valid_from.empty() ? std::string(code) : absl::StrCat(code, " (from ", valid_from, ")");
}

const v1::AdminUnit* VersionWithValidFrom(const Hierarchy& hierarchy, absl::string_view code,
                                          absl::string_view valid_from) {
  for (const v1::AdminUnit& version : hierarchy.VersionsOf(code)) {
    if (version.valid_from() == valid_from) {
      return &version;
    }
  }
  return nullptr;
}

std::string UnknownShare(const v1::CrosswalkLink& link) {
  return absl::StrCat("the share of ", link.from_code(), " in ", link.to_code(), " from ",
                      link.effective_date(), " is unknown");
}

// The backward walk: Figure(U, E, T) of the header, accumulating terms.
class Walk {
 public:
  Walk(const Hierarchy& hierarchy, const Crosswalk& crosswalk, absl::string_view end_date)
      : hierarchy_(hierarchy), crosswalk_(crosswalk), end_(end_date) {}

  // Adds `version` with the weights of the path that reached it: links into it count when they
  // took effect after E and on or before `until` (the territory date), or, for a predecessor,
  // before `until` (the day its successor's link took effect: the predecessor is read as it was
  // the day before). False, with reason() set, when the figure cannot be re-expressed.
  bool Add(const v1::AdminUnit& version, absl::string_view until, bool until_inclusive,
           double population_weight, double labor_force_weight, int depth) {
    if (depth > kMaxDepth || ++steps_ > kMaxSteps) {
      reason_ =
          absl::StrCat("the crosswalk into ", VersionName(version.code(), version.valid_from()),
                       " is deeper than ", kMaxDepth, " links or too branched to follow");
      return false;
    }
    if (!on_path_.insert(&version).second) {
      reason_ = absl::StrCat("the crosswalk runs in a cycle through ",
                             VersionName(version.code(), version.valid_from()));
      return false;
    }
    bool contributed = false;
    if (ValidOn(version, end_)) {
      ReexpressionTerm& term =
          terms_.try_emplace(&version, ReexpressionTerm{&version, 0, 0}).first->second;
      term.population_weight += population_weight;
      term.labor_force_weight += labor_force_weight;
      contributed = true;
    }
    for (const v1::CrosswalkLink* link : crosswalk_.Into(version.code(), version.valid_from())) {
      const absl::string_view effective = link->effective_date();
      if (effective <= end_ || effective > until || (!until_inclusive && effective == until)) {
        continue;  // already inside the unit on E, or joined it after the date it is read on
      }
      if (!link->has_population_share()) {
        reason_ = UnknownShare(*link);
        return false;
      }
      const v1::AdminUnit* from =
          VersionWithValidFrom(hierarchy_, link->from_code(), link->from_valid_from());
      if (from == nullptr) {
        reason_ = absl::StrCat("the crosswalk link from ", link->from_code(), " to ",
                               link->to_code(), " on ", link->effective_date(),
                               " names no known version of ", link->from_code());
        return false;
      }
      const double population_share = link->population_share();
      const double labor_force_share =
          link->has_labor_force_share() ? link->labor_force_share() : population_share;
      linked_ = true;
      contributed = true;
      if (!Add(*from, effective, /*until_inclusive=*/false, population_weight * population_share,
               labor_force_weight * labor_force_share, depth + 1)) {
        return false;
      }
    }
    on_path_.erase(&version);
    if (!contributed) {
      reason_ = absl::StrCat(VersionName(version.code(), version.valid_from()),
                             " did not exist on ", end_, " and no crosswalk link leads to it");
      return false;
    }
    return true;
  }

  Reexpressed Result() const {
    Reexpressed result;
    for (const auto& [unit, term] : terms_) {
      result.terms.push_back(term);
    }
    std::sort(result.terms.begin(), result.terms.end(),
              [](const ReexpressionTerm& a, const ReexpressionTerm& b) {
                return std::tie(a.unit->code(), a.unit->valid_from()) <
                       std::tie(b.unit->code(), b.unit->valid_from());
              });
    if (!linked_) {
      result.kind = v1::REEXPRESSION_KIND_SAME_UNIT;
      return result;
    }
    bool whole = true;
    for (ReexpressionTerm& term : result.terms) {
      for (double* weight : {&term.population_weight, &term.labor_force_weight}) {
        if (std::abs(*weight - 1) <= kWholeTolerance) {
          *weight = 1;
        } else {
          whole = false;
        }
      }
    }
    result.kind = whole ? v1::REEXPRESSION_KIND_EXACT : v1::REEXPRESSION_KIND_ESTIMATED;
    return result;
  }

  const std::string& reason() const { return reason_; }

 private:
  const Hierarchy& hierarchy_;
  const Crosswalk& crosswalk_;
  const std::string end_;
  absl::flat_hash_map<const v1::AdminUnit*, ReexpressionTerm> terms_;
  absl::flat_hash_set<const v1::AdminUnit*> on_path_;
  std::string reason_;
  int steps_ = 0;
  bool linked_ = false;
};

// The other direction: `unit` ended before `end_date`; its figure there is its successor's only
// where it went whole into one successor made of it alone, repeatedly.
absl::StatusOr<Reexpressed> Forward(const Hierarchy& hierarchy, const Crosswalk& crosswalk,
                                    const v1::AdminUnit& unit, absl::string_view end_date) {
  const v1::AdminUnit* current = &unit;
  for (int depth = 0; depth <= kMaxDepth; ++depth) {
    if (ValidOn(*current, end_date)) {
      Reexpressed result;
      result.kind = v1::REEXPRESSION_KIND_EXACT;
      result.terms.push_back(ReexpressionTerm{current, 1, 1});
      return result;
    }
    const std::string name = VersionName(current->code(), current->valid_from());
    const auto& out = crosswalk.OutOf(current->code(), current->valid_from());
    if (out.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(name, " did not exist on ", end_date,
                                                        " and no crosswalk link follows it there"));
    }
    if (out.size() > 1) {
      return absl::FailedPreconditionError(absl::StrCat(name, " was divided among ", out.size(),
                                                        " units on ", out[0]->effective_date(),
                                                        ": its territory has no figure after"));
    }
    const v1::CrosswalkLink& link = *out[0];
    if (!link.has_population_share()) {
      return absl::FailedPreconditionError(UnknownShare(link));
    }
    if (link.population_share() != 1 ||
        (link.has_labor_force_share() && link.labor_force_share() != 1)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "only part of ", name, " went into ", link.to_code(), " on ", link.effective_date()));
    }
    const v1::AdminUnit* next =
        VersionWithValidFrom(hierarchy, link.to_code(), link.to_valid_from());
    if (next == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("the crosswalk link from ", link.from_code(), " to ", link.to_code(), " on ",
                       link.effective_date(), " names no known version of ", link.to_code()));
    }
    if (next->valid_from() != link.effective_date() ||
        crosswalk.Into(next->code(), next->valid_from()).size() != 1) {
      return absl::FailedPreconditionError(
          absl::StrCat(name, " went into ", link.to_code(), " on ", link.effective_date(),
                       " together with other territory: its own figure has no successor"));
    }
    current = next;
  }
  return absl::FailedPreconditionError(absl::StrCat("the crosswalk from ",
                                                    VersionName(unit.code(), unit.valid_from()),
                                                    " is deeper than ", kMaxDepth, " links"));
}

}  // namespace

Crosswalk::Crosswalk(std::vector<v1::CrosswalkLink> links) : links_(std::move(links)) {
  auto add = [](Index& index, const std::string& code, const std::string& valid_from,
                const v1::CrosswalkLink* link) {
    std::vector<VersionLinks>& versions = index[code];
    auto it = std::find_if(versions.begin(), versions.end(),
                           [&](const VersionLinks& v) { return v.valid_from == valid_from; });
    if (it == versions.end()) {
      versions.push_back({valid_from, {}});
      it = versions.end() - 1;
    }
    it->links.push_back(link);
  };
  for (const v1::CrosswalkLink& link : links_) {
    add(into_, link.to_code(), link.to_valid_from(), &link);
    add(out_of_, link.from_code(), link.from_valid_from(), &link);
  }
  auto order = [](const v1::CrosswalkLink* a, const v1::CrosswalkLink* b) {
    return std::tie(a->effective_date(), a->from_code(), a->to_code()) <
           std::tie(b->effective_date(), b->from_code(), b->to_code());
  };
  for (Index* index : {&into_, &out_of_}) {
    for (auto& [code, versions] : *index) {
      for (VersionLinks& version : versions) {
        std::sort(version.links.begin(), version.links.end(), order);
      }
    }
  }
}

const std::vector<const v1::CrosswalkLink*>& Crosswalk::Find(const Index& index,
                                                             absl::string_view code,
                                                             absl::string_view valid_from) {
  static const auto* const kNone = new std::vector<const v1::CrosswalkLink*>();
  auto it = index.find(code);
  if (it == index.end()) {
    return *kNone;
  }
  for (const VersionLinks& version : it->second) {
    if (version.valid_from == valid_from) {
      return version.links;
    }
  }
  return *kNone;
}

const std::vector<const v1::CrosswalkLink*>& Crosswalk::Into(absl::string_view code,
                                                             absl::string_view valid_from) const {
  return Find(into_, code, valid_from);
}

const std::vector<const v1::CrosswalkLink*>& Crosswalk::OutOf(absl::string_view code,
                                                              absl::string_view valid_from) const {
  return Find(out_of_, code, valid_from);
}

absl::StatusOr<Reexpressed> Reexpress(const Hierarchy& hierarchy, const Crosswalk& crosswalk,
                                      const v1::AdminUnit& unit, absl::string_view end_date,
                                      absl::string_view territory_date) {
  if (territory_date < end_date && !ValidOn(unit, end_date)) {
    return Forward(hierarchy, crosswalk, unit, end_date);
  }
  Walk walk(hierarchy, crosswalk, end_date);
  if (!walk.Add(unit, territory_date, /*until_inclusive=*/true, 1, 1, 0)) {
    Reexpressed absent;
    absent.kind = v1::REEXPRESSION_KIND_ABSENT;
    absent.reason = walk.reason();
    return absent;
  }
  return walk.Result();
}

}  // namespace covtrack
