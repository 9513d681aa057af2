#include "common/server.h"

#include <grpcpp/ext/health_check_service_server_builder_option.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/impl/server_initializer.h>
#include <grpcpp/resource_quota.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/call_context.h"
#include "common/callback_calls.h"
#include "common/client.h"
#include "common/log.h"
#include "common/metrics/grpc_metrics.h"
#include "common/metrics/http_exporter.h"
#include "common/metrics/metrics.h"

namespace covtrack {
namespace {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ServerOptions& o) {
  if (o.tls_cert.empty() && o.tls_key.empty()) {
    log::Warn(
        "PLAINTEXT: no TLS. Anyone who can reach this port may call every RPC, "
        "unidentified. For local runs only; in production set --tls_cert, --tls_key, "
        "--tls_client_ca and --access_policy.",
        {{"listen", o.listen}});
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions ssl;
  absl::StatusOr<std::string> cert = ReadFileToString(o.tls_cert);
  absl::StatusOr<std::string> key = ReadFileToString(o.tls_key);
  if (!cert.ok() || !key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls_cert and --tls_key must both be readable: ",
                     (cert.ok() ? key : cert).status().message()));
  }
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (o.tls_client_ca.empty()) {
    log::Warn(
        "TLS without client certificates (no --tls_client_ca): callers are not "
        "identified and every caller may call every RPC");
  } else {
    absl::StatusOr<std::string> ca = ReadFileToString(o.tls_client_ca);
    if (!ca.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--tls_client_ca: ", ca.status().message()));
    }
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

// The plaintext health-only server of --health_listen.
absl::StatusOr<std::unique_ptr<grpc::Server>> StartHealthServer(const std::string& listen,
                                                                HealthService* health, int* port) {
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), port);
  builder.SetOption(std::make_unique<grpc::HealthCheckServiceServerBuilderOption>(nullptr));
  builder.RegisterService(health);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || *port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on \"", listen, "\" (--health_listen): is the port free?"));
  }
  return server;
}

// What gRPC's synchronous server answers by itself when no thread is left for a new call
// (grpc::internal::ResourceExhaustedHandler, src/cpp/server/server_cc.cc). The admission
// interceptor recognises the refusal by it; ServerTest.PastTheLimitACallIsRefusedAtOnce fails
// if a gRPC version changes it.
constexpr absl::string_view kGrpcThreadpoolExhausted = "Server Threadpool Exhausted";
// Turns gRPC's bare refusal of a call it had no thread for into one a caller can act on: a
// message with the limit and the delay, the retry-pushback trailer, and a count per method.
class AdmissionInterceptor : public grpc::experimental::Interceptor {
 public:
  AdmissionInterceptor(const OverloadRefusal* refusal, std::string method)
      : refusal_(refusal), method_(std::move(method)) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
          status.error_message() == kGrpcThreadpoolExhausted) {
        methods->ModifySendStatus(
            grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, refusal_->message));
        methods->GetSendTrailingMetadata()->emplace(kRetryPushbackHeader, refusal_->retry_after_ms);
        refusal_->rejected->Add({method_});
      }
    }
    methods->Proceed();
  }

 private:
  const OverloadRefusal* refusal_;  // owned by the factory, which outlives every call
  const std::string method_;
};

class AdmissionInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit AdmissionInterceptorFactory(const ServerOptions& options)
      : refusal_(options.max_concurrent_calls, options.overload_retry_after) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new AdmissionInterceptor(&refusal_, metrics::MethodLabel(info));
  }

 private:
  const OverloadRefusal refusal_;
};

// What a caller is told when its request could not be parsed.
constexpr char kUnparsableRequest[] =
    "the request could not be parsed: a string field that is not valid UTF-8, or a malformed "
    "message";

