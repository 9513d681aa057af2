// Which unit a target is for, and the target of a unit that has none of its own: Target.
// unit_as_of normalised against the hierarchy, a unit's own target picked among those stored
// under its code, and a target re-expressed from the predecessors' through the crosswalk
// (reexpression.h has the arithmetic; target_service.proto, SchemeAchievement.
// target_reexpressed, the rule).

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/domain.h"
#include "common/hierarchy/hierarchy.h"
#include "common/measures.h"
#include "common/status/status.h"
#include "common/text.h"
#include "services/targets/reexpression.h"
#include "services/targets/target_service.h"
#include "services/targets/upstream.h"

namespace covtrack::targets {
namespace {

// How many crosswalk steps back a target is looked for: a unit created during the year from
// units that were themselves created during the year, and so on. Reforms are years apart;
// four steps is far more than a year holds, and a malformed crosswalk cannot loop.
constexpr int kMaxChain = 4;

bool SameVersion(const v1::AdminUnit& a, const v1::AdminUnit& b) {
  return a.code() == b.code() && a.valid_from() == b.valid_from();
}

std::string YearStart(int year) { return absl::StrCat(year, "-01-01"); }

bool OnMeasure(const TargetOn& key) { return key.measure != v1::MEASURE_UNSPECIFIED; }

// The share of a link that re-expresses the key's figures (and so its targets).
std::optional<double> ShareOf(const v1::CrosswalkLink& link, const TargetOn& key) {
  return ShareFor(link, OnMeasure(key) ? ReexpressionShare(*FindMeasure(key.measure), key.scheme)
                                       : DenominatorFor(key.scheme));
}

// "health insurance" for participants; "arrears_ratio" or "health_by_payer health insurance
// household" for a measure.
std::string KeyName(const TargetOn& key) {
  if (!OnMeasure(key)) {
    return SchemeName(key.scheme);
  }
  return absl::StrCat(
      MeasureName(key.measure),
      key.scheme == v1::SCHEME_UNSPECIFIED ? "" : absl::StrCat(" ", SchemeName(key.scheme)),
      key.group == v1::PAYER_GROUP_UNSPECIFIED ? "" : absl::StrCat(" ", PayerGroupName(key.group)));
}

bool Matches(const v1::Target& t, const TargetOn& key) {
  return t.scheme() == key.scheme &&
         (!OnMeasure(key) || (t.measure() == key.measure && t.payer_group() == key.group));
}

// The links into the version `unit` of its code: the ones taking effect while it is valid.
bool LeadsInto(const v1::CrosswalkLink& link, const v1::AdminUnit& unit) {
  return ValidOn(unit, link.effective_date()) &&
         (link.to_valid_from().empty() || link.to_valid_from() == unit.valid_from());
}

}  // namespace

absl::StatusOr<const std::vector<v1::AdminUnit>*> ReformReads::Versions(const std::string& code) {
  auto it = versions_.find(code);
  if (it == versions_.end()) {
    ASSIGN_OR_RETURN(std::vector<v1::AdminUnit> versions, units_->Versions(code));
    it = versions_.emplace(code, std::move(versions)).first;
  }
  return &it->second;
}

absl::StatusOr<const std::vector<v1::CrosswalkLink>*> ReformReads::LinksInto(
    const std::string& code) {
  // Once ingestion could not be reached, a request does not wait on it again for every unit.
  RETURN_IF_ERROR(links_unavailable_);
  auto it = links_.find(code);
  if (it == links_.end()) {
    absl::StatusOr<std::vector<v1::CrosswalkLink>> links = units_->LinksInto(code);
    if (absl::IsUnavailable(links.status())) {
      links_unavailable_ = links.status();
    }
    RETURN_IF_ERROR(links.status());
    it = links_.emplace(code, std::move(*links)).first;
  }
  return &it->second;
}

absl::StatusOr<const std::vector<v1::Target>*> ReformReads::Stored(const std::string& code,
                                                                   int year) {
  auto key = std::make_pair(code, year);
  auto it = stored_.find(key);
  if (it == stored_.end()) {
    ASSIGN_OR_RETURN(std::vector<v1::Target> targets, store_->CurrentTargets(code, year));
    it = stored_.emplace(key, std::move(targets)).first;
  }
  return &it->second;
}

absl::StatusOr<const std::vector<v1::Target>*> ReformReads::StoredOnMeasures(
    const std::string& code, int year) {
  auto key = std::make_pair(code, year);
  auto it = stored_on_measures_.find(key);
  if (it == stored_on_measures_.end()) {
    ASSIGN_OR_RETURN(std::vector<v1::Target> all, store_->CurrentTargets(code, year, std::nullopt));
    std::vector<v1::Target> targets;
    for (v1::Target& t : all) {
      if (t.measure() != v1::MEASURE_UNSPECIFIED && FindMeasure(t.measure()) != nullptr) {
        targets.push_back(std::move(t));
      }
    }
    it = stored_on_measures_.emplace(key, std::move(targets)).first;
  }
  return &it->second;
}

void ReformReads::SetStored(const std::string& code, int year, std::vector<v1::Target> targets) {
  stored_[std::make_pair(code, year)] = std::move(targets);
}

absl::StatusOr<bool> TargetServiceImpl::IsYearHolder(ReformReads& reads, const v1::AdminUnit& unit,
                                                     int year) {
  // The common case needs no read: a unit valid on 31 December holds its code's yearly figures.
  if (unit.code() == kNationCode || ValidOn(unit, YearEnd(year))) {
    return true;
  }
  ASSIGN_OR_RETURN(const std::vector<v1::AdminUnit>* versions, reads.Versions(unit.code()));
  const v1::AdminUnit* holder = YearlyFigureHolder(*versions, year);
  return holder != nullptr && SameVersion(*holder, unit);
}

absl::Status TargetServiceImpl::RequireUnitInYear(ReformReads& reads, const std::string& code,
                                                  int year, absl::string_view field) {
  if (code == kNationCode) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(const std::vector<v1::AdminUnit>* versions, reads.Versions(code));
  if (YearlyFigureHolder(*versions, year) != nullptr) {
    return absl::OkStatus();
  }
  // Say when the code did name a unit, so that a target for an abolished unit reads as such.
  std::string when;
  for (const v1::AdminUnit& v : *versions) {
    absl::StrAppend(
        &when, when.empty() ? " (the code named units valid " : ", ",
        v.valid_from().empty() ? "from the start" : absl::StrCat("from ", v.valid_from()),
        v.valid_to().empty() ? "" : absl::StrCat(" until ", v.valid_to()));
    if (when.size() > 200) {
      absl::StrAppend(&when, ", …");
      break;
    }
  }
  return absl::NotFoundError(absl::StrCat(field, ": no unit ", code, " exists in ", year,
                                          when.empty() ? "" : absl::StrCat(when, ")")));
}

absl::StatusOr<std::string> TargetServiceImpl::NormalizeUnitAsOf(ReformReads& reads,
                                                                 const std::string& code,
                                                                 const std::string& unit_as_of,
                                                                 int year) {
  if (unit_as_of.empty()) {
    return std::string();
  }
  ASSIGN_OR_RETURN(const std::vector<v1::AdminUnit>* versions, reads.Versions(code));
  const v1::AdminUnit* named = VersionOn(*versions, unit_as_of);
  if (named == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("target.unit_as_of: no unit holds the code ",
                                                   code, " on ", unit_as_of, " (target ", code, "/",
                                                   year, ")"));
  }
  const v1::AdminUnit* holder = YearlyFigureHolder(*versions, year);
  if (holder != nullptr && SameVersion(*holder, *named)) {
    return std::string();  // the year's holder: the target every reader finds under ""
  }
  return unit_as_of;
}

