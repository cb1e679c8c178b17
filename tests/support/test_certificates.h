#pragma once

// Certificates made in the test process (OpenSSL), for tests of TLS code that should not depend
// on the openssl command: a CA and leaves it signs, as PEM text.

#include <string>
#include <vector>

namespace switchyard::test {

struct TestCertificate {
  std::string certificate;  // PEM
  std::string key;          // PEM, not encrypted
};

// A self-signed CA certificate named `cn`.
TestCertificate makeTestCa(const std::string& cn);
// A leaf for `cn` with `dns_names` as subjectAltName, signed by `ca` (self-signed when `ca` is
// null), valid from now on for `valid_seconds` (negative: expired that long ago).
TestCertificate makeTestLeaf(const std::string& cn, const std::vector<std::string>& dns_names,
                             const TestCertificate* ca, long valid_seconds = 86400);

}  // namespace switchyard::test
