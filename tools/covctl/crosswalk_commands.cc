// covctl crosswalk import and covctl crosswalk list: the links between unit versions across a
// boundary change (common.proto, CrosswalkLink), kept by ingestion.

#include "absl/strings/str_cat.h"
#include "common/period.h"
#include "tools/covctl/command_handlers.h"
#include "tools/covctl/crosswalk_csv.h"
#include "tools/covctl/upload.h"

namespace covtrack::covctl {

int Commands::CrosswalkImport(const std::vector<std::string>& args) {
  const std::string& path = args[0];
  if (!options_.effective_date.empty() && !ValidateDate(options_.effective_date).ok()) {
    return UsageFailed(absl::InvalidArgumentError(absl::StrCat(
        "--effective_date \"", options_.effective_date, "\" is not a date (YYYY-MM-DD)")));
  }
  int exit_code = kExitOk;
  auto file = ReadCsv(path, exit_code);
  if (!file) {
    return exit_code;
  }
  const size_t rows = file->second.rows.size();
  err_ << path << ": read " << GroupThousands(static_cast<int64_t>(rows)) << " rows\n";
  sampledata::ParsedRows<v1::CrosswalkLink> parsed =
      ParseCrosswalkRows(file->second, options_.effective_date);
  if (ReportBadRows(path, parsed, rows)) {
    return kExitRejected;
  }
  // One request, so that the map is stored whole or not at all.
  if (parsed.items.size() > kMaxCrosswalkLinks) {
    err_ << path << ": " << GroupThousands(static_cast<int64_t>(parsed.items.size()))
         << " links, more than the " << GroupThousands(kMaxCrosswalkLinks)
         << " one import takes; split the file by effective date or level; nothing was sent\n";
    return kExitRejected;
  }
  CrosswalkCounts counts = CountShares(parsed.items);
  v1::ImportCrosswalkRequest request;
  request.set_source(options_.source);
  request.set_request_id(BatchRequestId(
      UploadId(file->first, absl::StrCat("crosswalk;effective_date=", options_.effective_date,
                                         ";source=", options_.source)),
      0));
  for (v1::CrosswalkLink& link : parsed.items) {
    *request.add_links() = std::move(link);
  }
  err_ << path << ": sending " << GroupThousands(request.links_size()) << " links ("
       << GroupThousands(counts.whole) << " whole, " << GroupThousands(counts.with_share)
       << " with a share below 1, " << GroupThousands(counts.share_unknown)
       << " with the share unknown) in one ImportCrosswalk, request id " << request.request_id()
       << "\n";
  auto stub = Ingestion();
  grpc::ClientContext context;
  SetDeadline(context);
  v1::ImportCrosswalkResponse response;
  grpc::Status status = stub->ImportCrosswalk(&context, request, &response);
  if (!status.ok()) {
    // The message names links[i] of the request, which is the i-th good row.
    if (std::optional<int> line = LineOfServerError(status.error_message(), "", "links",
                                                    parsed.lines.size(), parsed.lines)) {
      err_ << path << ":" << *line << ": rejected by the server: " << status.error_message()
           << "\n";
    }
    int code = RpcFailed(status, "crosswalk import", options_.server);
    err_ << path << ": nothing was stored (an import is all or nothing)\n";
    return code;
  }
  Emit(response, [&](bool people) { return CrosswalkImportTable(response, people); });
  return kExitOk;
}

int Commands::CrosswalkList(const std::vector<std::string>& args) {
  if (!options_.effective_date.empty() && !ValidateDate(options_.effective_date).ok()) {
    return UsageFailed(absl::InvalidArgumentError(absl::StrCat(
        "--effective_date \"", options_.effective_date, "\" is not a date (YYYY-MM-DD)")));
  }
  if (!options_.code.empty() && (!options_.from.empty() || !options_.to.empty())) {
    return UsageFailed(absl::InvalidArgumentError("give --code, or --from and/or --to"));
  }
  v1::ListCrosswalkRequest request;
  // --code: the links from or to the code (the service answers links matching either filter).
  request.set_from_code(options_.code.empty() ? options_.from : options_.code);
  request.set_to_code(options_.code.empty() ? options_.to : options_.code);
  request.set_effective_date(options_.effective_date);
  request.set_page_size(10000);
  v1::ListCrosswalkResponse all;
  grpc::Status status = ReadAllPages(
      *Ingestion(), &v1::IngestionService::Stub::ListCrosswalk, request,
      [](const v1::ListCrosswalkResponse& page, v1::ListCrosswalkResponse& all) {
        all.mutable_links()->MergeFrom(page.links());
      },
      all);
  if (!status.ok()) {
    return RpcFailed(status, "crosswalk list", options_.server);
  }
  std::vector<v1::CrosswalkLink> links(all.links().begin(), all.links().end());
  Emit(all, [&](bool people) { return CrosswalkTable(links, people); });
  return kExitOk;
}

}  // namespace covtrack::covctl
