// AllocateTarget's and ValidateAllocation's operations: a parent's participants target split
// among the units under it in proportion to a base from the year before (population, labour
// force or last year's participants; largest remainders, achievement.h), and the check that the
// units' targets still add up to the parent's.

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/domain.h"
#include "common/hierarchy/hierarchy.h"
#include "common/log.h"
#include "common/measures.h"
#include "common/status/status.h"
#include "services/targets/achievement.h"
#include "services/targets/target_service.h"
#include "services/targets/upstream.h"

namespace covtrack::targets {
namespace {

// The scheme whose figures hold each method's base.
v1::Scheme BaseScheme(const v1::AllocateTargetRequest& request) {
  switch (request.method()) {
    case v1::ALLOCATION_METHOD_POPULATION:
      return v1::SCHEME_HEALTH;  // measured against the population
    case v1::ALLOCATION_METHOD_LABOR_FORCE:
      return v1::SCHEME_COMPULSORY_SOCIAL;  // measured against the labour force
    default:
      return request.scheme();
  }
}

// A base is a count of people a unit can hold (common/domain.h): figures read from aggregation
// are not trusted to be (issue 13 saw a base total below zero).
absl::Status BaseInRange(const std::string& code, absl::string_view what, int64_t base) {
  if (base < 0 || base > kMaxPeople) {
    return absl::FailedPreconditionError(absl::StrCat("unit ", code, "'s ", what, " of ", base,
                                                      " is not a count a unit can hold (0 to ",
                                                      kMaxPeople, "): cannot allocate by it"));
  }
  return absl::OkStatus();
}

// Each unit's base for the split, in the order of `units`; FAILED_PRECONDITION naming the first
// unit without one.
absl::StatusOr<std::vector<int64_t>> AllocationBases(const v1::AllocateTargetRequest& request,
                                                     const v1::Target& parent_target,
                                                     const std::vector<v1::Coverage>& units,
                                                     int base_year) {
  std::vector<int64_t> bases;
  for (const v1::Coverage& unit : units) {
    const v1::SchemeCoverage* c = FindScheme(unit, BaseScheme(request));
    const std::string& code = unit.unit().code();
    if (request.method() == v1::ALLOCATION_METHOD_LAST_YEAR_PARTICIPANTS) {
      std::optional<int64_t> people;
      if (c != nullptr && HasFigure(*c)) {
        people = BasisParticipants(*c, parent_target.basis());
      }
      if (!people.has_value()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "unit ", code, " has no ", SchemeName(request.scheme()), " participants",
            parent_target.basis() == v1::TARGET_BASIS_IN_PROVINCE ? " (in-province split)" : "",
            " for ", base_year, ": cannot allocate by last year's participants"));
      }
      RETURN_IF_ERROR(BaseInRange(code, "participants", *people));
      bases.push_back(*people);
    } else {
      if (c == nullptr || !c->has_denominator()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "unit ", code, " has no ",
            request.method() == v1::ALLOCATION_METHOD_POPULATION ? "population" : "labour force",
            " for ", base_year, ": cannot allocate by it"));
      }
      RETURN_IF_ERROR(BaseInRange(
          code,
          request.method() == v1::ALLOCATION_METHOD_POPULATION ? "population" : "labour force",
          c->denominator()));
      bases.push_back(c->denominator());
    }
  }
  return bases;
}

// A part's target: the parent's keys for the unit, with `value`.
v1::Target PartTarget(const v1::AllocateTargetRequest& request, const v1::Target& parent_target,
                      const v1::AdminUnit& unit, double value) {
  v1::Target t;
  t.set_unit_code(unit.code());
  t.set_scheme(request.scheme());
  t.set_year(request.year());
  t.set_measure(parent_target.measure());
  t.set_payer_group(parent_target.payer_group());
  // A measure's target is in the measure's unit: no kind or basis (Target.measure).
  if (parent_target.measure() == v1::MEASURE_UNSPECIFIED) {
    t.set_kind(v1::TARGET_KIND_PARTICIPANTS);
    t.set_basis(parent_target.basis());
  }
  t.set_value(value);
  t.set_assigned_by(request.assigned_by().empty() ? parent_target.assigned_by()
                                                  : request.assigned_by());
  t.set_decision_ref(request.decision_ref().empty() ? parent_target.decision_ref()
                                                    : request.decision_ref());
  return t;
}

