// A certificate for the TLS benchmarks, made as orield makes its own: an
// ECDSA P-256 CA and a server certificate for 127.0.0.1.
#pragma once

#include <chrono>
#include <fstream>
#include <string>

#include "oriel/net/pki.h"
#include "oriel/net/tls.h"

namespace oriel {

// Writes server.pem (with the chain) and server.key under `dir`; `ca_pem`
// gets the CA a client trusts.
inline Result<net::TlsServerFiles> bench_certificate(const std::string& dir, std::string& ca_pem) {
  auto now = std::chrono::system_clock::now();
  auto ca = TRY(net::make_ca("bench CA", now, std::chrono::hours(24)));
  auto leaf = TRY(net::issue_certificate(ca, {"orield", {"127.0.0.1"}, true, false, now, std::chrono::hours(24)}));
  std::ofstream(dir + "/server.pem") << leaf.cert_pem << ca.cert_pem;
  std::ofstream(dir + "/server.key") << leaf.key_pem;
  ca_pem = ca.cert_pem;
  return net::TlsServerFiles{dir + "/server.pem", dir + "/server.key"};
}

}  // namespace oriel