// Protobuf refuses a proto3 string field that is not valid UTF-8 while parsing, before any
// handler runs, and gRPC then answers INTERNAL with protobuf's (for proto3, empty) initialization
// error (grpc::GenericDeserialize); a callback method's call ends UNIMPLEMENTED with no message
// (grpc::internal::CallbackUnaryHandler::RunHandler). That is the caller's mistake, not a failure
// of the service: INVALID_ARGUMENT, saying so. Recognised narrowly: gRPC hands the interceptors
// a null request at POST_RECV_MESSAGE when the unary request could not be parsed, and the call
// then ends so without a handler having run.
class RequestParseInterceptor : public grpc::experimental::Interceptor {
 public:
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      unparsable_ = true;
    }
    if (unparsable_ && methods->QueryInterceptionHookPoint(
                           grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::StatusCode code = methods->GetSendStatus().error_code();
      if (code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::UNIMPLEMENTED) {
        methods->ModifySendStatus(
            grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, kUnparsableRequest));
      }
    }
    methods->Proceed();
  }

 private:
  bool unparsable_ = false;
};

class RequestParseInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    if (info->type() != grpc::experimental::ServerRpcInfo::Type::UNARY) {
      return nullptr;  // only unary requests are parsed before the handler runs
    }
    return new RequestParseInterceptor();
  }
};

// Collects the full names of the services a server registered, as gRPC derived them from the
// methods' paths ("/covtrack.v1.IngestionService/SubmitReport"), so that health can answer
// for each without a list of names to keep in step.
class ServiceNamesPlugin : public grpc::ServerBuilderPlugin {
 public:
  explicit ServiceNamesPlugin(std::vector<std::string>* names) : names_(names) {}
  std::string name() override { return "covtrack_service_names"; }
  void InitServer(grpc::ServerInitializer*) override {}
  void Finish(grpc::ServerInitializer* initializer) override {
    for (const std::string& name : *initializer->GetServiceList()) {
      // gRPC's own (health, reflection) are not covtrack services.
      if (!absl::StartsWith(name, "grpc.")) {
        names_->push_back(name);
      }
    }
  }
  void ChangeArguments(const std::string&, void*) override {}

 private:
  std::vector<std::string>* names_;
};

class ServiceNamesOption : public grpc::ServerBuilderOption {
 public:
  explicit ServiceNamesOption(std::vector<std::string>* names) : names_(names) {}
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->push_back(std::make_unique<ServiceNamesPlugin>(names_));
  }

 private:
  std::vector<std::string>* names_;
};

}  // namespace

// The calls a server is handling, so that a drain that cannot finish can say which they are.
class CallRegistry {
 public:
  struct Call {
    std::string method;
    absl::Time start;
  };
  uint64_t Add(std::string method) {
    absl::MutexLock lock(&mu_);
    calls_.emplace(next_, Call{std::move(method), absl::Now()});
    return next_++;
  }
  void Remove(uint64_t id) {
    absl::MutexLock lock(&mu_);
    calls_.erase(id);
  }
  std::vector<Call> Snapshot() const {
    absl::MutexLock lock(&mu_);
    std::vector<Call> calls;
    for (const auto& [id, call] : calls_) {
      calls.push_back(call);
    }
    return calls;
  }

 private:
  mutable absl::Mutex mu_;
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, Call> calls_ ABSL_GUARDED_BY(mu_);
};

namespace {

// Registers each call for its life (gRPC deletes the interceptor with the call).
class CallRegistryInterceptor : public grpc::experimental::Interceptor {
 public:
  CallRegistryInterceptor(std::shared_ptr<CallRegistry> registry, std::string method)
      : registry_(std::move(registry)), id_(registry_->Add(std::move(method))) {}
  ~CallRegistryInterceptor() override { registry_->Remove(id_); }
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    methods->Proceed();
  }

 private:
  std::shared_ptr<CallRegistry> registry_;
  const uint64_t id_;
};

class CallRegistryFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CallRegistryFactory(std::shared_ptr<CallRegistry> registry)
      : registry_(std::move(registry)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new CallRegistryInterceptor(registry_, metrics::MethodLabel(info));
  }

 private:
  std::shared_ptr<CallRegistry> registry_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options,
                                                      const std::vector<grpc::Service*>& services) {
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = Credentials(options);
  if (!credentials.ok()) {
    return credentials.status();
  }
  std::unique_ptr<metrics::MetricsHttpServer> metrics_server;
  if (!options.metrics_listen.empty()) {
    auto started =
        metrics::MetricsHttpServer::Start(options.metrics_listen, &metrics::Registry::Global());
    if (!started.ok()) {
      return absl::Status(started.status().code(),
                          absl::StrCat("--metrics_listen: ", started.status().message()));
    }
    metrics_server = *std::move(started);
  }
  grpc::ServerBuilder builder;
  int port = 0;
  // A second server on a port already in use must fail, not silently share it (gRPC's
  // default is SO_REUSEPORT).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(options.listen, *credentials, &port);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  // The bound on calls in progress. The synchronous server runs each call on a thread of its
  // own and keeps one more thread polling for new calls; with no thread left in the quota, the
  // polling thread answers a new call RESOURCE_EXHAUSTED itself (AdmissionInterceptor adds the
  // retry delay), so max_concurrent_calls + 1 threads admit exactly max_concurrent_calls.
  // grpc.health.v1 runs on gRPC's callback threads, outside this quota.
  grpc::ResourceQuota quota("covtrack-" + options.service_name);
  quota.SetMaxThreads(options.max_concurrent_calls + 1);
  if (options.max_grpc_memory_bytes > 0) {
    quota.Resize(static_cast<size_t>(options.max_grpc_memory_bytes));
  }
  builder.SetResourceQuota(quota);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 1);
  // Keepalive: ping idle connections every 60 s so that load balancers and NAT do not drop
  // them silently, and close a connection whose ping is not answered within 20 s.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  // Accept client keepalive pings as often as every 10 s, even without calls in flight
  // (long-lived WatchChanges streams idle for hours).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // The request context first, so that everything after it (metrics, handlers) logs under
  // the request id.
  // The admission and request parse interceptors before the metrics one, so that the metrics
  // record the refusal as the caller sees it.
  auto calls = std::make_shared<CallRegistry>();
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(NewRequestContextInterceptorFactory());
  interceptors.push_back(std::make_unique<CallRegistryFactory>(calls));
  interceptors.push_back(std::make_unique<AdmissionInterceptorFactory>(options));
  interceptors.push_back(std::make_unique<RequestParseInterceptorFactory>());
  interceptors.push_back(metrics::NewRpcMetricsInterceptorFactory(&metrics::Registry::Global()));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  for (grpc::Service* service : services) {
    builder.RegisterService(service);
  }
  // Health is common/health_service.h's, NOT_SERVING until SetHealthLocked; gRPC's default
  // service (off here whatever grpc::EnableDefaultHealthCheckService says) answers SERVING
  // from the start, before the server can say it is not.
  auto health = std::make_unique<HealthService>();
  builder.SetOption(std::make_unique<grpc::HealthCheckServiceServerBuilderOption>(nullptr));
  builder.RegisterService(health.get());
  std::vector<std::string> names;
  builder.SetOption(std::make_unique<ServiceNamesOption>(&names));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on \"", options.listen,
                                               "\": is the address valid and the port free?"));
  }
  std::unique_ptr<Server> result(new Server(options, std::move(health), std::move(server), port));
  result->metrics_server_ = std::move(metrics_server);
  result->health_->SetServiceNames(names);
  result->health_names_ = std::move(names);
  result->calls_ = std::move(calls);
  if (!options.health_listen.empty()) {
    result->health_only_ = std::make_unique<HealthService>();
    result->health_only_->SetServiceNames(result->health_names_);
    auto health_server =
        StartHealthServer(options.health_listen, result->health_only_.get(), &result->health_port_);
    if (!health_server.ok()) {
      return health_server.status();
    }
    result->health_server_ = *std::move(health_server);
  }
  result->SetHealthLocked(options.serving_at_start);
  log::Info("serving", {{"listen", options.listen},
                        {"port", std::to_string(port)},
                        {"health_port", std::to_string(result->health_port_)},
                        {"metrics_port", std::to_string(result->metrics_port())}});
  return result;
}

Server::Server(ServerOptions options, std::unique_ptr<HealthService> health,
               std::unique_ptr<grpc::Server> server, int port)
    : options_(std::move(options)),
      health_(std::move(health)),
      server_(std::move(server)),
      port_(port) {}

Server::~Server() { Shutdown(); }

std::string Server::address() const { return absl::StrCat("127.0.0.1:", port_); }

int Server::metrics_port() const {
  return metrics_server_ == nullptr ? 0 : metrics_server_->port();
}

