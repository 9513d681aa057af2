// SetTarget's operation: a target's next revision, stored once per request_id (a retry with the
// same content answers the first answer; the same id with other content is ALREADY_EXISTS).

#include "absl/strings/str_cat.h"
#include "common/domain.h"
#include "common/log.h"
#include "common/status/status.h"
#include "services/targets/request_validation.h"
#include "services/targets/target_service.h"

namespace covtrack::targets {

absl::StatusOr<v1::Target> TargetServiceImpl::StoreTarget(const v1::SetTargetRequest& request) {
  ASSIGN_OR_RETURN(v1::Target target, NormalizeTarget(request.target()));
  // Whether the unit existed in the target's year, and which unit a date names, are asked of
  // ingestion's unit versions.
  ReformReads reads(units_.get(), store_.get());
  RETURN_IF_ERROR(RequireUnitInYear(reads, target.unit_code(), target.year(), "target.unit_code"));
  ASSIGN_OR_RETURN(
      *target.mutable_unit_as_of(),
      NormalizeUnitAsOf(reads, target.unit_code(), target.unit_as_of(), target.year()));
  const std::string content = absl::StrCat("SetTarget\n", target.SerializeAsString());
  ASSIGN_OR_RETURN(const TargetStore::WriteResult written,
                   store_->WriteOnce(request.request_id(), content,
                                     [&](sql::Session& session) -> absl::StatusOr<std::string> {
                                       ASSIGN_OR_RETURN(const v1::Target stored,
                                                        store_->InsertRevision(session, target));
                                       return stored.SerializeAsString();
                                     }));
  v1::Target stored;
  if (!stored.ParseFromString(written.response)) {
    return absl::InternalError("stored SetTarget response does not parse");
  }
  if (!written.replayed) {
    log::Info("target stored", {{"unit", stored.unit_code()},
                                {"unit_as_of", stored.unit_as_of()},
                                {"scheme", SchemeName(stored.scheme())},
                                {"year", absl::StrCat(stored.year())},
                                {"revision", absl::StrCat(stored.revision())},
                                {"request_id", request.request_id()}});
  }
  return stored;
}

}  // namespace covtrack::targets
