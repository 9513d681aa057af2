#include "common/metrics/http_exporter.h"

#include <httplib.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace covtrack::metrics {
namespace {

constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

struct HostPort {
  std::string host;
  int port = 0;
};

absl::StatusOr<HostPort> ParseListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  HostPort result;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(absl::string_view(listen).substr(colon + 1), &result.port) ||
      result.port < 0 || result.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics address \"", listen, "\" must be HOST:PORT, e.g. 0.0.0.0:9090 or [::]:9090"));
  }
  result.host = listen.substr(0, colon);
  if (result.host.size() >= 2 && result.host.front() == '[' && result.host.back() == ']') {
    result.host = result.host.substr(1, result.host.size() - 2);
  }
  if (result.host.empty()) {
    result.host = "0.0.0.0";
  }
  return result;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& listen, const Registry* registry) {
  absl::StatusOr<HostPort> address = ParseListen(listen);
  if (!address.ok()) {
    return address.status();
  }
  auto server = std::make_unique<httplib::Server>();
  server->Get("/metrics", [registry](const httplib::Request&, httplib::Response& response) {
    response.set_content(registry->Render(), kContentType);
  });
  // httplib's default sets SO_REUSEPORT, which lets a second process bind the same port and
  // steal half the scrapes. SO_REUSEADDR alone still allows a quick restart.
  server->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // Scrapes are rare and cheap; httplib's default pool is a thread per core (at least 8).
  server->new_task_queue = [] { return new httplib::ThreadPool(2); };

  errno = 0;
  int port = -1;
  if (address->port == 0) {
    port = server->bind_to_any_port(address->host);
  } else if (server->bind_to_port(address->host, address->port)) {
    port = address->port;
  }
  if (port <= 0) {
    const int error = errno;
    return absl::UnavailableError(
        absl::StrCat("cannot listen on \"", listen, "\" for /metrics",
                     error != 0 ? absl::StrCat(": ", std::strerror(error)) : "",
                     " (is the address valid and the port free?)"));
  }

  std::unique_ptr<MetricsHttpServer> result(new MetricsHttpServer(std::move(server), port));
  httplib::Server* http = result->server_.get();
  std::atomic<bool>* listen_returned = &result->listen_returned_;
  result->thread_ = std::thread([http, listen_returned] {
    http->listen_after_bind();
    *listen_returned = true;
  });
  // httplib's stop() does nothing until the accept loop has started, so a server destroyed
  // right after Start would never stop: wait for the loop (a few microseconds).
  while (!http->is_running() && !*listen_returned) {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  if (!http->is_running()) {
    return absl::InternalError(
        absl::StrCat("the /metrics server on \"", listen, "\" stopped as soon as it started"));
  }
  return result;
}

MetricsHttpServer::MetricsHttpServer(std::unique_ptr<httplib::Server> server, int port)
    : server_(std::move(server)), port_(port) {}

MetricsHttpServer::~MetricsHttpServer() {
  server_->stop();
  if (thread_.joinable()) {
    thread_.join();
  }
}

}  // namespace covtrack::metrics
