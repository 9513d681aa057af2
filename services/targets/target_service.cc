#include "services/targets/target_service.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/domain.h"
#include "common/log.h"
#include "common/server.h"
#include "services/targets/achievement.h"
#include "services/targets/report.h"

namespace covtrack::targets {
namespace {

using access::Role;

constexpr int kMinYear = 2000;
constexpr int kMaxYear = 2100;
constexpr double kMaxParticipantsTarget = 1e9;  // more than the country's population
constexpr size_t kMaxTextLength = 200;
constexpr int kDefaultTargetsPage = 100;
constexpr int kMaxTargetsPage = 1000;
constexpr int kDefaultLaggingPage = 50;
constexpr int kMaxLaggingPage = 500;

// Vietnam keeps UTC+7 all year (no daylight saving), so a fixed zone needs no tz database.
absl::TimeZone VietnamTime() { return absl::FixedTimeZone(7 * 60 * 60); }

absl::Status ValidateUnitCode(const std::string& code, absl::string_view field) {
  const bool digits = !code.empty() && std::all_of(code.begin(), code.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
  if (code == kNationCode ||
      (digits && (code.size() == 2 || code.size() == 3 || code.size() == 5))) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, " must be \"VN\" or a 2-, 3- or 5-digit unit code, got \"", code, "\""));
}

absl::Status ValidateScheme(v1::Scheme scheme, absl::string_view field) {
  if (!v1::Scheme_IsValid(scheme) || scheme == v1::SCHEME_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat(field,
                                                   " is required (one of compulsory_social, "
                                                   "voluntary_social, health, unemployment, "
                                                   "social), got ",
                                                   static_cast<int>(scheme)));
  }
  return absl::OkStatus();
}

absl::Status ValidateYear(int year, absl::string_view field) {
  if (year < kMinYear || year > kMaxYear) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " must be between ", kMinYear, " and ", kMaxYear, ", got ", year));
  }
  return absl::OkStatus();
}

absl::Status ValidateLevel(v1::AdminLevel level, absl::string_view field) {
  if (!v1::AdminLevel_IsValid(level)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is not a known level: ", static_cast<int>(level)));
  }
  return absl::OkStatus();
}

absl::Status ValidateText(const std::string& text, absl::string_view field, bool required) {
  if (required && text.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  }
  if (text.size() > kMaxTextLength) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is longer than ", kMaxTextLength, " bytes"));
  }
  return absl::OkStatus();
}

// Checks a target from a client and fills in its defaults; names the failing field and record.
absl::StatusOr<v1::Target> NormalizeTarget(const v1::Target& in) {
  v1::Target t = in;
  t.clear_update_time();
  t.set_revision(0);
  const std::string record =
      absl::StrCat(" (target ", t.unit_code(), "/", SchemeName(t.scheme()), "/", t.year(), ")");
  auto with_record = [&](absl::Status s) {
    return absl::Status(s.code(), absl::StrCat(s.message(), record));
  };
  if (absl::Status s = ValidateUnitCode(t.unit_code(), "target.unit_code"); !s.ok()) {
    return with_record(s);
  }
  if (absl::Status s = ValidateScheme(t.scheme(), "target.scheme"); !s.ok()) {
    return with_record(s);
  }
  if (absl::Status s = ValidateYear(t.year(), "target.year"); !s.ok()) {
    return with_record(s);
  }
  if (!v1::TargetKind_IsValid(t.kind()) || t.kind() == v1::TARGET_KIND_UNSPECIFIED) {
    return with_record(absl::InvalidArgumentError(
        "target.kind is required: TARGET_KIND_PARTICIPANTS or TARGET_KIND_COVERAGE_PERCENT"));
  }
  if (!v1::TargetBasis_IsValid(t.basis())) {
    return with_record(absl::InvalidArgumentError(
        absl::StrCat("target.basis is not a known basis: ", static_cast<int>(t.basis()))));
  }
  if (t.basis() == v1::TARGET_BASIS_UNSPECIFIED) {
    t.set_basis(v1::TARGET_BASIS_ALL_PARTICIPANTS);
  }
  const double v = t.value();
  if (!std::isfinite(v) || v < 0) {
    return with_record(
        absl::InvalidArgumentError(absl::StrCat("target.value must be a number >= 0, got ", v)));
  }
  if (t.kind() == v1::TARGET_KIND_COVERAGE_PERCENT && v > 100) {
    return with_record(absl::InvalidArgumentError(
        absl::StrCat("target.value of a coverage target is a percentage, 0–100, got ", v)));
  }
  if (t.kind() == v1::TARGET_KIND_PARTICIPANTS &&
      (v > kMaxParticipantsTarget || v != std::floor(v))) {
    return with_record(absl::InvalidArgumentError(absl::StrCat(
        "target.value of a participants target is a whole number of people, 0–1e9, got ", v)));
  }
  if (absl::Status s = ValidateText(t.assigned_by(), "target.assigned_by", false); !s.ok()) {
    return with_record(s);
  }
  if (absl::Status s = ValidateText(t.decision_ref(), "target.decision_ref", false); !s.ok()) {
    return with_record(s);
  }
  return t;
}

