#include "common/access/authorizer.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/call_context.h"
#include "common/client.h"
#include "common/hierarchy/hierarchy.h"
#include "common/log.h"
#include "common/metrics/metrics.h"
#include "common/server.h"
#include "common/status/status.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"

namespace covtrack::access {
namespace {

metrics::Counter& DeniedCounter() {
  static metrics::Counter& counter = metrics::Registry::Global().AddCounter(
      "covtrack_access_denied_total", "Calls refused by the access policy, by method and role",
      {"method", "role"});
  return counter;
}

// Places units in the hierarchy for one call, reading each code's versions once.
class Placer {
 public:
  explicit Placer(const UnitVersions& units) : units_(units) {}

  absl::StatusOr<const std::vector<v1::AdminUnit>*> Versions(const std::string& code) {
    auto it = cache_.find(code);
    if (it == cache_.end()) {
      absl::StatusOr<std::vector<v1::AdminUnit>> versions = units_(code);
      if (!versions.ok()) {
        return versions.status();
      }
      it = cache_.emplace(code, *std::move(versions)).first;
    }
    return &it->second;
  }

  // The unit version `ref` names and the day it is placed on; nullptr when no unit holds the
  // code then. A yearly figure's unit is YearlyFigureHolder's (common/hierarchy).
  absl::StatusOr<const v1::AdminUnit*> Resolve(const UnitRef& ref, std::string* day) {
    absl::StatusOr<const std::vector<v1::AdminUnit>*> versions = Versions(ref.code);
    if (!versions.ok()) {
      return versions.status();
    }
    if (ref.year == 0) {
      *day = ref.day;
      return VersionOn(**versions, *day);
    }
    const v1::AdminUnit* holder = YearlyFigureHolder(**versions, ref.year);
    *day = holder != nullptr ? YearlyFigureDay(*holder, ref.year) : YearEnd(ref.year);
    return holder;
  }

  // Whether `unit` (valid on `day`) is one of `roots` or lies under one.
  absl::StatusOr<bool> Within(const v1::AdminUnit& unit, const std::string& day,
                              const std::vector<std::string>& roots) {
    const v1::AdminUnit* current = &unit;
    for (int depth = 0; depth < 8; ++depth) {  // province > district > commune, with room
      for (const std::string& root : roots) {
        if (root == current->code() || root == kNational) {
          return true;
        }
      }
      const std::string parent = ParentCodeOf(*current);
      if (parent == kNational) {
        return false;
      }
      absl::StatusOr<const std::vector<v1::AdminUnit>*> versions = Versions(parent);
      if (!versions.ok()) {
        return versions.status();
      }
      current = VersionOn(**versions, day);
      if (current == nullptr) {
        return false;
      }
    }
    return false;
  }

 private:
  const UnitVersions& units_;
  absl::flat_hash_map<std::string, std::vector<v1::AdminUnit>> cache_;
};

}  // namespace

UnitVersions IngestionUnitVersions(std::shared_ptr<grpc::Channel> channel,
                                   absl::Duration deadline) {
  std::shared_ptr<v1::IngestionService::Stub> stub = v1::IngestionService::NewStub(channel);
  return [stub, deadline](const std::string& code) -> absl::StatusOr<std::vector<v1::AdminUnit>> {
    v1::ListAdminUnitsRequest request;
    request.set_code(code);
    request.set_page_size(10000);  // a code has a handful of versions
    v1::ListAdminUnitsResponse response;
    grpc::ClientContext context;
    SetCallDeadline(context, deadline);  // never more than the call being checked has left
    grpc::Status status = stub->ListAdminUnits(&context, request, &response);
    if (!status.ok()) {
      // The code stays what ingestion (or the channel) said.
      return absl::Status(FromGrpcStatus(status).code(),
                          absl::StrCat("ingestion ListAdminUnits: ", status.error_message()));
    }
    return std::vector<v1::AdminUnit>(response.units().begin(), response.units().end());
  };
}

Authorizer::Authorizer(std::optional<AccessPolicy> policy, UnitVersions units)
    : policy_(std::move(policy)), units_(std::move(units)) {}

grpc::Status Authorizer::Deny(const std::string& identity, Role role,
                              const std::string& why) const {
  const CallInfo* call = CurrentCall();
  const std::string method = call != nullptr ? call->method : "";
  DeniedCounter().Add({method, std::string(RoleName(role))});
  log::Warn("access denied", {{"identity", identity},
                              {"method", method},
                              {"role", std::string(RoleName(role))},
                              {"why", why}});
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      absl::StrCat("identity \"", identity, "\" ", why));
}