void Server::SetServing(bool serving) {
  absl::MutexLock lock(&health_mu_);
  if (!shut_down_.load()) {
    SetHealthLocked(serving);
  }
}

void Server::SetHealthLocked(bool serving) {
  health_->SetServing(serving);
  if (health_only_ != nullptr) {
    health_only_->SetServing(serving);
  }
}

void Server::OnShutdown(std::function<void(absl::Duration grace)> callback) {
  on_shutdown_.push_back(std::move(callback));
}

void Server::Shutdown() {
  if (shut_down_.exchange(true)) {
    return;
  }
  log::Info("shutting down", {{"grace", absl::FormatDuration(options_.shutdown_grace)}});
  // Health first, so load balancers stop sending new calls while in-flight ones finish.
  {
    absl::MutexLock lock(&health_mu_);  // after a SetServing(true) in progress, never before
    // NOT_SERVING for good; each Watch stream is sent it and then ends, so that no watcher
    // holds the drain below until its deadline.
    health_->Shutdown();
    if (health_only_ != nullptr) {
      health_only_->Shutdown();
    }
  }
  // gRPC cancels the calls still running at the deadline but then waits for their handlers to
  // return, however long that takes. The backstop keeps the promise of a bounded drain.
  const absl::Time deadline = absl::Now() + options_.shutdown_grace;
  for (const auto& callback : on_shutdown_) {
    callback(options_.shutdown_grace);
  }
  absl::Notification drained;
  std::thread backstop([this, deadline, &drained] {
    if (drained.WaitForNotificationWithDeadline(deadline + options_.shutdown_backstop)) {
      return;
    }
    const std::vector<CallRegistry::Call> running = calls_->Snapshot();
    log::Error("calls still running after the shutdown grace and backstop; exiting without them",
               {{"calls", absl::StrCat(running.size())},
                {"grace", absl::FormatDuration(options_.shutdown_grace)},
                {"backstop", absl::FormatDuration(options_.shutdown_backstop)}});
    for (size_t i = 0; i < running.size() && i < 20; ++i) {
      log::Error("still running",
                 {{"method", running[i].method},
                  {"for", absl::FormatDuration(
                              absl::Trunc(absl::Now() - running[i].start, absl::Seconds(1)))}});
    }
    // No destructors: the stuck handlers still use what they would tear down.
    std::fflush(nullptr);
    std::_Exit(1);
  });
  server_->Shutdown(absl::ToChronoTime(deadline));
  server_->Wait();
  drained.Notify();
  backstop.join();
  if (health_server_ != nullptr) {
    health_server_->Shutdown(std::chrono::system_clock::now());
    health_server_->Wait();
  }
  metrics_server_.reset();
  log::Info("stopped");
}

void Server::RunUntilSignal() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  // Other threads inherit the mask set in main before the server started (see
  // BlockShutdownSignals); here we simply wait for one of them.
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  int signal = 0;
  sigwait(&signals, &signal);
  log::Info("signal received", {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
  Shutdown();
}

std::string AuthenticatedName(const grpc::ServerContextBase& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const grpc::string_ref& name : auth->FindPropertyValues("x509_common_name")) {
      return std::string(name.data(), name.size());
    }
  }
  return "";
}

std::string PeerIdentity(const grpc::ServerContextBase& context) {
  std::string name = AuthenticatedName(context);
  return name.empty() ? context.peer() : name;
}

void LogIfBroken(const absl::Status& status) {
  if (status.code() == absl::StatusCode::kUnavailable ||
      status.code() == absl::StatusCode::kInternal) {
    log::Warn("request failed", {{"error", status.ToString()}});
  }
}

void ParseFlagsWithEnvironment(int argc, char** argv) {
  // Block the shutdown signals before any thread exists, so that every thread inherits the
  // mask and only Server::RunUntilSignal receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  for (const auto& [name, flag] : absl::GetAllFlags()) {
    std::string variable = absl::StrCat("COVTRACK_", absl::AsciiStrToUpper(name));
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr) {
      continue;
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      std::cerr << "bad value in environment variable " << variable << ": " << error << "\n";
      std::exit(2);
    }
  }
  absl::ParseCommandLine(argc, argv);
}

}  // namespace covtrack
