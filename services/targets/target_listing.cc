// ListTargets' and ListLaggingUnits' operations, paged by common/paging (AIP-158): targets in
// key order from the store (the token holds the last key), lagging units computed per request
// and ordered worst first (the token holds an offset).

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/hierarchy/hierarchy.h"
#include "common/paging/paging.h"
#include "common/status/status.h"
#include "services/targets/achievement.h"
#include "services/targets/measure_achievement.h"
#include "services/targets/request_validation.h"
#include "services/targets/target_service.h"
#include "services/targets/upstream.h"

namespace covtrack::targets {
namespace {

// The page of `lagging` (ordered worst first) that starts at `offset`, with the list's totals
// and the token of the next page.
v1::ListLaggingUnitsResponse LaggingPage(std::vector<v1::LaggingUnit> lagging, int with_target,
                                         int64_t reflects_seq, const PageRequest& page,
                                         int64_t offset) {
  v1::ListLaggingUnitsResponse response;
  response.set_total_size(static_cast<int32_t>(lagging.size()));
  response.set_units_with_target(with_target);
  response.set_reflects_seq(reflects_seq);
  const size_t begin = std::min(lagging.size(), static_cast<size_t>(offset));
  const size_t end = std::min(lagging.size(), begin + static_cast<size_t>(page.size()));
  for (size_t i = begin; i < end; ++i) {
    *response.add_units() = std::move(lagging[i]);
  }
  if (end < lagging.size()) {
    response.set_next_page_token(page.TokenAtOffset(static_cast<int64_t>(end)));
  }
  return response;
}

// A target's place in the store's order (TargetKey).
constexpr size_t kKeyParts = 7;
std::vector<std::string> KeyOf(const v1::Target& t) {
  return {t.unit_code(),
          absl::StrCat(t.year()),
          absl::StrCat(static_cast<int>(t.measure())),
          absl::StrCat(static_cast<int>(t.scheme())),
          absl::StrCat(static_cast<int>(t.payer_group())),
          t.unit_as_of(),
          absl::StrCat(t.revision())};
}

absl::StatusOr<TargetKey> ParseKey(const std::vector<std::string>& key) {
  TargetKey k;
  if (key.size() != kKeyParts || !absl::SimpleAtoi(key[1], &k.year) ||
      !absl::SimpleAtoi(key[2], &k.measure) || !absl::SimpleAtoi(key[3], &k.scheme) ||
      !absl::SimpleAtoi(key[4], &k.payer_group) || !absl::SimpleAtoi(key[6], &k.revision)) {
    return MalformedPageTokenError();
  }
  k.unit_code = key[0];
  k.unit_as_of = key[5];
  return k;
}

}  // namespace

absl::StatusOr<v1::ListTargetsResponse> TargetServiceImpl::TargetsPage(
    const v1::ListTargetsRequest& request) {
  ASSIGN_OR_RETURN(const PageRequest page, PageRequest::Read(request, kTargetsPage));
  TargetQuery query;
  query.unit_code = request.unit_code();
  query.year = request.year();
  query.scheme = request.scheme();
  // Every measure's targets are listed (participants first within a unit and year).
  query.measure = std::nullopt;
  query.include_revisions = request.include_revisions();
  ASSIGN_OR_RETURN(const std::optional<std::vector<std::string>> after, page.AfterKey(kKeyParts));
  if (after.has_value()) {
    ASSIGN_OR_RETURN(query.after, ParseKey(*after));
  }

  std::vector<v1::Target> targets;
  if (request.parent_code().empty()) {
    // One more than a page tells whether there is a next page.
    query.limit = page.size() + 1;
    ASSIGN_OR_RETURN(targets, store_->List(query));
  } else {
    // The units under the parent come from the aggregation service's hierarchy for the year.
    // ListTargetsRequest asks no freshness: the units come as the replica has them.
    ASSIGN_OR_RETURN(
        const CoverageList children,
        source_->ListCoverage(
            request.parent_code(), v1::ADMIN_LEVEL_UNSPECIFIED, absl::StrCat(request.year()),
            request.scheme() == v1::SCHEME_UNSPECIFIED ? v1::SCHEME_HEALTH : request.scheme(),
            YearEnd(request.year()), v1::Freshness()));
    std::set<std::string> codes;
    for (const v1::Coverage& c : children.coverages) {
      codes.insert(c.unit().code());
    }
    ASSIGN_OR_RETURN(std::vector<v1::Target> listed, store_->List(query));
    for (v1::Target& t : listed) {
      if (codes.count(t.unit_code()) > 0 && static_cast<int>(targets.size()) <= page.size()) {
        targets.push_back(std::move(t));
      }
    }
  }
  v1::ListTargetsResponse response;
  if (static_cast<int>(targets.size()) > page.size()) {
    targets.resize(page.size());
    response.set_next_page_token(page.TokenAfterKey(KeyOf(targets.back())));
  }
  for (v1::Target& t : targets) {
    *response.add_targets() = std::move(t);
  }
  return response;
}

absl::StatusOr<v1::ListLaggingUnitsResponse> TargetServiceImpl::MeasureLaggingPage(
    const v1::ListLaggingUnitsRequest& request, const Period& period,
    const std::string& territory_date, const PageRequest& page, int64_t offset) {
  // The units under the parent come with any scheme's list; only the units are used.
  CoverageReads figures(source_.get(), request.freshness());
  ASSIGN_OR_RETURN(const std::vector<v1::Coverage> units,
                   figures.ListCoverage(request.parent_code(), request.level(), period.ToString(),
                                        v1::SCHEME_HEALTH, territory_date));
  // One query for every unit's targets on the measure.
  TargetQuery query;
  query.year = period.year();
  query.measure = request.measure();
  ASSIGN_OR_RETURN(const std::vector<v1::Target> stored, store_->List(query));
  std::map<std::string, v1::Target> target_of;
  for (const v1::Target& t : stored) {
    if (t.scheme() == request.scheme() && t.payer_group() == request.payer_group() &&
        t.unit_as_of().empty()) {
      target_of[t.unit_code()] = t;
    }
  }
  ReformReads reads(units_.get(), store_.get());
  std::vector<v1::LaggingUnit> lagging;
  int with_target = 0;
  for (const v1::Coverage& unit : units) {
    RETURN_IF_ERROR(Upstream::StopIfCallEnded("while evaluating the units"));
    UnitTarget target;
    if (auto it = target_of.find(unit.unit().code()); it != target_of.end()) {
      target.target = it->second;
    } else {
      // None of its own: the one re-expressed from its predecessors' on the same key, as
      // GetAchievement reads it (a unit created by a reform).
      ASSIGN_OR_RETURN(std::vector<UnitTarget> targets,
                       MeasureTargetsFor(reads, figures, unit.unit(), period.year()));
      for (UnitTarget& t : targets) {
        if (t.target->measure() == request.measure() && t.target->scheme() == request.scheme() &&
            t.target->payer_group() == request.payer_group()) {
          target = std::move(t);
          break;
        }
      }
      if (!target.target.has_value()) {
        continue;
      }
    }
    ++with_target;
    ASSIGN_OR_RETURN(
        std::vector<v1::MeasureAchievement> evaluated,
        EvaluateMeasures(figures, unit.unit().code(), period, {*target.target}, territory_date));
    if (evaluated.size() != 1 || LaggingRank(evaluated[0].status()) > 2) {
      continue;
    }
    SetTargetSource(target, evaluated[0]);
    v1::LaggingUnit entry;
    *entry.mutable_unit() = unit.unit();
    entry.set_as_of_month(evaluated[0].as_of_month());
    *entry.mutable_measure_achievement() = std::move(evaluated[0]);
    lagging.push_back(std::move(entry));
  }
  auto key = [](const v1::LaggingUnit& u) {
    return std::make_tuple(LaggingRank(u.measure_achievement().status()),
                           MeasureLaggingKey(u.measure_achievement()), u.unit().code());
  };
  std::sort(lagging.begin(), lagging.end(),
            [&](const v1::LaggingUnit& a, const v1::LaggingUnit& b) { return key(a) < key(b); });
  return LaggingPage(std::move(lagging), with_target, figures.reflects_seq(), page, offset);
}

absl::StatusOr<v1::ListLaggingUnitsResponse> TargetServiceImpl::LaggingUnitsPage(
    const v1::ListLaggingUnitsRequest& request) {
  ASSIGN_OR_RETURN(const Period period, ResolvePeriod(request.period()));
  // The token is bound to the period it was made for even when the request leaves the period to
  // the clock: a list paged across New Year's Eve does not mix two years.
  // Freshness is no filter: a client asks the pages after the first at least as fresh as the
  // first (its reflects_seq), with the first page's token.
  v1::ListLaggingUnitsRequest filters = request;
  filters.clear_freshness();
  ASSIGN_OR_RETURN(const PageRequest page,
                   PageRequest::Read(filters, kLaggingUnitsPage, period.ToString()));
  ASSIGN_OR_RETURN(const int64_t offset, page.Offset());

  // The parent and its units on the territory date (default the period's end); each unit's
  // target is its own or re-expressed from its predecessors'.
  const std::string territory_date =
      request.territory_date().empty() ? period.last_month().LastDay() : request.territory_date();
  if (request.measure() != v1::MEASURE_UNSPECIFIED &&
      request.measure() != v1::MEASURE_PARTICIPANTS) {
    return MeasureLaggingPage(request, period, territory_date, page, offset);
  }
  ASSIGN_OR_RETURN(auto target_of, TargetsByUnit(request.scheme(), period.year()));
  CoverageReads figures(source_.get(), request.freshness());
  ASSIGN_OR_RETURN(const std::vector<v1::Coverage> units,
                   figures.ListCoverage(request.parent_code(), request.level(), period.ToString(),
                                        request.scheme(), territory_date));
  ReformReads reads(units_.get(), store_.get());
  for (auto& [code, targets] : target_of) {
    reads.SetStored(code, period.year(), std::move(targets));
  }
  std::vector<v1::LaggingUnit> lagging;
  int with_target = 0;
  for (const v1::Coverage& unit : units) {
    // Each unit may call ingestion and aggregation: none for a caller who has gone.
    RETURN_IF_ERROR(Upstream::StopIfCallEnded("while evaluating the units"));
    if (!target_of.count(unit.unit().code())) {
      // No target stored under the code: the store need not be asked again for it.
      reads.SetStored(unit.unit().code(), period.year(), {});
    }
    ASSIGN_OR_RETURN(const UnitTarget target, TargetFor(reads, figures, unit.unit(), territory_date,
                                                        request.scheme(), period.year()));
    if (!target.target.has_value()) {
      continue;
    }
    ++with_target;
    const v1::SchemeCoverage* current = FindScheme(unit, request.scheme());
    v1::SchemeCoverage empty;
    empty.set_scheme(request.scheme());
    ASSIGN_OR_RETURN(v1::SchemeAchievement evaluated,
                     Evaluate(figures, unit.unit().code(), request.scheme(),
                              current != nullptr ? *current : empty, unit.as_of_month(), target,
                              territory_date));
    if (LaggingRank(evaluated.status()) > 2) {
      continue;
    }
    v1::LaggingUnit entry;
    *entry.mutable_unit() = unit.unit();
    entry.set_as_of_month(unit.as_of_month());
    *entry.mutable_achievement() = std::move(evaluated);
    lagging.push_back(std::move(entry));
  }
  std::sort(lagging.begin(), lagging.end(), [](const v1::LaggingUnit& a, const v1::LaggingUnit& b) {
    return std::make_tuple(LaggingRank(a.achievement().status()),
                           a.achievement().achievement_percent(), a.unit().code()) <
           std::make_tuple(LaggingRank(b.achievement().status()),
                           b.achievement().achievement_percent(), b.unit().code());
  });
  return LaggingPage(std::move(lagging), with_target, figures.reflects_seq(), page, offset);
}

}  // namespace covtrack::targets