template <typename Message>
std::string Serialize(const Message& message) {
  std::string out;
  message.SerializeToString(&out);
  return out;
}

std::vector<v1::Scheme> SchemesOrAll(const google::protobuf::RepeatedField<int>& schemes) {
  std::vector<v1::Scheme> out;
  for (int s : schemes) {
    out.push_back(static_cast<v1::Scheme>(s));
  }
  if (out.empty()) {
    out.assign(kAllSchemes.begin(), kAllSchemes.end());
  }
  return out;
}

const v1::SchemeCoverage* FindScheme(const v1::Coverage& coverage, v1::Scheme scheme) {
  for (const v1::SchemeCoverage& s : coverage.schemes()) {
    if (s.scheme() == scheme) {
      return &s;
    }
  }
  return nullptr;
}

// Page tokens are opaque to clients: web-safe base64 of the position.
std::string EncodeToken(const std::string& position) { return absl::WebSafeBase64Escape(position); }

absl::StatusOr<std::string> DecodeToken(const std::string& token) {
  std::string position;
  if (!absl::WebSafeBase64Unescape(token, &position)) {
    return absl::InvalidArgumentError(absl::StrCat("page_token \"", token, "\" is not valid"));
  }
  return position;
}

absl::StatusOr<int> PageSize(int requested, int default_size, int max_size) {
  if (requested < 0) {
    return absl::InvalidArgumentError(absl::StrCat("page_size must be >= 0, got ", requested));
  }
  if (requested == 0) {
    return default_size;
  }
  return std::min(requested, max_size);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TargetServiceImpl>> TargetServiceImpl::Create(
    const TargetOptions& options) {
  std::function<absl::Time()> clock = options.clock ? options.clock : absl::Now;
  absl::StatusOr<std::unique_ptr<TargetStore>> store = TargetStore::Open(options.store_url, clock);
  if (!store.ok()) {
    return absl::Status(store.status().code(), absl::StrCat("targets store \"", options.store_url,
                                                            "\": ", store.status().message()));
  }
  std::shared_ptr<CoverageSource> source = options.coverage_source;
  if (source == nullptr) {
    if (options.aggregation_addr.empty()) {
      return absl::InvalidArgumentError("--aggregation_addr is required (HOST:PORT)");
    }
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        NewChannel(options.aggregation_addr, options.upstream_channel);
    if (!channel.ok()) {
      return channel.status();
    }
    source = NewAggregationCoverageSource(*std::move(channel), options.aggregation_addr,
                                          options.aggregation_deadline);
  }
  access::UnitVersions units;
  if (options.access_policy.has_value()) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        NewChannel(options.ingestion_addr, options.upstream_channel);
    if (!channel.ok()) {
      return channel.status();
    }
    units = access::IngestionUnitVersions(*std::move(channel), options.aggregation_deadline);
  }
  return std::unique_ptr<TargetServiceImpl>(
      new TargetServiceImpl(std::move(*store), std::move(source), std::move(clock),
                            access::Authorizer(options.access_policy, std::move(units))));
}

absl::StatusOr<Period> TargetServiceImpl::ResolvePeriod(const std::string& period) const {
  if (period.empty()) {
    return Period::ForYear(absl::ToCivilYear(clock_(), VietnamTime()).year());
  }
  absl::StatusOr<Period> parsed = Period::Parse(period);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("period: ", parsed.status().message()));
  }
  return parsed;
}

