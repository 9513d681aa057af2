#include "tests/testing/redis_process.h"

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace covtrack::testing {
namespace {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

}  // namespace

std::optional<std::string> RedisProcess::ServerBinary() {
  const char* binary = std::getenv("COVTRACK_TEST_REDIS_SERVER");
  if (binary == nullptr || *binary == '\0') {
    return std::nullopt;
  }
  return std::string(binary);
}

std::unique_ptr<RedisProcess> RedisProcess::Start(const std::string& binary,
                                                  const std::string& password) {
  auto redis = std::unique_ptr<RedisProcess>(new RedisProcess());
  redis->binary_ = binary;
  redis->password_ = password;
  redis->port_ = FreePort();
  if (!redis->Launch()) {
    return nullptr;
  }
  return redis;
}

RedisProcess::~RedisProcess() { Kill(); }

std::string RedisProcess::address() const { return absl::StrCat("127.0.0.1:", port_); }

bool RedisProcess::Launch() {
  const std::string port = absl::StrCat(port_);
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    // The server dies with the test: a test that aborts (a sanitizer's halt_on_error) skips
    // the destructor, and a server left behind holds ctest's output pipe open, so ctest waited
    // for it until CI's own limit.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
      _exit(125);  // the parent died before prctl
    }
    std::vector<const char*> argv = {
        binary_.c_str(), "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
        "--appendonly",  "no",     "--dir",      "/tmp",   "--logfile", "",       "--loglevel",
        "warning"};
    if (!password_.empty()) {
      argv.push_back("--requirepass");
      argv.push_back(password_.c_str());
    }
    argv.push_back(nullptr);
    execv(binary_.c_str(), const_cast<char* const*>(argv.data()));
    _exit(127);
  }
  // Poll (bounded) until it answers; no fixed sleep.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (RedisCommand(address(), "PING", password_) == std::optional<std::string>("PONG")) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

void RedisProcess::Kill() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

bool RedisProcess::Restart() {
  Kill();
  return Launch();
}

std::optional<std::string> RedisCommand(const std::string& address, const std::string& command,
                                        const std::string& password) {
  const size_t colon = address.rfind(':');
  timeval timeout{1, 0};
  redisContext* c = redisConnectWithTimeout(address.substr(0, colon).c_str(),
                                            std::atoi(address.substr(colon + 1).c_str()), timeout);
  if (c == nullptr || c->err != 0) {
    if (c != nullptr) {
      redisFree(c);
    }
    return std::nullopt;
  }
  redisSetTimeout(c, timeout);
  if (!password.empty()) {
    auto* auth = static_cast<redisReply*>(
        redisCommand(c, "AUTH %b", password.data(), static_cast<size_t>(password.size())));
    if (auth != nullptr) {
      freeReplyObject(auth);
    }
  }
  auto* reply = static_cast<redisReply*>(redisCommand(c, command.c_str()));
  std::optional<std::string> text;
  if (reply != nullptr) {
    if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS ||
        reply->type == REDIS_REPLY_ERROR) {
      text = std::string(reply->str, reply->len);
    } else if (reply->type == REDIS_REPLY_INTEGER) {
      text = absl::StrCat(reply->integer);
    } else {
      text = "";
    }
    freeReplyObject(reply);
  }
  redisFree(c);
  return text;
}

}  // namespace covtrack::testing
