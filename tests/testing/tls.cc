#include "tests/testing/tls.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/client.h"
#include "tests/testing/test_env.h"

namespace covtrack::testing {
namespace {

void Run(const std::string& command) {
  const std::string quiet = absl::StrCat(command, " >/dev/null 2>&1");
  if (std::system(quiet.c_str()) != 0) {
    std::cerr << "test setup: failed: " << command << "\n";
    std::abort();
  }
}

std::string ReadOrDie(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    std::cerr << "test setup: " << text.status() << "\n";
    std::abort();
  }
  return *text;
}

}  // namespace

TestCa::TestCa(const std::string& name) {
  static int counter = 0;
  dir_ = absl::StrCat(TempDir(), "/ca-", name, "-", ++counter);
  std::filesystem::create_directories(dir_);
  ca_ = {dir_ + "/ca.crt", dir_ + "/ca.key"};
  Run(absl::StrCat("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes",
                   " -keyout ", ca_.key, " -out ", ca_.cert, " -days 2 -subj '/CN=", name, "'"));
}

CertificateFiles TestCa::Issue(const std::string& common_name) {
  if (auto it = issued_.find(common_name); it != issued_.end()) {
    return it->second;
  }
  const std::string base = absl::StrCat(dir_, "/", common_name);
  CertificateFiles files{base + ".crt", base + ".key"};
  const std::string ext = base + ".ext";
  std::ofstream(ext) << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
  Run(absl::StrCat("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes",
                   " -keyout ", files.key, " -out ", base, ".csr -subj '/CN=", common_name, "'"));
  Run(absl::StrCat("openssl x509 -req -in ", base, ".csr -CA ", ca_.cert, " -CAkey ", ca_.key,
                   " -CAcreateserial -out ", files.cert, " -days 2 -extfile ", ext));
  issued_[common_name] = files;
  return files;
}

std::shared_ptr<grpc::ChannelCredentials> ClientCredentials(const TestCa& ca,
                                                            const CertificateFiles& client) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadOrDie(ca.cert_file());
  if (!client.cert.empty()) {
    ssl.pem_cert_chain = ReadOrDie(client.cert);
    ssl.pem_private_key = ReadOrDie(client.key);
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace covtrack::testing
