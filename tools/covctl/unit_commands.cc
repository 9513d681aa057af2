// covctl units import and covctl units list: the administrative units in ingestion.

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "common/domain.h"
#include "common/period.h"
#include "tools/covctl/command_handlers.h"
#include "tools/covctl/upload.h"

namespace covtrack::covctl {

using sampledata::CsvTable;
using sampledata::ParsedRows;

int Commands::UnitsImport(const std::vector<std::string>& args) {
  const std::string& path = args[0];
  int exit_code = kExitOk;
  auto file = ReadCsv(path, exit_code);
  if (!file) {
    return exit_code;
  }
  for (const std::string* date : {&options_.valid_from, &options_.valid_to}) {
    if (!date->empty() && !ValidateDate(*date).ok()) {
      err_ << "covctl: --valid_from/--valid_to \"" << *date << "\" is not a date (YYYY-MM-DD)\n";
      return kExitUsage;
    }
  }
  ParsedRows<v1::AdminUnit> parsed =
      sampledata::ParseUnitRows(file->second, {options_.valid_from, options_.valid_to});
  if (ReportBadRows(path, parsed, file->second.rows.size())) {
    return kExitRejected;
  }
  // Parents before children, so that every batch's parents exist when it arrives.
  std::vector<size_t> order(parsed.items.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return parsed.items[a].level() < parsed.items[b].level();
  });
  size_t batch_size = static_cast<size_t>(options_.batch_size);
  std::string upload_id =
      UploadId(file->first, absl::StrCat("units;batch=", batch_size, ";from=", options_.valid_from,
                                         ";to=", options_.valid_to));
  std::vector<int> sorted_lines;
  for (size_t i : order) {
    sorted_lines.push_back(parsed.lines[i]);
  }
  auto stub = Ingestion();
  v1::ImportAdminUnitsResponse total;
  Progress progress(err_, options_.progress, "importing units", order.size());
  size_t batches = (order.size() + batch_size - 1) / batch_size;
  for (size_t batch = 0; batch < batches; ++batch) {
    v1::ImportAdminUnitsRequest request;
    request.set_request_id(BatchRequestId(upload_id, batch));
    size_t end = std::min(order.size(), (batch + 1) * batch_size);
    for (size_t k = batch * batch_size; k < end; ++k) {
      *request.add_units() = parsed.items[order[k]];
    }
    grpc::ClientContext context;
    SetDeadline(context);
    v1::ImportAdminUnitsResponse response;
    grpc::Status status = stub->ImportAdminUnits(&context, request, &response);
    if (!status.ok()) {
      progress.Finish();
      // The message names units[i] of this request.
      std::string message = absl::StrCat(request.request_id(), " ", status.error_message());
      if (std::optional<int> line =
              LineOfServerError(message, upload_id, "units", batch_size, sorted_lines)) {
        err_ << path << ":" << *line << ": rejected by the server: " << status.error_message()
             << "\n";
      }
      int code = RpcFailed(status, "units import", options_.server);
      err_ << path << ": " << batch << " of " << batches
           << " batches were committed; run the same command again to resume\n";
      return code;
    }
    total.set_units_accepted(total.units_accepted() + response.units_accepted());
    total.set_units_changed(total.units_changed() + response.units_changed());
    total.set_change_seq(std::max(total.change_seq(), response.change_seq()));
    total.set_replayed(batch == 0 ? response.replayed() : total.replayed() && response.replayed());
    progress.Update(end);
  }
  progress.Finish();
  Emit(total, [&](bool people) { return UnitsImportTable(total, people); });
  return kExitOk;
}

int Commands::UnitsList(const std::vector<std::string>& args) {
  v1::ListAdminUnitsRequest request;
  request.set_parent_code(options_.parent);
  request.set_as_of(options_.as_of);
  request.set_code(options_.code);
  COVCTL_ASSIGN_OR_USAGE(level, ParseOptionalLevel(options_.level));
  request.set_level(level);
  request.set_page_size(5000);
  v1::ListAdminUnitsResponse all;
  grpc::Status status = ReadAllPages(
      *Ingestion(), &v1::IngestionService::Stub::ListAdminUnits, request,
      [](const v1::ListAdminUnitsResponse& page, v1::ListAdminUnitsResponse& all) {
        all.mutable_units()->MergeFrom(page.units());
      },
      all);
  if (!status.ok()) {
    return RpcFailed(status, "units list", options_.server);
  }
  std::vector<v1::AdminUnit> units(all.units().begin(), all.units().end());
  Emit(all, [&](bool people) { return UnitsTable(units, people); });
  return kExitOk;
}

}  // namespace covtrack::covctl
