#include "tests/testing/raw_call.h"

#include <grpcpp/generic/generic_stub.h>

#include <chrono>

#include "absl/synchronization/notification.h"

namespace covtrack::testing {

std::optional<std::string> NotUtf8At(std::string bytes, absl::string_view marker) {
  const size_t at = bytes.find(marker.data(), 0, marker.size());
  if (at == std::string::npos || marker.size() < 2) {
    return std::nullopt;
  }
  bytes.replace(at, 2, "\xff\xfe");
  return bytes;
}

grpc::Status CallWithRequestBytes(const std::shared_ptr<grpc::Channel>& channel,
                                  const std::string& method, const std::string& bytes) {
  grpc::Slice slice(bytes);
  grpc::ByteBuffer send(&slice, 1);
  grpc::ByteBuffer receive;
  grpc::GenericStub generic(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  absl::Notification done;
  grpc::Status status;
  generic.UnaryCall(&context, method, grpc::StubOptions(), &send, &receive, [&](grpc::Status s) {
    status = std::move(s);
    done.Notify();
  });
  done.WaitForNotification();  // the deadline ends the call at the latest
  return status;
}

}  // namespace covtrack::testing
