// The fleet's hosts as the API sees them: the list with what is allocated
// on each, the cluster's PKI (join tokens, agents' certificates), agents'
// heartbeats, maintenance and removal.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "oriel/agent/agent_wire.h"
#include "oriel/common/result.h"
#include "oriel/controller/principal.h"
#include "oriel/net/http.h"  // first: it includes <utility> before Asio
#include "oriel/net/tls.h"
#include "oriel/store/records.h"

namespace oriel::controller {

struct Core;

// What a heartbeat gets back: the host's id and its lease.
struct HeartbeatAnswer {
  std::string host_id;
  std::chrono::milliseconds lease;
};

// What `oriel host join-token create` shows once: the token, and the pin an
// agent checks the cluster CA against before it sends the token anywhere.
struct JoinToken {
  std::string token;
  std::string ca_pin;  // "sha256:" + hex of the CA's public key (SubjectPublicKeyInfo)
  WallTime expires_at;
};

// What a joining or renewing agent gets: its certificate and the CA.
struct AgentCertificate {
  std::string certificate_pem;
  std::string ca_pem;
};

// The cluster's CA and this controller's side of mutual TLS with agents;
// set by Controller::bootstrap.
struct ClusterCredentials {
  std::string ca_pem, ca_key_pem, ca_pin;
  std::shared_ptr<const net::TlsClient> agents;  // trusts the CA, presents this controller's certificate
};

// A client certificate the listener verified against the cluster CA.
using PeerCertificate = net::Request::Certificate;

enum class HostAction {
  kMaintenance,  // no new desktops; running ones migrate away, stopped ones move (shared storage)
  kActivate,     // ready again
};

struct HostView {
  store::HostRecord host;
  int64_t cpus_allocated = 0;  // vCPUs of desktops meant to run there
  int64_t memory_allocated_mb = 0;
  int64_t desktops = 0;
};

// Admins only. Thread-safe.
class Hosts {
 public:
  explicit Hosts(Core& core) : core_(core) {}
  Hosts(const Hosts&) = delete;
  Hosts& operator=(const Hosts&) = delete;

  Result<std::vector<HostView>> list(const Principal& who);
  // An agent's heartbeat: registers its host on first sight, records that
  // it is alive, and grants its lease. Authenticated by a certificate the
  // cluster CA issued to that host (not revoked; `peer` as the listener
  // verified it), or by the deprecated cluster token.
  Result<HeartbeatAnswer> heartbeat(std::string_view cluster_token, const PeerCertificate& peer,
                                    const agent::AgentHello& hello);
  // Maintenance drains the host by live migration.
  Result<HostView> act(const Principal& who, std::string_view id, HostAction action);
  // Forgets a host with no desktops and revokes its certificates at once.
  Result<void> remove(const Principal& who, std::string_view id);

  // A one-time join token, valid for `ttl` (1 min to 7 days).
  Result<JoinToken> create_join_token(const Principal& who, std::chrono::seconds ttl);
  // An agent joins with a join token: its certificate request is signed for
  // `host_name`, with `address` (where the controller calls it) as its name.
  Result<AgentCertificate> join(std::string_view token, const std::string& host_name, const std::string& address,
                                std::string_view csr_pem);
  // An agent renews its certificate with the one it has (`peer`).
  Result<AgentCertificate> renew(const PeerCertificate& peer, const std::string& address, std::string_view csr_pem);
  std::string ca_pem() const;

 private:
  Core& core_;
};

}  // namespace oriel::controller