absl::StatusOr<std::optional<v1::Target>> TargetServiceImpl::OwnTarget(ReformReads& reads,
                                                                       const v1::AdminUnit& unit,
                                                                       const TargetOn& key,
                                                                       int year) {
  ASSIGN_OR_RETURN(
      const std::vector<v1::Target>* stored,
      OnMeasure(key) ? reads.StoredOnMeasures(unit.code(), year) : reads.Stored(unit.code(), year));
  std::optional<v1::Target> found;
  std::optional<bool> holder;
  for (const v1::Target& t : *stored) {
    if (!Matches(t, key)) {
      continue;
    }
    bool names_unit = false;
    if (t.unit_as_of().empty()) {
      if (!holder.has_value()) {
        ASSIGN_OR_RETURN(holder, IsYearHolder(reads, unit, year));
      }
      names_unit = *holder;
    } else {
      ASSIGN_OR_RETURN(const std::vector<v1::AdminUnit>* versions, reads.Versions(unit.code()));
      const v1::AdminUnit* named = VersionOn(*versions, t.unit_as_of());
      names_unit = named != nullptr && SameVersion(*named, unit);
    }
    // Two dates naming the same unit are two stored targets of it: the one set last counts.
    if (names_unit &&
        (!found.has_value() || found->update_time().seconds() < t.update_time().seconds() ||
         (found->update_time().seconds() == t.update_time().seconds() &&
          found->update_time().nanos() < t.update_time().nanos()))) {
      found = t;
    }
  }
  return found;
}

