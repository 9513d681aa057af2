#pragma once

// Every RPC handler asks the Authorizer before it acts. With an access policy (common/access/
// access_policy.h), the caller is the client certificate's common name; a caller without the
// role, or writing for a unit outside its jurisdiction, gets PERMISSION_DENIED naming the
// identity and the unit. Each denial is logged and counted (covtrack_access_denied_total).
// Without a policy every caller may do everything: for plaintext local runs only, and the
// service says so loudly when it starts.

#include <grpcpp/grpcpp.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/access/access_policy.h"
#include "covtrack/v1/common.pb.h"

namespace covtrack::access {

// Every version of the units holding `code` (empty when none ever did). The ingestion service
// reads its own store; the others ask ingestion's ListAdminUnits.
using UnitVersions =
    std::function<absl::StatusOr<std::vector<v1::AdminUnit>>(const std::string& code)>;

// A unit as a write names it, with the day its place in the hierarchy is read on: the last
// day of a record's month, or for a yearly figure or target the unit holding the code on 31
// December (else the last unit that held it during the year): YearlyFigureHolder and
// YearlyFigureDay in common/hierarchy/hierarchy.h, the rule of common.proto's DenominatorRecord.
// UnitVersions read from the ingestion service's ListAdminUnits over `channel` (a reader's
// call), each call bounded by `deadline`.
UnitVersions IngestionUnitVersions(std::shared_ptr<grpc::Channel> channel, absl::Duration deadline);

struct UnitRef {
  std::string code;
  std::string day;  // "YYYY-MM-DD"; empty when `year` is set
  int year = 0;

  static UnitRef OnDay(std::string code, std::string day) {
    return {std::move(code), std::move(day), 0};
  }
  static UnitRef InYear(std::string code, int year) { return {std::move(code), "", year}; }
};

class Authorizer {
 public:
  // `policy` empty: every caller has every role. `units` is used only to place units in the
  // hierarchy for jurisdiction checks.
  Authorizer(std::optional<AccessPolicy> policy, UnitVersions units);

  bool enforcing() const { return policy_.has_value(); }

  // OK when the caller has `role`.
  grpc::Status Require(const grpc::ServerContextBase& context, Role role) const;
  // OK when the caller has `role` and every unit lies inside its jurisdiction on its day.
  grpc::Status RequireUnits(const grpc::ServerContextBase& context, Role role,
                            const std::vector<UnitRef>& units) const;

 private:
  // The caller's principal, or the denial.
  absl::StatusOr<const Principal*> Caller(const grpc::ServerContextBase& context, Role role,
                                          std::string* identity) const;
  grpc::Status Deny(const std::string& identity, Role role, const std::string& why) const;

  std::optional<AccessPolicy> policy_;
  UnitVersions units_;
};

// Why not every unit lies inside `jurisdiction` (unit codes; "VN" is everything) on its day:
// nullopt when all do, else the reason naming the first unit outside it (a code no unit holds
// then is outside). An error when the units could not be read, with the reader's code kept
// (ingestion refusing the reader stays PERMISSION_DENIED) except that a read that ran out of
// its own deadline is UNAVAILABLE. Authorizer::RequireUnits with the caller's jurisdiction.
absl::StatusOr<std::optional<std::string>> OutsideJurisdiction(
    const std::vector<std::string>& jurisdiction, const std::vector<UnitRef>& units,
    const UnitVersions& versions);

}  // namespace covtrack::access

// In a handler: returns the denial of an Authorizer check from the handler.
#define COVTRACK_REQUIRE(check)                          \
  do {                                                   \
    if (grpc::Status denial_ = (check); !denial_.ok()) { \
      return denial_;                                    \
    }                                                    \
  } while (0)