absl::StatusOr<std::optional<v1::Target>> TargetServiceImpl::CurrentTarget(
    const std::string& unit_code, v1::Scheme scheme, int year) {
  absl::StatusOr<std::map<v1::Scheme, v1::Target>> targets =
      store_->CurrentTargets(unit_code, year);
  if (!targets.ok()) {
    return targets.status();
  }
  auto it = targets->find(scheme);
  if (it == targets->end()) {
    return std::nullopt;
  }
  return it->second;
}

absl::StatusOr<v1::SchemeAchievement> TargetServiceImpl::Evaluate(
    const std::string& unit_code, v1::Scheme scheme, const v1::SchemeCoverage& current,
    const std::string& as_of_month, std::optional<v1::Target> target) {
  SchemeInputs inputs;
  inputs.scheme = scheme;
  inputs.target = std::move(target);
  inputs.current = current;
  if (absl::StatusOr<Month> as_of = Month::Parse(as_of_month); as_of.ok()) {
    inputs.as_of = *as_of;
  }
  v1::SchemeAchievement result = EvaluateScheme(inputs);
  // The pace and the trend need the months since last December; ask for them only when the
  // status during the year depends on them.
  const bool during_year = inputs.as_of.has_value() && inputs.as_of->month < 12;
  if (!during_year || result.status() == v1::ACHIEVEMENT_STATUS_MET ||
      result.status() == v1::ACHIEVEMENT_STATUS_NO_TARGET ||
      result.status() == v1::ACHIEVEMENT_STATUS_NO_DATA) {
    return result;
  }
  const Month from{inputs.as_of->year - 1, 12};
  absl::StatusOr<v1::CoverageSeries> series =
      source_->GetCoverageSeries(unit_code, scheme, from, *inputs.as_of);
  if (!series.ok()) {
    return series.status();
  }
  for (const v1::SchemeCoverageAtMonth& month : series->months()) {
    absl::StatusOr<Month> parsed = Month::Parse(month.month());
    if (parsed.ok()) {
      inputs.history.push_back(MonthFigure{*parsed, month.coverage()});
    }
  }
  return EvaluateScheme(inputs);
}

absl::StatusOr<v1::Target> TargetServiceImpl::DoSetTarget(const v1::SetTargetRequest& request) {
  if (absl::Status s = ValidateText(request.request_id(), "request_id", true); !s.ok()) {
    return s;
  }
  if (!request.has_target()) {
    return absl::InvalidArgumentError("target is required");
  }
  absl::StatusOr<v1::Target> target = NormalizeTarget(request.target());
  if (!target.ok()) {
    return target.status();
  }
  const std::string content = absl::StrCat("SetTarget\n", Serialize(*target));
  absl::StatusOr<TargetStore::WriteResult> written = store_->WriteOnce(
      request.request_id(), content, [&](sql::Session& session) -> absl::StatusOr<std::string> {
        absl::StatusOr<v1::Target> stored = store_->InsertRevision(session, *target);
        if (!stored.ok()) {
          return stored.status();
        }
        return Serialize(*stored);
      });
  if (!written.ok()) {
    return written.status();
  }
  v1::Target stored;
  if (!stored.ParseFromString(written->response)) {
    return absl::InternalError("stored SetTarget response does not parse");
  }
  if (!written->replayed) {
    log::Info("target stored", {{"unit", stored.unit_code()},
                                {"scheme", SchemeName(stored.scheme())},
                                {"year", absl::StrCat(stored.year())},
                                {"revision", absl::StrCat(stored.revision())},
                                {"request_id", request.request_id()}});
  }
  return stored;
}

