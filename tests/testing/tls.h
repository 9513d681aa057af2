#pragma once

// Test certificates made with the openssl command: a CA and certificates it signs, each with
// a common name (the identity the access policy names) and SANs for loopback.

#include <grpcpp/grpcpp.h>

#include <map>
#include <string>

namespace covtrack::testing {

struct CertificateFiles {
  std::string cert;  // PEM paths
  std::string key;
};

class TestCa {
 public:
  // Makes a CA named `name` in a fresh folder under TempDir(); aborts the test binary if
  // openssl fails (a broken test setup).
  explicit TestCa(const std::string& name);

  const std::string& cert_file() const { return ca_.cert; }
  // A certificate for `common_name`, valid for localhost and 127.0.0.1 (server or client).
  // Made once per name and CA.
  CertificateFiles Issue(const std::string& common_name);

 private:
  std::string dir_;
  CertificateFiles ca_;
  std::map<std::string, CertificateFiles> issued_;
};

// Client credentials: TLS verified by `ca`, presenting `client` unless its paths are empty.
std::shared_ptr<grpc::ChannelCredentials> ClientCredentials(const TestCa& ca,
                                                            const CertificateFiles& client);

}  // namespace covtrack::testing