absl::StatusOr<bool> TargetServiceImpl::CollectPredecessorTargets(
    ReformReads& reads, const v1::AdminUnit& unit, double share, const TargetOn& key, int year,
    int depth, std::vector<PredecessorTarget>& out, std::string& note) {
  ASSIGN_OR_RETURN(const std::vector<v1::CrosswalkLink>* links, reads.LinksInto(unit.code()));
  bool any = false;
  for (const v1::CrosswalkLink& link : *links) {
    if (!LeadsInto(link, unit)) {
      continue;
    }
    any = true;
    const std::optional<double> link_share = ShareOf(link, key);
    if (!link_share.has_value()) {
      note = absl::StrCat("the share of ", link.from_code(), " in ", link.to_code(), " from ",
                          link.effective_date(), " is unknown");
      return true;
    }
    ASSIGN_OR_RETURN(const std::vector<v1::AdminUnit>* versions, reads.Versions(link.from_code()));
    const v1::AdminUnit* predecessor = nullptr;
    for (const v1::AdminUnit& v : *versions) {
      if (v.valid_to() == link.effective_date() &&
          (link.from_valid_from().empty() || link.from_valid_from() == v.valid_from())) {
        predecessor = &v;
      }
    }
    if (predecessor == nullptr) {
      note = absl::StrCat("no unit ", link.from_code(), " ends on ", link.effective_date(),
                          " as the crosswalk says");
      return true;
    }
    const double composed = share * *link_share;
    ASSIGN_OR_RETURN(const std::optional<v1::Target> own,
                     OwnTarget(reads, *predecessor, key, year));
    if (own.has_value()) {
      out.push_back(PredecessorTarget{*predecessor, composed, *own, std::nullopt, std::nullopt});
      continue;
    }
    // A predecessor created during the year itself may take its target from its own
    // predecessors; one that existed before the year simply has none.
    if (predecessor->valid_from() > YearStart(year) && depth + 1 < kMaxChain) {
      ASSIGN_OR_RETURN(const bool chained,
                       CollectPredecessorTargets(reads, *predecessor, composed, key, year,
                                                 depth + 1, out, note));
      if (!note.empty()) {
        return true;
      }
      if (chained) {
        continue;
      }
    }
    note = absl::StrCat("the predecessor ", predecessor->code(),
                        predecessor->name().empty()
                            ? ""
                            : absl::StrCat(" ", CutText(predecessor->name(), kMaxNameBytes)),
                        " has no ", KeyName(key), " target for ", year);
    return true;
  }
  return any;
}