absl::StatusOr<v1::ListTargetsResponse> TargetServiceImpl::DoListTargets(
    const v1::ListTargetsRequest& request) {
  if (!request.unit_code().empty() && !request.parent_code().empty()) {
    return absl::InvalidArgumentError("set at most one of unit_code and parent_code");
  }
  if (!request.unit_code().empty()) {
    if (absl::Status s = ValidateUnitCode(request.unit_code(), "unit_code"); !s.ok()) {
      return s;
    }
  }
  if (request.year() != 0) {
    if (absl::Status s = ValidateYear(request.year(), "year"); !s.ok()) {
      return s;
    }
  }
  if (request.scheme() != v1::SCHEME_UNSPECIFIED) {
    if (absl::Status s = ValidateScheme(request.scheme(), "scheme"); !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<int> page_size =
      PageSize(request.page_size(), kDefaultTargetsPage, kMaxTargetsPage);
  if (!page_size.ok()) {
    return page_size.status();
  }
  TargetQuery query;
  query.unit_code = request.unit_code();
  query.year = request.year();
  query.scheme = request.scheme();
  query.include_revisions = request.include_revisions();
  if (!request.page_token().empty()) {
    absl::StatusOr<std::string> position = DecodeToken(request.page_token());
    if (!position.ok()) {
      return position.status();
    }
    std::vector<std::string> parts = absl::StrSplit(*position, '\t');
    int year = 0;
    int scheme = 0;
    int revision = 0;
    if (parts.size() != 4 || !absl::SimpleAtoi(parts[1], &year) ||
        !absl::SimpleAtoi(parts[2], &scheme) || !absl::SimpleAtoi(parts[3], &revision)) {
      return absl::InvalidArgumentError(
          absl::StrCat("page_token \"", request.page_token(), "\" is not valid"));
    }
    query.after = std::make_tuple(parts[0], year, scheme, revision);
  }

  std::vector<v1::Target> targets;
  if (request.parent_code().empty()) {
    // One more than a page tells whether there is a next page.
    query.limit = *page_size + 1;
    absl::StatusOr<std::vector<v1::Target>> listed = store_->List(query);
    if (!listed.ok()) {
      return listed.status();
    }
    targets = std::move(*listed);
  } else {
    if (absl::Status s = ValidateUnitCode(request.parent_code(), "parent_code"); !s.ok()) {
      return s;
    }
    if (request.year() == 0) {
      return absl::InvalidArgumentError(
          "year is required with parent_code (the units under a parent depend on the year)");
    }
    // The units under the parent come from the aggregation service's hierarchy for the year.
    absl::StatusOr<std::vector<v1::Coverage>> children = source_->ListCoverage(
        request.parent_code(), v1::ADMIN_LEVEL_UNSPECIFIED, absl::StrCat(request.year()),
        request.scheme() == v1::SCHEME_UNSPECIFIED ? v1::SCHEME_HEALTH : request.scheme());
    if (!children.ok()) {
      return children.status();
    }
    std::set<std::string> codes;
    for (const v1::Coverage& c : *children) {
      codes.insert(c.unit().code());
    }
    absl::StatusOr<std::vector<v1::Target>> listed = store_->List(query);
    if (!listed.ok()) {
      return listed.status();
    }
    for (v1::Target& t : *listed) {
      if (codes.count(t.unit_code()) > 0 && static_cast<int>(targets.size()) <= *page_size) {
        targets.push_back(std::move(t));
      }
    }
  }
  v1::ListTargetsResponse response;
  const bool more = static_cast<int>(targets.size()) > *page_size;
  if (more) {
    targets.resize(*page_size);
    const v1::Target& last = targets.back();
    response.set_next_page_token(
        EncodeToken(absl::StrCat(last.unit_code(), "\t", last.year(), "\t",
                                 static_cast<int>(last.scheme()), "\t", last.revision())));
  }
  for (v1::Target& t : targets) {
    *response.add_targets() = std::move(t);
  }
  return response;
}

absl::StatusOr<v1::Achievement> TargetServiceImpl::DoGetAchievement(
    const v1::GetAchievementRequest& request) {
  if (absl::Status s = ValidateUnitCode(request.unit_code(), "unit_code"); !s.ok()) {
    return s;
  }
  absl::StatusOr<Period> period = ResolvePeriod(request.period());
  if (!period.ok()) {
    return period.status();
  }
  const std::vector<v1::Scheme> schemes = SchemesOrAll(request.schemes());
  for (size_t i = 0; i < schemes.size(); ++i) {
    if (absl::Status s = ValidateScheme(schemes[i], absl::StrCat("schemes[", i, "]")); !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<v1::Coverage> coverage =
      source_->GetCoverage(request.unit_code(), period->ToString(), schemes);
  if (!coverage.ok()) {
    return coverage.status();
  }
  absl::StatusOr<std::map<v1::Scheme, v1::Target>> targets =
      store_->CurrentTargets(request.unit_code(), period->year());
  if (!targets.ok()) {
    return targets.status();
  }
  v1::Achievement achievement;
  *achievement.mutable_unit() = coverage->unit();
  achievement.set_period(period->ToString());
  achievement.set_as_of_month(coverage->as_of_month());
  for (v1::Scheme scheme : schemes) {
    const v1::SchemeCoverage* current = FindScheme(*coverage, scheme);
    v1::SchemeCoverage empty;
    empty.set_scheme(scheme);
    std::optional<v1::Target> target;
    if (auto it = targets->find(scheme); it != targets->end()) {
      target = it->second;
    }
    absl::StatusOr<v1::SchemeAchievement> evaluated =
        Evaluate(request.unit_code(), scheme, current != nullptr ? *current : empty,
                 coverage->as_of_month(), std::move(target));
    if (!evaluated.ok()) {
      return evaluated.status();
    }
    *achievement.add_schemes() = std::move(*evaluated);
  }
  return achievement;
}

absl::StatusOr<v1::ListLaggingUnitsResponse> TargetServiceImpl::DoListLaggingUnits(
    const v1::ListLaggingUnitsRequest& request) {
  if (absl::Status s = ValidateUnitCode(request.parent_code(), "parent_code"); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateLevel(request.level(), "level"); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateScheme(request.scheme(), "scheme"); !s.ok()) {
    return s;
  }
  absl::StatusOr<Period> period = ResolvePeriod(request.period());
  if (!period.ok()) {
    return period.status();
  }
  absl::StatusOr<int> page_size =
      PageSize(request.page_size(), kDefaultLaggingPage, kMaxLaggingPage);
  if (!page_size.ok()) {
    return page_size.status();
  }
  size_t offset = 0;
  if (!request.page_token().empty()) {
    absl::StatusOr<std::string> position = DecodeToken(request.page_token());
    if (!position.ok()) {
      return position.status();
    }
    if (!absl::SimpleAtoi(*position, &offset)) {
      return absl::InvalidArgumentError(
          absl::StrCat("page_token \"", request.page_token(), "\" is not valid"));
    }
  }

  // Every target of the scheme and year, by unit: one query rather than one per unit.
  TargetQuery query;
  query.year = period->year();
  query.scheme = request.scheme();
  absl::StatusOr<std::vector<v1::Target>> all_targets = store_->List(query);
  if (!all_targets.ok()) {
    return all_targets.status();
  }
  std::map<std::string, v1::Target> target_of;
  for (v1::Target& t : *all_targets) {
    target_of[t.unit_code()] = std::move(t);
  }
  absl::StatusOr<std::vector<v1::Coverage>> units = source_->ListCoverage(
      request.parent_code(), request.level(), period->ToString(), request.scheme());
  if (!units.ok()) {
    return units.status();
  }
  std::vector<v1::LaggingUnit> lagging;
  int with_target = 0;
  for (const v1::Coverage& unit : *units) {
    auto it = target_of.find(unit.unit().code());
    if (it == target_of.end()) {
      continue;
    }
    ++with_target;
    const v1::SchemeCoverage* current = FindScheme(unit, request.scheme());
    v1::SchemeCoverage empty;
    empty.set_scheme(request.scheme());
    absl::StatusOr<v1::SchemeAchievement> evaluated =
        Evaluate(unit.unit().code(), request.scheme(), current != nullptr ? *current : empty,
                 unit.as_of_month(), it->second);
    if (!evaluated.ok()) {
      return evaluated.status();
    }
    if (LaggingRank(evaluated->status()) > 2) {
      continue;
    }
    v1::LaggingUnit entry;
    *entry.mutable_unit() = unit.unit();
    entry.set_as_of_month(unit.as_of_month());
    *entry.mutable_achievement() = std::move(*evaluated);
    lagging.push_back(std::move(entry));
  }
  std::sort(lagging.begin(), lagging.end(), [](const v1::LaggingUnit& a, const v1::LaggingUnit& b) {
    return std::make_tuple(LaggingRank(a.achievement().status()),
                           a.achievement().achievement_percent(), a.unit().code()) <
           std::make_tuple(LaggingRank(b.achievement().status()),
                           b.achievement().achievement_percent(), b.unit().code());
  });
  v1::ListLaggingUnitsResponse response;
  response.set_total_size(static_cast<int32_t>(lagging.size()));
  response.set_units_with_target(with_target);
  const size_t end = std::min(lagging.size(), offset + static_cast<size_t>(*page_size));
  for (size_t i = offset; i < end; ++i) {
    *response.add_units() = std::move(lagging[i]);
  }
  if (end < lagging.size()) {
    response.set_next_page_token(EncodeToken(absl::StrCat(end)));
  }
  return response;
}

absl::StatusOr<v1::AllocateTargetResponse> TargetServiceImpl::DoAllocateTarget(
    const v1::AllocateTargetRequest& request) {
  if (absl::Status s = ValidateUnitCode(request.parent_code(), "parent_code"); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateScheme(request.scheme(), "scheme"); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateYear(request.year(), "year"); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateLevel(request.level(), "level"); !s.ok()) {
    return s;
  }
  if (!v1::AllocationMethod_IsValid(request.method()) ||
      request.method() == v1::ALLOCATION_METHOD_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        "method is required: ALLOCATION_METHOD_POPULATION, ALLOCATION_METHOD_LABOR_FORCE or "
        "ALLOCATION_METHOD_LAST_YEAR_PARTICIPANTS");
  }
  if (absl::Status s = ValidateText(request.request_id(), "request_id", !request.preview());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateText(request.assigned_by(), "assigned_by", false); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateText(request.decision_ref(), "decision_ref", false); !s.ok()) {
    return s;
  }
  v1::AllocateTargetRequest without_id = request;
  without_id.clear_request_id();
  const std::string content = absl::StrCat("AllocateTarget\n", Serialize(without_id));
  if (!request.preview()) {
    // A retry is answered from the store, even when the aggregation service is down.
    absl::StatusOr<std::optional<std::string>> earlier =
        store_->FindResponse(request.request_id(), content);
    if (!earlier.ok()) {
      return earlier.status();
    }
    if (earlier->has_value()) {
      v1::AllocateTargetResponse replay;
      if (!replay.ParseFromString(**earlier)) {
        return absl::InternalError("stored AllocateTarget response does not parse");
      }
      return replay;
    }
  }

  absl::StatusOr<std::optional<v1::Target>> parent =
      CurrentTarget(request.parent_code(), request.scheme(), request.year());
  if (!parent.ok()) {
    return parent.status();
  }
  if (!parent->has_value()) {
    return absl::NotFoundError(absl::StrCat("no target for parent_code ", request.parent_code(),
                                            ", scheme ", SchemeName(request.scheme()), ", year ",
                                            request.year(), ": set the parent's target first"));
  }
  const v1::Target& parent_target = **parent;
  if (parent_target.kind() != v1::TARGET_KIND_PARTICIPANTS) {
    return absl::FailedPreconditionError(
        absl::StrCat("the target of ", request.parent_code(),
                     " is a coverage rate; only participants "
                     "targets are split (give the units the same rate with SetTarget)"));
  }

  // The bases, from the base year (the year before the target's year).
  const int base_year = request.year() - 1;
  v1::Scheme listed_scheme = request.scheme();
  if (request.method() == v1::ALLOCATION_METHOD_POPULATION) {
    listed_scheme = v1::SCHEME_HEALTH;  // measured against the population
  } else if (request.method() == v1::ALLOCATION_METHOD_LABOR_FORCE) {
    listed_scheme = v1::SCHEME_COMPULSORY_SOCIAL;  // measured against the labour force
  }
  absl::StatusOr<std::vector<v1::Coverage>> units = source_->ListCoverage(
      request.parent_code(), request.level(), absl::StrCat(base_year), listed_scheme);
  if (!units.ok()) {
    return units.status();
  }
  std::sort(units->begin(), units->end(), [](const v1::Coverage& a, const v1::Coverage& b) {
    return a.unit().code() < b.unit().code();
  });
  std::vector<int64_t> bases;
  for (const v1::Coverage& unit : *units) {
    const v1::SchemeCoverage* c = FindScheme(unit, listed_scheme);
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
      bases.push_back(*people);
    } else {
      if (c == nullptr || !c->has_denominator()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "unit ", code, " has no ",
            request.method() == v1::ALLOCATION_METHOD_POPULATION ? "population" : "labour force",
            " for ", base_year, ": cannot allocate by it"));
      }
      bases.push_back(c->denominator());
    }
  }
  if (units->empty()) {
    return absl::FailedPreconditionError(absl::StrCat("no units under ", request.parent_code(),
                                                      " at the requested level in ", base_year));
  }
  absl::StatusOr<std::vector<int64_t>> parts =
      AllocateLargestRemainder(std::llround(parent_target.value()), bases);
  if (!parts.ok()) {
    return absl::Status(parts.status().code(),
                        absl::StrCat("allocating ", request.parent_code(),
                                     "'s target: ", parts.status().message()));
  }
  int64_t base_total = 0;
  for (int64_t b : bases) {
    base_total += b;
  }

  v1::AllocateTargetResponse response;
  *response.mutable_parent_target() = parent_target;
  response.set_base_total(base_total);
  int64_t allocated = 0;
  for (size_t i = 0; i < units->size(); ++i) {
    v1::AllocationPart* part = response.add_parts();
    *part->mutable_unit() = (*units)[i].unit();
    part->set_base(bases[i]);
    part->set_share_percent(static_cast<double>(bases[i]) * 100.0 /
                            static_cast<double>(base_total));
    v1::Target* t = part->mutable_target();
    t->set_unit_code((*units)[i].unit().code());
    t->set_scheme(request.scheme());
    t->set_year(request.year());
    t->set_kind(v1::TARGET_KIND_PARTICIPANTS);
    t->set_value(static_cast<double>((*parts)[i]));
    t->set_basis(parent_target.basis());
    t->set_assigned_by(request.assigned_by().empty() ? parent_target.assigned_by()
                                                     : request.assigned_by());
    t->set_decision_ref(request.decision_ref().empty() ? parent_target.decision_ref()
                                                       : request.decision_ref());
    allocated += (*parts)[i];
  }
  response.set_allocated_total(allocated);
  if (request.preview()) {
    return response;
  }
  absl::StatusOr<TargetStore::WriteResult> written = store_->WriteOnce(
      request.request_id(), content, [&](sql::Session& session) -> absl::StatusOr<std::string> {
        v1::AllocateTargetResponse stored = response;
        stored.set_stored(true);
        for (v1::AllocationPart& part : *stored.mutable_parts()) {
          absl::StatusOr<v1::Target> t = store_->InsertRevision(session, part.target());
          if (!t.ok()) {
            return t.status();
          }
          *part.mutable_target() = std::move(*t);
        }
        return Serialize(stored);
      });
  if (!written.ok()) {
    return written.status();
  }
  v1::AllocateTargetResponse stored;
  if (!stored.ParseFromString(written->response)) {
    return absl::InternalError("stored AllocateTarget response does not parse");
  }
  log::Info("target allocated", {{"parent", request.parent_code()},
                                 {"scheme", SchemeName(request.scheme())},
                                 {"year", absl::StrCat(request.year())},
                                 {"units", absl::StrCat(stored.parts_size())},
                                 {"request_id", request.request_id()}});
  return stored;
}

