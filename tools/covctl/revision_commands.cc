// covctl revisions: the audit trail of a unit's reported figures, oldest first.

#include "absl/strings/str_cat.h"
#include "common/period.h"
#include "tools/covctl/command_handlers.h"

namespace covtrack::covctl {

int Commands::Revisions(const std::vector<std::string>& args) {
  v1::ListRevisionsRequest request;
  request.set_unit_code(args[0]);
  if (!options_.month.empty()) {
    absl::StatusOr<Month> month = Month::Parse(options_.month);
    if (!month.ok()) {
      return UsageFailed(absl::InvalidArgumentError(
          absl::StrCat("--month \"", options_.month, "\" is not YYYY-MM")));
    }
    request.set_month(month->ToString());
  }
  COVCTL_ASSIGN_OR_USAGE(scheme, ParseOptionalScheme(options_.scheme, "--scheme"));
  request.set_scheme(scheme);
  request.set_page_size(1000);
  v1::ListRevisionsResponse all;
  grpc::Status status = ReadAllPages(
      *Ingestion(), &v1::IngestionService::Stub::ListRevisions, request,
      [](const v1::ListRevisionsResponse& page, v1::ListRevisionsResponse& all) {
        all.mutable_revisions()->MergeFrom(page.revisions());
      },
      all);
  if (!status.ok()) {
    return RpcFailed(status, "revisions", options_.server);
  }
  std::vector<v1::Revision> revisions(all.revisions().begin(), all.revisions().end());
  Emit(
      all, [&](bool people) { return RevisionsTable(revisions, people); },
      absl::StrCat("Revisions of unit ", args[0], ", oldest first"));
  return kExitOk;
}

}  // namespace covtrack::covctl