// A ratio's ceiling is inherited, not split: every unit gets the parent's value (AllocateTarget
// Request.measure); no base is read.
v1::AllocateTargetResponse Inherit(const v1::AllocateTargetRequest& request,
                                   const v1::Target& parent_target,
                                   const std::vector<v1::Coverage>& units) {
  v1::AllocateTargetResponse response;
  *response.mutable_parent_target() = parent_target;
  for (const v1::Coverage& unit : units) {
    v1::AllocationPart* part = response.add_parts();
    *part->mutable_unit() = unit.unit();
    *part->mutable_target() =
        PartTarget(request, parent_target, unit.unit(), parent_target.value());
  }
  return response;
}

// The response of a split, before anything is stored.
absl::StatusOr<v1::AllocateTargetResponse> Split(const v1::AllocateTargetRequest& request,
                                                 const v1::Target& parent_target,
                                                 const std::vector<v1::Coverage>& units,
                                                 const std::vector<int64_t>& bases) {
  absl::StatusOr<std::vector<int64_t>> parts =
      AllocateLargestRemainder(std::llround(parent_target.value()), bases);
  if (!parts.ok()) {
    return absl::Status(parts.status().code(),
                        absl::StrCat("allocating ", request.parent_code(),
                                     "'s target: ", parts.status().message()));
  }
  // Each base is a count of at most kMaxPeople (AllocationBases), so the sum overflows only for
  // an impossible number of units; it is checked all the same.
  int64_t base_total = 0;
  for (int64_t b : bases) {
    if (__builtin_add_overflow(base_total, b, &base_total)) {
      return absl::FailedPreconditionError(absl::StrCat("allocating ", request.parent_code(),
                                                        "'s target: the units' bases add up past ",
                                                        std::numeric_limits<int64_t>::max()));
    }
  }
  v1::AllocateTargetResponse response;
  *response.mutable_parent_target() = parent_target;
  response.set_base_total(base_total);
  int64_t allocated = 0;
  for (size_t i = 0; i < units.size(); ++i) {
    v1::AllocationPart* part = response.add_parts();
    *part->mutable_unit() = units[i].unit();
    part->set_base(bases[i]);
    part->set_share_percent(static_cast<double>(bases[i]) * 100.0 /
                            static_cast<double>(base_total));
    *part->mutable_target() =
        PartTarget(request, parent_target, units[i].unit(), static_cast<double>((*parts)[i]));
    // The parts add up to the parent's target (at most 9e15, request_validation.h).
    if (__builtin_add_overflow(allocated, (*parts)[i], &allocated)) {
      return absl::InternalError(
          absl::StrCat("allocating ", request.parent_code(), "'s target: the parts overflow"));
    }
  }
  response.set_allocated_total(allocated);
  return response;
}

}  // namespace