absl::StatusOr<std::optional<int64_t>> TargetServiceImpl::PredecessorDenominator(
    CoverageReads& figures, const v1::AdminUnit& unit, v1::Scheme scheme, int year,
    bool year_before) {
  // The unit is read on its last day inside the target's year, as a month that ends inside its
  // validity (a stock month of the version).
  const std::string day = LastDayInYear(unit, year);
  if (day.empty()) {
    return std::nullopt;
  }
  absl::StatusOr<Month> month = Month::Parse(day.substr(0, 7));
  if (!month.ok()) {
    return std::nullopt;
  }
  if (month->LastDay() != day) {
    *month = month->Previous();
  }
  if (month->year != year || !ValidOn(unit, month->LastDay())) {
    return std::nullopt;
  }
  const std::string period = year_before ? absl::StrCat(year - 1) : month->ToString();
  absl::StatusOr<v1::Coverage> coverage =
      figures.GetCoverage(unit.code(), period, {scheme}, month->LastDay());
  if (!coverage.ok()) {
    // Without aggregation nothing is computed; a unit it cannot read has no denominator.
    if (absl::IsUnavailable(coverage.status())) {
      return coverage.status();
    }
    return std::nullopt;
  }
  const v1::SchemeCoverage* of_scheme = FindScheme(*coverage, scheme);
  if (of_scheme == nullptr || !of_scheme->has_denominator() || of_scheme->denominator() <= 0) {
    return std::nullopt;
  }
  return of_scheme->denominator();
}

absl::StatusOr<UnitTarget> TargetServiceImpl::TargetFor(ReformReads& reads, CoverageReads& figures,
                                                        const v1::AdminUnit& unit,
                                                        const std::string& territory_date,
                                                        v1::Scheme scheme, int year) {
  UnitTarget result;
  const TargetOn key{v1::MEASURE_UNSPECIFIED, scheme, v1::PAYER_GROUP_UNSPECIFIED};
  ASSIGN_OR_RETURN(result.target, OwnTarget(reads, unit, key, year));
  if (result.target.has_value() || unit.code() == kNationCode) {
    return result;
  }
  std::vector<PredecessorTarget> predecessors;
  std::string note;
  absl::StatusOr<bool> has_predecessors =
      CollectPredecessorTargets(reads, unit, 1.0, key, year, 0, predecessors, note);
  if (absl::IsUnavailable(has_predecessors.status())) {
    // The unit's own target (and its figures) stand without the crosswalk; only a target
    // re-expressed from predecessors is missing, and the note says why.
    result.note = absl::StrCat(
        "no target re-expressed from predecessors: the crosswalk could not "
        "be read (",
        has_predecessors.status().message(), ")");
    return result;
  }
  RETURN_IF_ERROR(has_predecessors.status());
  if (!*has_predecessors) {
    return result;  // an ordinary unit without a target
  }
  if (!note.empty()) {
    result.note = absl::StrCat("no target re-expressed from the predecessors: ", note);
    return result;
  }
  if (!predecessors.empty() &&
      predecessors.front().target.kind() == v1::TARGET_KIND_COVERAGE_PERCENT) {
    bool all_of_year = true;
    for (PredecessorTarget& p : predecessors) {
      ASSIGN_OR_RETURN(p.denominator, PredecessorDenominator(figures, p.unit, scheme, year, false));
      all_of_year = all_of_year && p.denominator.has_value();
    }
    if (!all_of_year) {
      for (PredecessorTarget& p : predecessors) {
        ASSIGN_OR_RETURN(p.denominator_year_before,
                         PredecessorDenominator(figures, p.unit, scheme, year, true));
      }
    }
  }
  ASSIGN_OR_RETURN(const bool holder, IsYearHolder(reads, unit, year));
  const std::string unit_as_of =
      holder || territory_date.substr(0, 4) != absl::StrCat(year) ? "" : territory_date;
  ReexpressedTarget reexpressed =
      ReexpressTarget(unit.code(), unit_as_of, scheme, year, predecessors);
  if (!reexpressed.target.has_value()) {
    result.note = absl::StrCat("no target re-expressed from the predecessors: ", reexpressed.note);
    return result;
  }
  result.target = std::move(reexpressed.target);
  result.reexpressed = true;
  for (const PredecessorTarget& p : predecessors) {
    result.sources.push_back(p.target);
  }
  return result;
}

void SetTargetSource(const UnitTarget& target, v1::MeasureAchievement& achievement) {
  achievement.set_target_reexpressed(target.reexpressed);
  for (const v1::Target& source : target.sources) {
    *achievement.add_source_targets() = source;
  }
}

