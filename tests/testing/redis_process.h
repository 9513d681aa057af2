#pragma once

// A redis-server of the test's own (COVTRACK_TEST_REDIS_SERVER), on a free loopback port, that
// the test can kill and restart. Plus a tiny client for FLUSHALL and friends.

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

namespace covtrack::testing {

class RedisProcess {
 public:
  // nullopt when COVTRACK_TEST_REDIS_SERVER is not set (use COVTRACK_REQUIRE_SERVER on it).
  static std::optional<std::string> ServerBinary();
  // Starts redis-server on a free port and waits (bounded) until it answers PING. With a
  // password, the server requires it (requirepass).
  static std::unique_ptr<RedisProcess> Start(const std::string& binary,
                                             const std::string& password = "");
  ~RedisProcess();

  std::string address() const;
  // SIGKILL: the server is gone at once, with every connection and key.
  void Kill();
  // Starts it again on the same port and waits until it answers.
  bool Restart();

 private:
  bool Launch();
  std::string binary_;
  std::string password_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// Runs one command on the Redis at `address` ("HOST:PORT"), after AUTH when a password is given;
// returns its reply as text, or nullopt when Redis cannot be reached. For FLUSHALL, DBSIZE and
// the like.
std::optional<std::string> RedisCommand(const std::string& address, const std::string& command,
                                        const std::string& password = "");

}  // namespace covtrack::testing
