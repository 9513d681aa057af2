#pragma once

// The checks of an ImportCrosswalk against what the store holds: each link's two unit versions
// exist and meet at its effective date (the predecessor's version ends on it, the successor's
// is valid on it), the shares of each predecessor version add up, and the links (stored and
// new together) form no cycle. They run inside the import's transaction, on the versions and
// links read there, so they check what the import commits against. `request` has passed
// ValidateImportCrosswalk (request_validation.h).

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "covtrack/v1/ingestion_service.pb.h"
#include "services/ingestion/admin_unit_table.h"

namespace covtrack::ingestion {

// Two shares of one predecessor "add up to 1" when they are within this of it.
inline constexpr double kShareTolerance = 1e-9;
// The longest path of links the cycle search walks before it refuses the import (a unit
// reformed this many times over is not a real history). The search walks each unit version
// once, so a path reached midway from an earlier start is not walked again from its head.
inline constexpr int kMaxChainLength = 1000;

// The links of `request`, in its order, each resolved to its versions (from_valid_from and
// to_valid_from set), once every check passes against `versions` (holding at least the
// request's codes) and `stored` (every stored link). INVALID_ARGUMENT otherwise, naming
// links[i].field and the codes of up to kMaxReportedProblems problems.
absl::StatusOr<std::vector<v1::CrosswalkLink>> CheckCrosswalk(
    const v1::ImportCrosswalkRequest& request, const VersionsByCode& versions,
    const std::vector<v1::CrosswalkLink>& stored);

}  // namespace covtrack::ingestion
