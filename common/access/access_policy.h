#pragma once

// Who may do what: the access policy file (--access_policy) maps an authenticated identity —
// the common name (CN) of the client certificate — to roles and a jurisdiction.
//
//   principals:
//     - name: bhxh-tien-giang       # the client certificate's CN
//       roles: [reader, reporter, planner]
//       jurisdiction: ["82"]        # these units and every unit under them; "VN": the country
//     - name: aggregation
//       roles: [reader]
//
// Roles:
//   reader    every read RPC, everywhere (coverage figures are not secret between offices)
//   reporter  SubmitReport and StreamReports, for units inside the jurisdiction
//   planner   SetTarget and AllocateTarget (when it stores), for units inside the jurisdiction
//   admin     ImportAdminUnits and ImportCrosswalk (the catalogue and its crosswalk are national)
// Roles do not imply one another: an administrator who also reads is given both.

#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace covtrack::access {

enum class Role { kReader, kReporter, kPlanner, kAdmin };

absl::string_view RoleName(Role role);

// The jurisdiction that covers every unit.
inline constexpr char kNational[] = "VN";

struct Principal {
  std::string name;
  std::set<Role> roles;
  std::vector<std::string> jurisdiction;  // unit codes, or {"VN"}

  bool Has(Role role) const { return roles.count(role) > 0; }
  bool National() const;
};

class AccessPolicy {
 public:
  // Parses and checks the whole file: unknown keys, roles or duplicate names, a reporter or
  // planner without a jurisdiction, and malformed unit codes are errors that name the
  // principal and the line. `origin` (the file name) starts every message.
  static absl::StatusOr<AccessPolicy> Parse(absl::string_view text, absl::string_view origin);
  static absl::StatusOr<AccessPolicy> Load(const std::string& path);

  const Principal* Find(absl::string_view name) const;
  size_t size() const { return principals_.size(); }

 private:
  absl::flat_hash_map<std::string, Principal> principals_;
};

}  // namespace covtrack::access