absl::StatusOr<v1::AllocateTargetResponse> TargetServiceImpl::SplitParentTarget(
    const v1::AllocateTargetRequest& request,
    const std::function<absl::Status(const std::vector<access::UnitRef>&)>& authorize) {
  // A retry is the same request whatever token it carries: freshness says how fresh the bases
  // must be, not what is stored.
  v1::AllocateTargetRequest without_id = request;
  without_id.clear_request_id();
  without_id.clear_freshness();
  const std::string content = absl::StrCat("AllocateTarget\n", without_id.SerializeAsString());
  if (!request.preview()) {
    // A retry is answered from the store, even when the aggregation service is down.
    ASSIGN_OR_RETURN(const std::optional<std::string> earlier,
                     store_->FindResponse(request.request_id(), content));
    if (earlier.has_value()) {
      v1::AllocateTargetResponse replay;
      if (!replay.ParseFromString(*earlier)) {
        return absl::InternalError("stored AllocateTarget response does not parse");
      }
      return replay;
    }
  }

  // The parent and every part must be units of the target's year (ingestion's versions).
  ReformReads reads(units_.get(), store_.get());
  RETURN_IF_ERROR(RequireUnitInYear(reads, request.parent_code(), request.year(), "parent_code"));
  const v1::Measure measure =
      request.measure() == v1::MEASURE_PARTICIPANTS ? v1::MEASURE_UNSPECIFIED : request.measure();
  std::optional<v1::Target> parent;
  if (measure == v1::MEASURE_UNSPECIFIED) {
    ASSIGN_OR_RETURN(parent,
                     CurrentTarget(request.parent_code(), request.scheme(), request.year()));
  } else {
    ASSIGN_OR_RETURN(parent, CurrentMeasureTarget(request.parent_code(), measure, request.scheme(),
                                                  request.payer_group(), request.year()));
  }
  if (!parent.has_value()) {
    return absl::NotFoundError(absl::StrCat(
        "no target for parent_code ", request.parent_code(),
        measure == v1::MEASURE_UNSPECIFIED ? "" : absl::StrCat(", measure ", MeasureName(measure)),
        ", scheme ", SchemeName(request.scheme()), ", year ", request.year(),
        ": set the parent's target first"));
  }
  const bool inherited = measure == v1::MEASURE_ARREARS_RATIO;
  if (measure != v1::MEASURE_UNSPECIFIED && !inherited &&
      request.method() == v1::ALLOCATION_METHOD_LAST_YEAR_PARTICIPANTS) {
    return absl::FailedPreconditionError(
        absl::StrCat("method: last year's participants are no base for a target on ",
                     MeasureName(measure), "; split it by population or labour force"));
  }
  if (measure == v1::MEASURE_UNSPECIFIED && parent->kind() != v1::TARGET_KIND_PARTICIPANTS) {
    return absl::FailedPreconditionError(
        absl::StrCat("the target of ", request.parent_code(),
                     " is a coverage rate; only participants "
                     "targets are split (give the units the same rate with SetTarget)"));
  }

  // The bases, from the base year (the year before the target's year).
  const int base_year = request.year() - 1;
  CoverageReads figures(source_.get(), request.freshness());
  ASSIGN_OR_RETURN(std::vector<v1::Coverage> units,
                   figures.ListCoverage(
                       request.parent_code(), request.level(), absl::StrCat(base_year),
                       inherited ? v1::SCHEME_HEALTH : BaseScheme(request), YearEnd(base_year)));
  std::sort(units.begin(), units.end(), [](const v1::Coverage& a, const v1::Coverage& b) {
    return a.unit().code() < b.unit().code();
  });
  if (units.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("no units under ", request.parent_code(),
                                                      " at the requested level in ", base_year));
  }
  v1::AllocateTargetResponse response;
  if (inherited) {
    response = Inherit(request, *parent, units);
  } else {
    ASSIGN_OR_RETURN(const std::vector<int64_t> bases,
                     AllocationBases(request, *parent, units, base_year));
    ASSIGN_OR_RETURN(response, Split(request, *parent, units, bases));
  }
  response.set_reflects_seq(figures.reflects_seq());
  // Each part is for the unit of the base year's end. Where a reform during the target's year
  // ended that unit and its code names another unit at the year's end, the part is stored with
  // unit_as_of naming it (its last day in the year), never under the code's new holder.
  std::vector<access::UnitRef> part_units;
  for (v1::AllocationPart& part : *response.mutable_parts()) {
    RETURN_IF_ERROR(Upstream::StopIfCallEnded("while checking the parts of the allocation"));
    const v1::AdminUnit& unit = part.unit();
    v1::Target* target = part.mutable_target();
    if (!ValidOn(unit, YearEnd(request.year()))) {
      const std::string day = LastDayInYear(unit, request.year());
      if (day.empty()) {
        return absl::FailedPreconditionError(
            absl::StrCat("unit ", unit.code(), " under ", request.parent_code(), " at the end of ",
                         base_year, " does not exist in ", request.year(),
                         ": set the targets of the units that replaced it with SetTarget"));
      }
      ASSIGN_OR_RETURN(*target->mutable_unit_as_of(),
                       NormalizeUnitAsOf(reads, unit.code(), day, request.year()));
    }
    // The units under the parent come from aggregation; the part is stored only for a unit
    // ingestion knows in the target's year, as SetTarget's target is.
    RETURN_IF_ERROR(RequireUnitInYear(reads, unit.code(), request.year(),
                                      absl::StrCat("part for ", unit.code())));
    part_units.push_back(target->unit_as_of().empty()
                             ? access::UnitRef::InYear(unit.code(), request.year())
                             : access::UnitRef::OnDay(unit.code(), target->unit_as_of()));
  }
  if (request.preview()) {
    return response;
  }
  // Every part passes the check SetTarget applies, not only the parent.
  RETURN_IF_ERROR(authorize(part_units));
  ASSIGN_OR_RETURN(const TargetStore::WriteResult written,
                   store_->WriteOnce(request.request_id(), content,
                                     [&](sql::Session& session) -> absl::StatusOr<std::string> {
                                       v1::AllocateTargetResponse stored = response;
                                       stored.set_stored(true);
                                       for (v1::AllocationPart& part : *stored.mutable_parts()) {
                                         ASSIGN_OR_RETURN(
                                             *part.mutable_target(),
                                             store_->InsertRevision(session, part.target()));
                                       }
                                       return stored.SerializeAsString();
                                     }));
  v1::AllocateTargetResponse stored;
  if (!stored.ParseFromString(written.response)) {
    return absl::InternalError("stored AllocateTarget response does not parse");
  }
  log::Info("target allocated", {{"parent", request.parent_code()},
                                 {"scheme", SchemeName(request.scheme())},
                                 {"year", absl::StrCat(request.year())},
                                 {"units", absl::StrCat(stored.parts_size())},
                                 {"request_id", request.request_id()}});
  return stored;
}

