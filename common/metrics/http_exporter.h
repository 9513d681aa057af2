#pragma once

// Serves a Registry over HTTP for Prometheus to scrape: GET /metrics, nothing else.

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/metrics/metrics.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace covtrack::metrics {

class MetricsHttpServer {
 public:
  // Serves GET /metrics (Content-Type: text/plain; version=0.0.4; charset=utf-8) on HOST:PORT
  // ("[::1]:9090" for IPv6, ":9090" for every IPv4 address; port 0 picks a free one). Any other
  // path is 404. Fails, naming the address, when it is malformed or cannot be bound (a port
  // already in use is refused, not shared). `registry` must outlive the server.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const std::string& listen,
                                                                  const Registry* registry);
  ~MetricsHttpServer();  // stops and joins
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return port_; }

 private:
  MetricsHttpServer(std::unique_ptr<httplib::Server> server, int port);

  std::unique_ptr<httplib::Server> server_;
  int port_;
  std::atomic<bool> listen_returned_{false};  // set by thread_ when httplib's loop ends
  std::thread thread_;
};

}  // namespace covtrack::metrics
