#include "oriel/agent/cluster_join.h"

#include <filesystem>

#include "oriel/common/files.h"
#include "oriel/common/log.h"
#include "oriel/net/client.h"

namespace oriel::agent {
namespace {

namespace fs = std::filesystem;

// POSTs `body` to `path` on the first controller that answers; the answer's
// certificate with the CA it came with.
Result<HostCredentials> ask_for_certificate(const std::vector<std::string>& urls, const std::string& path,
                                            const Json& body, const std::shared_ptr<const net::TlsClient>& tls,
                                            std::string key_pem, std::chrono::milliseconds timeout) {
  Error last = Error::Unavailable("no controller URL");
  for (const auto& url : urls) {
    auto client = net::ApiClient::create(url, "", tls);
    if (!client.ok()) return client.error();
    client->set_timeout(timeout);
    auto answer = client->post(path, body);
    if (!answer.ok()) {
      if (answer.error().code() != ErrorCode::kUnavailable && answer.error().code() != ErrorCode::kTimeout) {
        return answer.error();  // the controller said no: another will say the same
      }
      last = answer.error();
      continue;
    }
    HostCredentials out{answer->value("ca", ""), answer->value("certificate", ""), std::move(key_pem)};
    if (out.cert_pem.empty() || out.ca_pem.empty() || !net::signed_by(out.cert_pem, out.ca_pem)) {
      return Error::Internal(fmt::format("{} answered without a certificate signed by the cluster CA", url));
    }
    return out;
  }
  return last;
}

}  // namespace

HostCredentials::Files HostCredentials::files_in(const std::string& dir) {
  return {dir + "/cluster-ca.pem", dir + "/host.pem", dir + "/host.key"};
}

Result<std::shared_ptr<const net::TlsClient>> HostCredentials::client(const std::string& extra_ca_pem) const {
  return std::shared_ptr<const net::TlsClient>(
      TRY(net::TlsClient::create({.ca_pem = ca_pem + extra_ca_pem, .cert_pem = cert_pem, .key_pem = key_pem})));
}

Result<std::optional<HostCredentials>> load_host_credentials(const std::string& dir) {
  auto f = HostCredentials::files_in(dir);
  if (!fs::exists(f.cert)) return std::optional<HostCredentials>();
  HostCredentials c{read_text_file(f.ca), read_text_file(f.cert), read_text_file(f.key)};
  if (!net::inspect_certificate(c.cert_pem).ok() || !net::signed_by(c.cert_pem, c.ca_pem) || c.key_pem.empty()) {
    return Error::InvalidArgument(
        fmt::format("{} does not hold a host certificate signed by {}: remove them and join again", f.cert, f.ca));
  }
  return std::optional<HostCredentials>(std::move(c));
}

Result<void> save_host_credentials(const std::string& dir, const HostCredentials& c) {
  auto f = HostCredentials::files_in(dir);
  TRY(write_private_file(f.key, c.key_pem));
  TRY(write_private_file(f.ca, c.ca_pem));
  return write_private_file(f.cert, c.cert_pem);  // last: its presence says the set is whole
}

Result<HostCredentials> join_cluster(const JoinRequest& r) {
  std::string pin = TRY(net::normalize_fingerprint(r.ca_pin));
  // The CA, fetched without trust, is trusted only if it is the pinned one.
  auto blind = TRY(net::TlsClient::create({.skip_verification = true}));
  std::string ca_pem;
  Error last = Error::Unavailable("no controller URL");
  for (const auto& url : r.controller_urls) {
    auto client = net::ApiClient::create(url, "", blind);
    if (!client.ok()) return client.error();
    client->set_timeout(r.timeout);
    auto answer = client->get_bytes("/api/v1/cluster/ca");
    if (answer.ok()) {
      ca_pem = std::move(*answer);
      break;
    }
    last = answer.error();
  }
  if (ca_pem.empty()) return last;
  auto ca = net::inspect_certificate(ca_pem);
  if (!ca.ok() || ca->public_key_pin != pin) {
    return Error::PermissionDenied(
        fmt::format("the controller's cluster CA ({}) is not the one pinned with --ca-pin ({}): not joining",
                    ca.ok() ? ca->public_key_pin : "unreadable", pin));
  }
  std::string key = TRY(net::make_private_key());
  std::string csr = TRY(net::make_certificate_request(key, r.host_name));
  auto tls = TRY(net::TlsClient::create({.ca_pem = ca_pem + r.extra_ca_pem}));
  Json body = {{"token", r.token}, {"host_name", r.host_name}, {"address", r.address}, {"csr", csr}};
  auto joined = TRY(ask_for_certificate(r.controller_urls, "/api/v1/cluster/join", body, tls, key, r.timeout));
  if (joined.ca_pem != ca_pem) return Error::Internal("the controller answered with another CA than it showed");
  return joined;
}

Result<HostCredentials> renew_host_certificate(const std::vector<std::string>& urls, const HostCredentials& current,
                                               const std::string& address, const std::string& extra_ca_pem,
                                               std::chrono::milliseconds timeout) {
  auto info = TRY(net::inspect_certificate(current.cert_pem));
  std::string key = TRY(net::make_private_key());
  std::string csr = TRY(net::make_certificate_request(key, info.common_name));
  auto tls = TRY(current.client(extra_ca_pem));
  return ask_for_certificate(urls, "/api/v1/cluster/renew", {{"address", address}, {"csr", csr}}, tls, key, timeout);
}

bool renewal_due(const std::string& cert_pem, net::SystemTime now) {
  auto info = net::inspect_certificate(cert_pem);
  if (!info.ok()) return true;
  return now > info->not_after - (info->not_after - info->not_before) / 3;
}

}  // namespace oriel::agent