absl::StatusOr<std::vector<UnitTarget>> TargetServiceImpl::MeasureTargetsFor(
    ReformReads& reads, CoverageReads& figures, const v1::AdminUnit& unit, int year) {
  ASSIGN_OR_RETURN(const std::vector<v1::Target> own, MeasureTargets(unit.code(), year));
  std::vector<UnitTarget> out;
  for (const v1::Target& t : own) {
    out.push_back(UnitTarget{t, false, {}, ""});
  }
  if (unit.code() == kNationCode) {
    return out;
  }
  absl::StatusOr<const std::vector<v1::CrosswalkLink>*> links = reads.LinksInto(unit.code());
  if (absl::IsUnavailable(links.status())) {
    return out;  // the unit's own targets stand without the crosswalk
  }
  RETURN_IF_ERROR(links.status());
  // The keys the direct predecessors have targets on for the year (stored under their codes);
  // whether each predecessor version has one is CollectPredecessorTargets's to say.
  std::vector<TargetOn> keys;
  for (const v1::CrosswalkLink& link : **links) {
    if (!LeadsInto(link, unit)) {
      continue;
    }
    ASSIGN_OR_RETURN(const std::vector<v1::Target>* stored,
                     reads.StoredOnMeasures(link.from_code(), year));
    for (const v1::Target& t : *stored) {
      const TargetOn key{t.measure(), t.scheme(), t.payer_group()};
      auto same = [&](const TargetOn& k) {
        return k.measure == key.measure && k.scheme == key.scheme && k.group == key.group;
      };
      auto has_own = [&](const v1::Target& o) { return Matches(o, key); };
      if (std::none_of(keys.begin(), keys.end(), same) &&
          std::none_of(own.begin(), own.end(), has_own)) {
        keys.push_back(key);
      }
    }
  }
  for (const TargetOn& key : keys) {
    RETURN_IF_ERROR(Upstream::StopIfCallEnded("while re-expressing the targets on measures"));
    std::vector<PredecessorTarget> predecessors;
    std::string note;
    absl::StatusOr<bool> collected =
        CollectPredecessorTargets(reads, unit, 1.0, key, year, 0, predecessors, note);
    if (absl::IsUnavailable(collected.status())) {
      return out;
    }
    RETURN_IF_ERROR(collected.status());
    if (!*collected || !note.empty()) {
      continue;  // not every predecessor has a target on it: a part of a target is none
    }
    const MeasureInfo& info = *FindMeasure(key.measure);
    if (info.rule == MeasureRule::kRatio) {
      for (PredecessorTarget& p : predecessors) {
        ASSIGN_OR_RETURN(p.denominator, PredecessorAmountDue(figures, p.unit, key, year));
      }
    }
    ReexpressedTarget reexpressed = ReexpressMeasureTarget(unit.code(), year, predecessors);
    if (!reexpressed.target.has_value()) {
      continue;
    }
    UnitTarget target;
    target.target = std::move(reexpressed.target);
    target.reexpressed = true;
    for (const PredecessorTarget& p : predecessors) {
      target.sources.push_back(p.target);
    }
    out.push_back(std::move(target));
  }
  return out;
}

absl::StatusOr<std::optional<int64_t>> TargetServiceImpl::PredecessorAmountDue(
    CoverageReads& figures, const v1::AdminUnit& unit, const TargetOn& key, int year) {
  // The year before, read in the predecessor's own territory (its last day in the target's
  // year): re-expressed by aggregation where the predecessor was itself made during it.
  const std::string day = LastDayInYear(unit, year);
  const MeasureInfo& info = *FindMeasure(key.measure);
  if (day.empty()) {
    return std::nullopt;
  }
  absl::StatusOr<v1::MeasureSummary> summary =
      figures.GetMeasures(unit.code(), absl::StrCat(year - 1), {info.denominator}, day);
  if (!summary.ok()) {
    if (absl::IsUnavailable(summary.status())) {
      return summary.status();
    }
    return std::nullopt;
  }
  for (const v1::MeasureValue& v : summary->values()) {
    if (v.measure() == info.denominator && v.scheme() == key.scheme &&
        v.payer_group() == key.group && v.has_value()) {
      return v.value();
    }
  }
  return std::nullopt;
}

}  // namespace covtrack::targets