absl::StatusOr<const Principal*> Authorizer::Caller(const grpc::ServerContextBase& context,
                                                    Role role, std::string* identity) const {
  *identity = AuthenticatedName(context);
  if (identity->empty()) {
    *identity = context.peer();
    return absl::PermissionDeniedError("has no verified client certificate");
  }
  const Principal* principal = policy_->Find(*identity);
  if (principal == nullptr) {
    return absl::PermissionDeniedError("is not in the access policy");
  }
  if (!principal->Has(role)) {
    return absl::PermissionDeniedError(
        absl::StrCat("does not have the role \"", RoleName(role), "\" this call needs"));
  }
  return principal;
}

grpc::Status Authorizer::Require(const grpc::ServerContextBase& context, Role role) const {
  if (!enforcing()) {
    return grpc::Status::OK;
  }
  std::string identity;
  absl::StatusOr<const Principal*> caller = Caller(context, role, &identity);
  if (!caller.ok()) {
    return Deny(identity, role, std::string(caller.status().message()));
  }
  return grpc::Status::OK;
}

grpc::Status Authorizer::RequireUnits(const grpc::ServerContextBase& context, Role role,
                                      const std::vector<UnitRef>& units) const {
  if (!enforcing()) {
    return grpc::Status::OK;
  }
  std::string identity;
  absl::StatusOr<const Principal*> caller = Caller(context, role, &identity);
  if (!caller.ok()) {
    return Deny(identity, role, std::string(caller.status().message()));
  }
  const Principal& principal = **caller;
  if (principal.National()) {
    return grpc::Status::OK;
  }
  absl::StatusOr<std::optional<std::string>> outside =
      OutsideJurisdiction(principal.jurisdiction, units, units_);
  if (!outside.ok()) {
    LogIfBroken(outside.status());
    return ToGrpcStatus(outside.status());
  }
  if (outside->has_value()) {
    return Deny(identity, role, **outside);
  }
  return grpc::Status::OK;
}

absl::StatusOr<std::optional<std::string>> OutsideJurisdiction(
    const std::vector<std::string>& jurisdiction, const std::vector<UnitRef>& units,
    const UnitVersions& versions) {
  const std::string roots = absl::StrJoin(jurisdiction, ", ");
  Placer placer(versions);
  for (const UnitRef& ref : units) {
    std::string day;
    absl::StatusOr<const v1::AdminUnit*> unit = placer.Resolve(ref, &day);
    absl::StatusOr<bool> within = unit.ok() && *unit != nullptr
                                      ? placer.Within(**unit, day, jurisdiction)
                                      : absl::StatusOr<bool>(false);
    if (!unit.ok() || !within.ok()) {
      const absl::Status error = unit.ok() ? within.status() : unit.status();
      // The reader's code stays (a reader refused by ingestion is PERMISSION_DENIED, not a
      // reason to retry); only a call that ran out of its own deadline is UNAVAILABLE, since the
      // caller's deadline did not expire.
      const absl::StatusCode code = error.code() == absl::StatusCode::kDeadlineExceeded
                                        ? absl::StatusCode::kUnavailable
                                        : error.code();
      return absl::Status(code, absl::StrCat("cannot check the jurisdiction of unit \"", ref.code,
                                             "\": ", error.message()));
    }
    if (*unit == nullptr) {
      return absl::StrCat("may not write for unit \"", ref.code, "\": no unit holds that code ",
                          ref.year != 0 ? absl::StrCat("in ", ref.year) : "on " + day,
                          ", so it is not in its jurisdiction (", roots, ")");
    }
    if (!*within) {
      return absl::StrCat("may not write for unit \"", ref.code, "\" (", (*unit)->name(),
                          "): it is outside its jurisdiction (", roots, ") on ", day);
    }
  }
  return std::nullopt;
}

}  // namespace covtrack::access
