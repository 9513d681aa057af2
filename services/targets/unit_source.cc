#include "services/targets/unit_source.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/server.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"

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
      : address_(std::move(address)),
        deadline_(deadline),
        stub_(v1::IngestionService::NewStub(channel)) {}

  absl::StatusOr<std::vector<v1::AdminUnit>> Versions(const std::string& code) override {
    std::vector<v1::AdminUnit> all;
    v1::ListAdminUnitsRequest request;
    request.set_code(code);
    request.set_page_size(kVersionsPageSize);
    for (int page = 0; page < kMaxPages; ++page) {
      v1::ListAdminUnitsResponse response;
      grpc::ClientContext context;
      SetDeadline(context);
      if (absl::Status s =
              Check(stub_->ListAdminUnits(&context, request, &response), "ListAdminUnits", code);
          !s.ok()) {
        return s;
      }
      all.insert(all.end(), response.units().begin(), response.units().end());
      if (response.next_page_token().empty()) {
        return all;
      }
      request.set_page_token(response.next_page_token());
    }
    return absl::InternalError(
        absl::StrCat("ingestion service at ", address_, ": ListAdminUnits did not finish paging"));
  }

  absl::StatusOr<std::vector<v1::CrosswalkLink>> LinksInto(const std::string& code) override {
    std::vector<v1::CrosswalkLink> all;
    v1::ListCrosswalkRequest request;
    request.set_to_code(code);
    request.set_page_size(kLinksPageSize);
    for (int page = 0; page < kMaxPages; ++page) {
      v1::ListCrosswalkResponse response;
      grpc::ClientContext context;
      SetDeadline(context);
      const grpc::Status status = stub_->ListCrosswalk(&context, request, &response);
      if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
        // An ingestion service of a release before the crosswalk (a rolling upgrade) has no
        // links to give.
        return all;
      }
      if (absl::Status s = Check(status, "ListCrosswalk", code); !s.ok()) {
        return s;
      }
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
    return absl::InternalError(
        absl::StrCat("ingestion service at ", address_, ": ListCrosswalk did not finish paging"));
  }

 private:
  void SetDeadline(grpc::ClientContext& context) const {
    context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(deadline_));
  }

  absl::Status Check(const grpc::Status& status, absl::string_view method,
                     absl::string_view code) const {
    if (status.ok()) {
      return absl::OkStatus();
    }
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      return absl::UnavailableError(absl::StrCat("ingestion service at ", address_,
                                                 " is unavailable (", method, " ", code, ": ",
                                                 status.error_message(), ")"));
    }
    const absl::Status converted = FromGrpcStatus(status);
    return absl::Status(converted.code(), absl::StrCat("ingestion service: ", method, " ", code,
                                                       ": ", status.error_message()));
  }

  const std::string address_;
  const absl::Duration deadline_;
  std::unique_ptr<v1::IngestionService::Stub> stub_;
};

}  // namespace

std::unique_ptr<UnitSource> NewIngestionUnitSource(std::shared_ptr<grpc::Channel> channel,
                                                   std::string address, absl::Duration deadline) {
  return std::make_unique<IngestionUnitSource>(std::move(channel), std::move(address), deadline);
}

}  // namespace covtrack::targets
