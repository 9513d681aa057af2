#include "services/targets/unit_source.h"

#include "absl/strings/str_cat.h"
#include "common/status/status.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "services/targets/upstream.h"

namespace covtrack::targets {
namespace {

// A code has a handful of versions; a unit a few dozen links into it (a merged commune), a
// merged province a few.
constexpr int kVersionsPageSize = 1000;
constexpr int kLinksPageSize = 1000;
// A runaway paging loop (a server that keeps answering the same token) ends here.
constexpr int kMaxPages = 100;

class IngestionUnitSource : public UnitSource {
 public:
  IngestionUnitSource(std::shared_ptr<grpc::Channel> channel, std::string address,
                      absl::Duration deadline)
      : upstream_{"ingestion", std::move(address), deadline},
        stub_(v1::IngestionService::NewStub(channel)) {}

  absl::StatusOr<std::vector<v1::AdminUnit>> Versions(const std::string& code) override {
    std::vector<v1::AdminUnit> all;
    v1::ListAdminUnitsRequest request;
    request.set_code(code);
    request.set_page_size(kVersionsPageSize);
    for (int page = 0; page < kMaxPages; ++page) {
      RETURN_IF_ERROR(Upstream::StopIfCallEnded("while reading the unit versions"));
      v1::ListAdminUnitsResponse response;
      grpc::ClientContext context;
      upstream_.Prepare(context);
      RETURN_IF_ERROR(upstream_.Check(stub_->ListAdminUnits(&context, request, &response),
                                      "ListAdminUnits", code));
      all.insert(all.end(), response.units().begin(), response.units().end());
      if (response.next_page_token().empty()) {
        return all;
      }
      request.set_page_token(response.next_page_token());
    }
    return absl::UnavailableError(
        absl::StrCat("ingestion service: ListAdminUnits ", code, " did not finish paging"));
  }

  absl::StatusOr<std::vector<v1::CrosswalkLink>> LinksInto(const std::string& code) override {
    std::vector<v1::CrosswalkLink> all;
    v1::ListCrosswalkRequest request;
    request.set_to_code(code);
    request.set_page_size(kLinksPageSize);
    for (int page = 0; page < kMaxPages; ++page) {
      RETURN_IF_ERROR(Upstream::StopIfCallEnded("while reading the crosswalk"));
      v1::ListCrosswalkResponse response;
      grpc::ClientContext context;
      upstream_.Prepare(context);
      const grpc::Status status = stub_->ListCrosswalk(&context, request, &response);
      if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
        // An ingestion service of a release before the crosswalk (a rolling upgrade) has no
        // links to give.
        return all;
      }
      RETURN_IF_ERROR(upstream_.Check(status, "ListCrosswalk", code));
      // to_code filters the successor; a link matching only as a predecessor is not asked for,
      // but is left out here in case a server answers more.
      for (v1::CrosswalkLink& link : *response.mutable_links()) {
        if (link.to_code() == code) {
          all.push_back(std::move(link));
        }
      }
      if (response.next_page_token().empty()) {
        return all;
      }
      request.set_page_token(response.next_page_token());
    }
    return absl::UnavailableError(
        absl::StrCat("ingestion service: ListCrosswalk ", code, " did not finish paging"));
  }

 private:
  const Upstream upstream_;
  std::unique_ptr<v1::IngestionService::Stub> stub_;
};

}  // namespace

std::unique_ptr<UnitSource> NewIngestionUnitSource(std::shared_ptr<grpc::Channel> channel,
                                                   std::string address, absl::Duration deadline) {
  return std::make_unique<IngestionUnitSource>(std::move(channel), std::move(address), deadline);
}

}  // namespace covtrack::targets