absl::StatusOr<v1::ValidateAllocationResponse> TargetServiceImpl::CheckAllocation(
    const v1::ValidateAllocationRequest& request) {
  const v1::Measure measure =
      request.measure() == v1::MEASURE_PARTICIPANTS ? v1::MEASURE_UNSPECIFIED : request.measure();
  const bool participants = measure == v1::MEASURE_UNSPECIFIED;
  // A ratio's ceiling is inherited, not split: each unit's must be no looser than the parent's.
  const bool inherited = measure == v1::MEASURE_ARREARS_RATIO;
  std::optional<v1::Target> parent;
  std::map<std::string, std::vector<v1::Target>> target_of;
  if (participants) {
    ASSIGN_OR_RETURN(parent,
                     CurrentTarget(request.parent_code(), request.scheme(), request.year()));
    ASSIGN_OR_RETURN(target_of, TargetsByUnit(request.scheme(), request.year()));
  } else {
    ASSIGN_OR_RETURN(parent, CurrentMeasureTarget(request.parent_code(), measure, request.scheme(),
                                                  request.payer_group(), request.year()));
    TargetQuery query;
    query.year = request.year();
    query.measure = measure;
    ASSIGN_OR_RETURN(std::vector<v1::Target> stored, store_->List(query));
    for (v1::Target& t : stored) {
      if (t.scheme() == request.scheme() && t.payer_group() == request.payer_group()) {
        target_of[t.unit_code()].push_back(std::move(t));
      }
    }
  }
  // ValidateAllocationRequest asks no freshness: the units come as the replica has them.
  ASSIGN_OR_RETURN(
      const CoverageList units,
      source_->ListCoverage(request.parent_code(), request.level(), absl::StrCat(request.year()),
                            participants ? request.scheme() : v1::SCHEME_HEALTH,
                            YearEnd(request.year()), v1::Freshness()));
  std::vector<std::string> codes;
  for (const v1::Coverage& unit : units.coverages) {
    codes.push_back(unit.unit().code());
  }
  std::sort(codes.begin(), codes.end());

  v1::ValidateAllocationResponse response;
  double total = 0;
  for (const std::string& code : codes) {
    // The units at the year's end hold their codes' targets of the year (unit_as_of "").
    const v1::Target* found = nullptr;
    if (auto it = target_of.find(code); it != target_of.end()) {
      for (const v1::Target& t : it->second) {
        if (t.unit_as_of().empty()) {
          found = &t;
        }
      }
    }
    if (found == nullptr) {
      response.add_units_without_target(code);
      response.add_problems(absl::StrCat("unit ", code, " has no target"));
      continue;
    }
    const v1::Target& child = *found;
    *response.add_child_targets() = child;
    if (inherited) {
      if (parent.has_value() && child.value() > parent->value()) {
        response.add_problems(absl::StrCat("unit ", code, "'s ceiling of ", child.value(),
                                           "% is above the parent's ceiling of ", parent->value(),
                                           "%"));
      }
      continue;
    }
    if (participants && parent.has_value() &&
        (child.kind() != parent->kind() || child.basis() != parent->basis() ||
         child.kind() != v1::TARGET_KIND_PARTICIPANTS)) {
      response.add_mismatched_units(code);
      response.add_problems(absl::StrCat("unit ", code,
                                         "'s target is not a participants target on the "
                                         "parent's basis; left out of the sum"));
      continue;
    }
    total += child.value();
  }
  response.set_children_total(total);
  if (!parent.has_value()) {
    response.add_problems(absl::StrCat("parent ", request.parent_code(), " has no target for ",
                                       participants ? "" : absl::StrCat(MeasureName(measure), " "),
                                       SchemeName(request.scheme()), " in ", request.year()));
    response.set_consistent(false);
    return response;
  }
  *response.mutable_parent_target() = *parent;
  if (participants && parent->kind() != v1::TARGET_KIND_PARTICIPANTS) {
    response.add_problems(absl::StrCat("parent ", request.parent_code(),
                                       "'s target is a coverage rate; rates do not add up"));
    response.set_consistent(false);
    return response;
  }
  if (!inherited) {
    response.set_difference(total - parent->value());
  }
  if (response.difference() != 0) {
    response.add_problems(absl::StrCat(
        "the units' targets add up to ", static_cast<int64_t>(std::llround(total)),
        " but the parent's target is ", static_cast<int64_t>(std::llround(parent->value())),
        " (difference ", static_cast<int64_t>(std::llround(response.difference())), ")"));
  }
  response.set_consistent(response.problems_size() == 0);
  return response;
}

}  // namespace covtrack::targets
