// An agent's place in the cluster's PKI (kubeadm join): with a one-time
// join token and the CA's pin it fetches the cluster CA, checks the pin,
// then sends a certificate request over TLS that the CA now verifies, and
// keeps what comes back under DATA/tls. From then on its heartbeats carry
// that certificate, its API takes only controllers' certificates, and it
// renews the certificate before it runs out.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "oriel/common/result.h"
#include "oriel/net/pki.h"
#include "oriel/net/tls.h"

namespace oriel::agent {

// A host's credentials: its key and certificate, and the cluster CA.
struct HostCredentials {
  std::string ca_pem, cert_pem, key_pem;

  // Files under `dir` (0600 keys), as the agent's listener loads them.
  struct Files {
    std::string ca, cert, key;
  };
  static Files files_in(const std::string& dir);
  // For calls to controllers: the cluster CA (and `extra_ca_pem`, the CAs of
  // a controller with a certificate of its own) and this host's certificate.
  Result<std::shared_ptr<const net::TlsClient>> client(const std::string& extra_ca_pem = {}) const;
};

// What the agent saved, if anything (nothing before it joined).
Result<std::optional<HostCredentials>> load_host_credentials(const std::string& dir);
Result<void> save_host_credentials(const std::string& dir, const HostCredentials& credentials);

struct JoinRequest {
  std::vector<std::string> controller_urls;  // https://...
  std::string token;                         // from `oriel host join-token create`
  std::string ca_pin;                        // sha256:HEX of the CA's public key
  std::string host_name;
  std::string address;  // where controllers call this agent: its certificate's name
  std::string extra_ca_pem;
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
};
// Joins through the first controller that answers. Unauthenticated for a
// token the controller refuses; PermissionDenied when the CA is not the
// pinned one (nothing is sent then).
Result<HostCredentials> join_cluster(const JoinRequest& request);

// A new certificate for the same host, asked with the current one.
Result<HostCredentials> renew_host_certificate(const std::vector<std::string>& controller_urls,
                                               const HostCredentials& current, const std::string& address,
                                               const std::string& extra_ca_pem, std::chrono::milliseconds timeout);
// True once less than a third of the certificate's life is left.
bool renewal_due(const std::string& cert_pem, net::SystemTime now);

}  // namespace oriel::agent
