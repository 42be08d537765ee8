// The cluster's PKI, kubeadm-style: a CA kept in the store (every controller
// on one database shares it), one-time join tokens with which an agent gets
// a certificate for its host, renewal with the certificate it has, and
// revocation when a host is removed. Mutual TLS rests on it: agents present
// their certificates with each heartbeat, controllers theirs to each agent.
#include "cluster_pki.h"

#include "access.h"
#include "auth.h"
#include "checks.h"
#include "core.h"
#include "oriel/common/log.h"
#include "oriel/controller/hosts.h"
#include "oriel/net/pki.h"

namespace oriel::controller {
namespace {

using std::chrono::days;

constexpr auto kCaLifetime = days(3650);
constexpr auto kAgentLifetime = days(30);
constexpr auto kControllerLifetime = days(365);

// A host's name goes into its certificate: letters, digits, '.', '-' and
// '_', so no host can be named like a controller ("controller:...").
Result<void> check_host_name(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 63 && std::isalnum(static_cast<unsigned char>(name[0])) &&
            std::all_of(name.begin(), name.end(), [](char c) {
              return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
            });
  if (!ok) {
    return Error::InvalidArgument(fmt::format(
        "host name '{}' must be 1 to 63 letters, digits, '.', '-' or '_', starting with a letter or digit", name));
  }
  return Ok();
}

// Signs an agent's request: a certificate for the host, named by its address
// (which the signing checks is a DNS name or an IP address).
Result<std::string> sign(Core& core, const std::string& host_name, const std::string& address,
                         std::string_view csr_pem) {
  const ClusterCredentials& cluster = core.cluster;
  net::CertificateProfile profile{host_name, {address}, true, true, core.clock.now(), kAgentLifetime};
  return net::sign_certificate_request({cluster.ca_pem, cluster.ca_key_pem}, csr_pem, profile);
}

// Records a signed certificate, so it can be revoked, and hands it out.
Result<AgentCertificate> record(Core& core, const std::string& host_name, const std::string& address,
                                std::string cert) {
  auto info = TRY(net::inspect_certificate(cert));
  TRY(core.store.insert_host_certificate({info.fingerprint, host_name, info.serial, info.not_after, WallTime{}}));
  spdlog::info("host {}: issued a certificate for {} until {} ({})", host_name, address, format_rfc3339(info.not_after),
               info.fingerprint);
  return AgentCertificate{std::move(cert), core.cluster.ca_pem};
}

}  // namespace

// The store's CA (made, or taken from the options, when there is none), and
// this controller's certificate for talking to agents.
Result<ClusterCredentials> load_cluster_credentials(Core& core, const std::string& controller_name) {
  const ControllerOptions& o = core.options;
  store::ClusterCaRecord candidate{o.cluster_ca_pem, o.cluster_ca_key_pem};
  if (candidate.cert_pem.empty() || candidate.key_pem.empty()) {
    auto made = TRY(net::make_ca(fmt::format("Oriel cluster CA ({})", controller_name), core.clock.now(), kCaLifetime));
    candidate = {made.cert_pem, made.key_pem};
  }
  auto kept = TRY(core.store.keep_cluster_ca(candidate));
  auto info = TRY(net::inspect_certificate(kept.cert_pem));
  net::CertifiedKey ca{kept.cert_pem, kept.key_pem};
  net::CertificateProfile me{std::string(agent::kControllerCertificatePrefix) + controller_name,
                             {},
                             false,
                             true,
                             core.clock.now(),
                             kControllerLifetime};
  auto mine = TRY(net::issue_certificate(ca, me));
  auto agents =
      TRY(net::TlsClient::create({.ca_pem = ca.cert_pem, .cert_pem = mine.cert_pem, .key_pem = mine.key_pem}));
  return ClusterCredentials{kept.cert_pem, kept.key_pem, info.public_key_pin, std::move(agents)};
}

Result<JoinToken> Hosts::create_join_token(const Principal& who, std::chrono::seconds ttl) {
  TRY(require_admin(who));
  if (ttl < std::chrono::minutes(1) || ttl > days(7)) {
    return Error::InvalidArgument("a join token lives from 1 minute to 7 days");
  }
  std::string token = "oj-" + core_.random.token(32);
  auto now = core_.clock.now();
  JoinToken out{token, core_.cluster.ca_pin, now + ttl};
  TRY(core_.store.insert_join_token({token_hash(token), now, out.expires_at, WallTime{}, ""}));
  return out;
}

Result<AgentCertificate> Hosts::join(std::string_view token, const std::string& host_name, const std::string& address,
                                     std::string_view csr_pem) {
  TRY(check_host_name(host_name));
  if (host_id_for(host_name) == core_.host_id) {
    return Error::Conflict(fmt::format("host name '{}' is this controller's own", host_name));
  }
  // A request that cannot be signed leaves the token unspent.
  std::string cert = TRY(sign(core_, host_name, address, csr_pem));
  auto used = core_.store.use_join_token(token_hash(token), host_name, core_.clock.now());
  if (!used.ok()) {
    if (used.error().code() != ErrorCode::kNotFound) return used.error();
    return Error::Unauthenticated("the join token is unknown, used or expired: create one with "
                                  "'oriel host join-token create'");
  }
  spdlog::info("host {} joins with a join token", host_name);
  return record(core_, host_name, address, std::move(cert));
}

// Which host a verified client certificate belongs to: one the cluster CA
// issued, recorded, not revoked.
Result<std::string> certified_host(Core& core, const PeerCertificate& peer) {
  if (peer.fingerprint.empty()) return Error::Unauthenticated("this needs a host's certificate (mutual TLS)");
  auto record = core.store.host_certificate(peer.fingerprint);
  if (!record.ok() || record->host_name != peer.common_name) {
    return Error::Unauthenticated("this certificate was not issued to a host of this cluster");
  }
  if (record->revoked_at != WallTime{}) {
    return Error::Unauthenticated(
        fmt::format("the certificate of host '{}' is revoked (the host was removed)", record->host_name));
  }
  return record->host_name;
}

Result<AgentCertificate> Hosts::renew(const PeerCertificate& peer, const std::string& address,
                                      std::string_view csr_pem) {
  std::string host_name = TRY(certified_host(core_, peer));
  std::string cert = TRY(sign(core_, host_name, address, csr_pem));
  return record(core_, host_name, address, std::move(cert));
}

std::string Hosts::ca_pem() const { return core_.cluster.ca_pem; }

Result<void> Hosts::remove(const Principal& who, std::string_view id) {
  TRY(require_admin(who));
  auto host = TRY(core_.store.host(id));
  if (host.id == core_.host_id) return Error::Conflict("the controller's own host cannot be removed");
  TRY(core_.store.delete_host(id));
  TRY(core_.store.revoke_host_certificates(host.name, core_.clock.now()));
  core_.fleet.forget(host.id);
  spdlog::info("host {} ({}) removed; its certificates are revoked", host.id, host.name);
  return Ok();
}

}  // namespace oriel::controller
