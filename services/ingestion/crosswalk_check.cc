#include "services/ingestion/crosswalk_check.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/hierarchy/hierarchy.h"
#include "common/status/status.h"
#include "services/ingestion/request_validation.h"

namespace covtrack::ingestion {
namespace {

// How many link indexes or cycle steps an error lists before "…".
constexpr size_t kMaxListed = 8;

std::string Bound(const std::string& date) { return date.empty() ? "…" : date; }

// A code as an error quotes it (codes passed ValidateImportCrosswalk: at most 16 characters).
std::string Quoted(const std::string& code) { return absl::StrCat("\"", code, "\""); }

// "[2020-01-01, 2025-07-01), [2025-07-01, …)", at most kMaxListed of them.
std::string DescribeVersions(const std::vector<v1::AdminUnit>& versions) {
  std::vector<std::string> parts;
  for (const v1::AdminUnit& v : versions) {
    if (parts.size() == kMaxListed) {
      parts.push_back("…");
      break;
    }
    parts.push_back(absl::StrCat("[", Bound(v.valid_from()), ", ", Bound(v.valid_to()), ")"));
  }
  return absl::StrJoin(parts, ", ");
}

// A unit version as cycles are written: "82@2025-07-01" (its code and valid_from).
std::string Node(const std::string& code, const std::string& valid_from) {
  return absl::StrCat(code, "@", Bound(valid_from));
}

// Finds the two versions `link` joins and sets its from_valid_from / to_valid_from, or adds
// why it cannot to `problems`.
void Resolve(v1::CrosswalkLink& link, int i, const VersionsByCode& versions,
             ProblemList& problems) {
  static const std::vector<v1::AdminUnit> kNone;
  const std::string& date = link.effective_date();
  auto versions_of = [&](const std::string& code) -> const std::vector<v1::AdminUnit>& {
    auto it = versions.find(code);
    return it == versions.end() ? kNone : it->second;
  };
  // The predecessor: the version of from_code that ends on the effective date.
  const std::vector<v1::AdminUnit>& from = versions_of(link.from_code());
  const auto ends_then = std::find_if(from.begin(), from.end(),
                                      [&](const v1::AdminUnit& v) { return v.valid_to() == date; });
  if (from.empty()) {
    problems.Add(
        "links", i, "from_code",
        absl::StrCat("unknown unit version: no unit ever held ", Quoted(link.from_code())));
  } else if (ends_then == from.end()) {
    if (const v1::AdminUnit* still = VersionOn(from, date); still != nullptr) {
      problems.Add("links", i, "effective_date",
                   absl::StrCat(Quoted(link.from_code()), " -> ", Quoted(link.to_code()),
                                " does not meet at effective_date ", date, ": the predecessor's ",
                                "version [", Bound(still->valid_from()), ", ",
                                Bound(still->valid_to()), ") is still valid then"));
    } else {
      problems.Add("links", i, "from_code",
                   absl::StrCat("unknown unit version: no version of ", Quoted(link.from_code()),
                                " ends on ", date, " (valid ", DescribeVersions(from), ")"));
    }
  } else if (ends_then->valid_from() >= date && !ends_then->valid_from().empty()) {
    // Unreachable for units ingestion accepted (valid_from < valid_to), kept so that the rule
    // does not rest on another check.
    problems.Add("links", i, "effective_date",
                 absl::StrCat("a link into the past: ", date, " is not after ",
                              Quoted(link.from_code()), "'s valid_from ", ends_then->valid_from()));
  } else {
    link.set_from_valid_from(ends_then->valid_from());
  }

  // The successor: the version of to_code valid on the effective date.
  const std::vector<v1::AdminUnit>& to = versions_of(link.to_code());
  if (to.empty()) {
    problems.Add("links", i, "to_code",
                 absl::StrCat("unknown unit version: no unit ever held ", Quoted(link.to_code())));
    return;
  }
  if (const v1::AdminUnit* then = VersionOn(to, date); then != nullptr) {
    link.set_to_valid_from(then->valid_from());
    return;
  }
  const auto later = std::find_if(to.begin(), to.end(),
                                  [&](const v1::AdminUnit& v) { return v.valid_from() > date; });
  if (later != to.end()) {
    problems.Add("links", i, "effective_date",
                 absl::StrCat(Quoted(link.from_code()), " -> ", Quoted(link.to_code()),
                              " does not meet at effective_date ", date,
                              ": the successor's version starts later, on ", later->valid_from()));
  } else {
    problems.Add("links", i, "to_code",
                 absl::StrCat("a link into the past: successor ", Quoted(link.to_code()),
                              " ended on or before effective_date ", date, " (valid ",
                              DescribeVersions(to), ")"));
  }
}

// A link of the crosswalk after the import, with its index in the request (-1: stored).
struct FinalLink {
  const v1::CrosswalkLink* link;
  int index;
};

// "links[2], links[5] and 3 stored", at most kMaxListed indexes.
std::string DescribeGroup(const std::vector<FinalLink>& group) {
  std::vector<std::string> parts;
  int stored = 0;
  int unlisted = 0;
  for (const FinalLink& l : group) {
    if (l.index < 0) {
      ++stored;
    } else if (parts.size() < kMaxListed) {
      parts.push_back(absl::StrCat("links[", l.index, "]"));
    } else {
      ++unlisted;
    }
  }
  if (unlisted > 0) {
    parts.push_back(absl::StrCat(unlisted, " more"));
  }
  if (stored > 0) {
    parts.push_back(absl::StrCat(stored, " stored"));
  }
  return absl::StrJoin(parts, ", ");
}

// The shares of one predecessor version (its links after the import): the known ones add up to
// at most 1, and to 1 once all are known; for the population share, and for the labour-force
// share (which defaults to the population share).
void CheckShares(const std::vector<FinalLink>& group, ProblemList& problems) {
  int first_new = -1;
  for (const FinalLink& l : group) {
    if (l.index >= 0 && (first_new < 0 || l.index < first_new)) {
      first_new = l.index;
    }
  }
  const v1::CrosswalkLink& any = *group.front().link;
  const bool labor_given = std::any_of(group.begin(), group.end(), [](const FinalLink& l) {
    return l.link->has_labor_force_share();
  });
  for (const bool labor : {false, true}) {
    if (labor && !labor_given) {
      continue;  // the labour-force shares are the population shares, checked already
    }
    double sum = 0;
    bool all_known = true;
    for (const FinalLink& l : group) {
      if (!l.link->has_population_share()) {
        all_known = false;
        continue;
      }
      sum += labor && l.link->has_labor_force_share() ? l.link->labor_force_share()
                                                      : l.link->population_share();
    }
    const char* field = labor ? "labor_force_share" : "population_share";
    const std::string whose = absl::StrCat(
        " (", field, ") of ", Node(any.from_code(), any.from_valid_from()), " (", group.size(),
        group.size() == 1 ? " link: " : " links: ", DescribeGroup(group), ")");
    if (sum > 1 + kShareTolerance) {
      problems.Add("links", first_new, field,
                   absl::StrCat("the known shares", whose, " add up to ",
                                absl::StrFormat("%.12g", sum), ", more than 1"));
    } else if (all_known && sum < 1 - kShareTolerance) {
      problems.Add("links", first_new, field,
                   absl::StrCat("the shares", whose, " are all known and add up to ",
                                absl::StrFormat("%.12g", sum), ", not 1"));
    }
  }
}

// Looks for a cycle among `links` (as a graph over unit versions) reachable from the new ones,
// by an iterative depth-first search, and reports the first one found, naming the new link on
// it with the lowest index.
void CheckAcyclic(const std::vector<FinalLink>& links, ProblemList& problems) {
  absl::flat_hash_map<std::string, int> ids;
  std::vector<std::string> names;
  auto id = [&](const std::string& code, const std::string& valid_from) {
    auto [it, inserted] = ids.emplace(Node(code, valid_from), static_cast<int>(names.size()));
    if (inserted) {
      names.push_back(it->first);
    }
    return it->second;
  };
  struct Edge {
    int to;
    int index;  // of the link in the request; -1: stored
  };
  std::vector<std::vector<Edge>> out;
  std::vector<int> starts;
  for (const FinalLink& l : links) {
    const int from = id(l.link->from_code(), l.link->from_valid_from());
    const int to = id(l.link->to_code(), l.link->to_valid_from());
    out.resize(names.size());
    out[from].push_back({to, l.index});
    if (l.index >= 0) {
      starts.push_back(from);
    }
  }
  enum Color : char { kWhite, kOnPath, kDone };
  std::vector<Color> color(names.size(), kWhite);
  struct Frame {
    int node;
    size_t next_edge;
    int via;  // the request index of the edge that led here; -1 for stored or the start
  };
  for (const int start : starts) {
    if (color[start] != kWhite) {
      continue;
    }
    std::vector<Frame> path = {{start, 0, -1}};
    color[start] = kOnPath;
    while (!path.empty()) {
      Frame& top = path.back();
      if (top.next_edge == out[top.node].size()) {
        color[top.node] = kDone;
        path.pop_back();
        continue;
      }
      const Edge edge = out[top.node][top.next_edge++];
      if (color[edge.to] == kDone) {
        continue;
      }
      // The new link with the lowest index among the edge and those on the path from `from`.
      auto first_new = [&](size_t from) {
        int named = edge.index;
        for (size_t k = from + 1; k < path.size(); ++k) {
          if (path[k].via >= 0 && (named < 0 || path[k].via < named)) {
            named = path[k].via;
          }
        }
        return named;
      };
      if (color[edge.to] == kOnPath) {
        // The cycle: from edge.to along the path back to it.
        size_t from = 0;
        while (path[from].node != edge.to) {
          ++from;
        }
        std::vector<std::string> steps;
        for (size_t k = from; k < path.size(); ++k) {
          if (steps.size() < kMaxListed) {
            steps.push_back(names[path[k].node]);
          } else if (steps.size() == kMaxListed) {
            steps.push_back("…");
          }
        }
        steps.push_back(names[edge.to]);
        problems.Add("links", first_new(from), "to_code",
                     absl::StrCat("forms a cycle ", absl::StrJoin(steps, " -> ")));
        return;
      }
      // The path holds path.size() - 1 links; this edge would make it path.size().
      if (path.size() > static_cast<size_t>(kMaxChainLength)) {
        problems.Add("links", edge.index >= 0 ? edge.index : first_new(0), "to_code",
                     absl::StrCat("continues a chain of more than ", kMaxChainLength,
                                  " links from ", names[path.front().node]));
        return;
      }
      color[edge.to] = kOnPath;
      path.push_back({edge.to, 0, edge.index});
    }
  }
}

}  // namespace

absl::StatusOr<std::vector<v1::CrosswalkLink>> CheckCrosswalk(
    const v1::ImportCrosswalkRequest& request, const VersionsByCode& versions,
    const std::vector<v1::CrosswalkLink>& stored) {
  ProblemList problems;
  std::vector<v1::CrosswalkLink> resolved(request.links().begin(), request.links().end());
  for (int i = 0; i < request.links_size(); ++i) {
    Resolve(resolved[i], i, versions, problems);
  }
  RETURN_IF_ERROR(problems.ToStatus());

  // The crosswalk after the import: the stored links, each new one replacing the stored link
  // with its identity.
  using Identity = std::tuple<std::string, std::string, std::string>;
  std::map<Identity, FinalLink> after;
  for (const v1::CrosswalkLink& l : stored) {
    after[{l.from_code(), l.to_code(), l.effective_date()}] = {&l, -1};
  }
  for (int i = 0; i < request.links_size(); ++i) {
    const v1::CrosswalkLink& l = resolved[i];
    after[{l.from_code(), l.to_code(), l.effective_date()}] = {&l, i};
  }
  // Shares, by predecessor version, for those the request touches.
  std::map<std::pair<std::string, std::string>, std::vector<FinalLink>> by_predecessor;
  for (const auto& [identity, l] : after) {
    by_predecessor[{l.link->from_code(), l.link->from_valid_from()}].push_back(l);
  }
  for (const auto& [predecessor, group] : by_predecessor) {
    if (std::any_of(group.begin(), group.end(), [](const FinalLink& l) { return l.index >= 0; })) {
      CheckShares(group, problems);
    }
  }
  std::vector<FinalLink> links;
  links.reserve(after.size());
  for (const auto& [identity, l] : after) {
    links.push_back(l);
  }
  CheckAcyclic(links, problems);
  RETURN_IF_ERROR(problems.ToStatus());
  return resolved;
}

}  // namespace covtrack::ingestion