absl::StatusOr<v1::ValidateAllocationResponse> TargetServiceImpl::DoValidateAllocation(
    const v1::ValidateAllocationRequest& request) {
  if (absl::Status s = ValidateUnitCode(request.parent_code(), "parent_code"); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateScheme(request.scheme(), "scheme"); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateYear(request.year(), "year"); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateLevel(request.level(), "level"); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::optional<v1::Target>> parent =
      CurrentTarget(request.parent_code(), request.scheme(), request.year());
  if (!parent.ok()) {
    return parent.status();
  }
  absl::StatusOr<std::vector<v1::Coverage>> units = source_->ListCoverage(
      request.parent_code(), request.level(), absl::StrCat(request.year()), request.scheme());
  if (!units.ok()) {
    return units.status();
  }
  TargetQuery query;
  query.year = request.year();
  query.scheme = request.scheme();
  absl::StatusOr<std::vector<v1::Target>> all_targets = store_->List(query);
  if (!all_targets.ok()) {
    return all_targets.status();
  }
  std::map<std::string, v1::Target> target_of;
  for (v1::Target& t : *all_targets) {
    target_of[t.unit_code()] = std::move(t);
  }
  std::vector<std::string> codes;
  for (const v1::Coverage& unit : *units) {
    codes.push_back(unit.unit().code());
  }
  std::sort(codes.begin(), codes.end());

  v1::ValidateAllocationResponse response;
  double total = 0;
  for (const std::string& code : codes) {
    auto it = target_of.find(code);
    if (it == target_of.end()) {
      response.add_units_without_target(code);
      response.add_problems(absl::StrCat("unit ", code, " has no target"));
      continue;
    }
    const v1::Target& child = it->second;
    *response.add_child_targets() = child;
    if (parent->has_value() &&
        (child.kind() != (*parent)->kind() || child.basis() != (*parent)->basis() ||
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
  if (!parent->has_value()) {
    response.add_problems(absl::StrCat("parent ", request.parent_code(), " has no target for ",
                                       SchemeName(request.scheme()), " in ", request.year()));
    response.set_consistent(false);
    return response;
  }
  *response.mutable_parent_target() = **parent;
  if ((*parent)->kind() != v1::TARGET_KIND_PARTICIPANTS) {
    response.add_problems(absl::StrCat("parent ", request.parent_code(),
                                       "'s target is a coverage rate; rates do not add up"));
    response.set_consistent(false);
    return response;
  }
  response.set_difference(total - (*parent)->value());
  if (response.difference() != 0) {
    response.add_problems(absl::StrCat(
        "the units' targets add up to ", static_cast<int64_t>(std::llround(total)),
        " but the parent's target is ", static_cast<int64_t>(std::llround((*parent)->value())),
        " (difference ", static_cast<int64_t>(std::llround(response.difference())), ")"));
  }
  response.set_consistent(response.problems_size() == 0);
  return response;
}

absl::StatusOr<v1::Report> TargetServiceImpl::DoGetReport(const v1::GetReportRequest& request) {
  v1::GetAchievementRequest achievement_request;
  achievement_request.set_unit_code(request.unit_code());
  achievement_request.set_period(request.period());
  absl::StatusOr<v1::Achievement> achievement = DoGetAchievement(achievement_request);
  if (!achievement.ok()) {
    return achievement.status();
  }
  v1::Report report;
  report.set_text(WriteReportVi(*achievement));
  *report.mutable_achievement() = std::move(*achievement);
  return report;
}

grpc::Status TargetServiceImpl::SetTarget(grpc::ServerContext* context,
                                          const v1::SetTargetRequest* request,
                                          v1::Target* response) {
  COVTRACK_REQUIRE(access_.RequireUnits(
      *context, Role::kPlanner,
      {access::UnitRef::InYear(request->target().unit_code(), request->target().year())}));
  return Answer(DoSetTarget(*request), response);
}

grpc::Status TargetServiceImpl::ListTargets(grpc::ServerContext* context,
                                            const v1::ListTargetsRequest* request,
                                            v1::ListTargetsResponse* response) {
  COVTRACK_REQUIRE(access_.Require(*context, Role::kReader));
  return Answer(DoListTargets(*request), response);
}

grpc::Status TargetServiceImpl::GetAchievement(grpc::ServerContext* context,
                                               const v1::GetAchievementRequest* request,
                                               v1::Achievement* response) {
  COVTRACK_REQUIRE(access_.Require(*context, Role::kReader));
  return Answer(DoGetAchievement(*request), response);
}

grpc::Status TargetServiceImpl::ListLaggingUnits(grpc::ServerContext* context,
                                                 const v1::ListLaggingUnitsRequest* request,
                                                 v1::ListLaggingUnitsResponse* response) {
  COVTRACK_REQUIRE(access_.Require(*context, Role::kReader));
  return Answer(DoListLaggingUnits(*request), response);
}

grpc::Status TargetServiceImpl::AllocateTarget(grpc::ServerContext* context,
                                               const v1::AllocateTargetRequest* request,
                                               v1::AllocateTargetResponse* response) {
  // A preview stores nothing: reading is enough. Storing writes targets for the parent's
  // units, which lie inside the parent: the parent must lie inside the jurisdiction.
  COVTRACK_REQUIRE(request->preview()
                       ? access_.Require(*context, Role::kReader)
                       : access_.RequireUnits(*context, Role::kPlanner,
                                              {access::UnitRef::InYear(request->parent_code(),
                                                                       request->year())}));
  return Answer(DoAllocateTarget(*request), response);
}

grpc::Status TargetServiceImpl::ValidateAllocation(grpc::ServerContext* context,
                                                   const v1::ValidateAllocationRequest* request,
                                                   v1::ValidateAllocationResponse* response) {
  COVTRACK_REQUIRE(access_.Require(*context, Role::kReader));
  return Answer(DoValidateAllocation(*request), response);
}

grpc::Status TargetServiceImpl::GetReport(grpc::ServerContext* context,
                                          const v1::GetReportRequest* request,
                                          v1::Report* response) {
  COVTRACK_REQUIRE(access_.Require(*context, Role::kReader));
  return Answer(DoGetReport(*request), response);
}

}  // namespace covtrack::targets
