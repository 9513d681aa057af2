#pragma once

// Where the target service reads the administrative hierarchy through time: the versions of a
// code (to tell which unit a target is for: Target.unit_as_of, the yearly figure rule) and the
// crosswalk links into a unit (to re-express a new unit's target from its predecessors'). Both
// come from the ingestion service; an interface so that the service's logic is unit-tested with
// a fake.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "covtrack/v1/common.pb.h"

namespace covtrack::targets {

class UnitSource {
 public:
  virtual ~UnitSource() = default;

  // Every version of the units that ever held `code`, in any order; empty when none did.
  virtual absl::StatusOr<std::vector<v1::AdminUnit>> Versions(const std::string& code) = 0;

  // The crosswalk links whose successor has `code` (ListCrosswalk to_code), every page, in
  // ingestion's order (effective_date, from_code, to_code).
  virtual absl::StatusOr<std::vector<v1::CrosswalkLink>> LinksInto(const std::string& code) = 0;
};

// The ingestion service over gRPC (`channel` leads to `address`, which only the log names).
// Each call gets at most `deadline`, and never more than the served call has left; paging
// stops when the served call ends. A call that cannot reach the service is UNAVAILABLE; other
// errors keep their code (upstream.h, Upstream::Check).
std::unique_ptr<UnitSource> NewIngestionUnitSource(std::shared_ptr<grpc::Channel> channel,
                                                   std::string address, absl::Duration deadline);

}  // namespace covtrack::targets
