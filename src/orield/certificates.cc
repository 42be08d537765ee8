#include "certificates.h"

#include <ifaddrs.h>
#include <netdb.h>
#include <sys/resource.h>

#include <algorithm>
#include <filesystem>

#include "oriel/common/files.h"
#include "oriel/common/log.h"
#include "oriel/net/client.h"
#include "oriel/net/pki.h"
#include "roles.h"

namespace oriel {
namespace {

namespace fs = std::filesystem;
using std::chrono::days;

constexpr auto kServerLifetime = days(397);
constexpr auto kRenewBefore = days(30);

// The local interfaces' addresses, without IPv6 link-local ones (which need
// a zone a certificate cannot carry).
std::vector<std::string> interface_addresses() {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || (a->ifa_addr->sa_family != AF_INET && a->ifa_addr->sa_family != AF_INET6)) continue;
    std::array<char, NI_MAXHOST> host{};
    socklen_t len = a->ifa_addr->sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    if (getnameinfo(a->ifa_addr, len, host.data(), host.size(), nullptr, 0, NI_NUMERICHOST) != 0) continue;
    std::string text = host.data();
    if (text.find('%') != std::string::npos || text.starts_with("fe80")) continue;
    out.push_back(text);
  }
  freeifaddrs(list);
  return out;
}

std::string tls_dir(const OrieldOptions& o) { return o.data_dir + "/tls"; }

bool is_wildcard(const std::string& host) { return host.empty() || host == "0.0.0.0" || host == "::"; }

bool covers(const net::CertificateInfo& cert, const std::vector<std::string>& names) {
  return std::all_of(names.begin(), names.end(), [&](const std::string& n) {
    return std::find(cert.names.begin(), cert.names.end(), n) != cert.names.end();
  });
}

// Makes DATA/tls/server.{pem,key} from the cluster CA when missing or due.
Result<void> ensure_own_certificate(const std::string& dir, const OrieldOptions& o,
                                    const std::vector<std::string>& names, std::chrono::system_clock::time_point now) {
  net::CertifiedKey ca{read_text_file(dir + "/ca.pem"), read_text_file(dir + "/ca.key")};
  if (!net::inspect_certificate(ca.cert_pem).ok() || ca.key_pem.empty()) {
    return Error::Internal(fmt::format("{}/ca.pem and ca.key do not hold the cluster CA", dir));
  }
  std::string served = read_text_file(dir + "/server.pem");
  auto server = net::inspect_certificate(served);
  bool due = !server.ok() || !fs::exists(dir + "/server.key") || !covers(*server, names) ||
             server->not_after - now < kRenewBefore || !net::signed_by(served, ca.cert_pem);
  if (!due) return Ok();
  net::CertificateProfile profile{o.host_name, names, true, false, now, kServerLifetime};
  auto issued = TRY(net::issue_certificate(ca, profile));
  TRY(write_private_file(dir + "/server.key", issued.key_pem));
  TRY(write_private_file(dir + "/server.pem", issued.cert_pem + ca.cert_pem));
  spdlog::info("tls: issued the server certificate for {}", fmt::join(names, ", "));
  return Ok();
}

}  // namespace

std::pair<std::string, std::string> existing_ca(const OrieldOptions& o) {
  return {read_text_file(tls_dir(o) + "/ca.pem"), read_text_file(tls_dir(o) + "/ca.key")};
}

Result<void> install_cluster_ca(const OrieldOptions& o, const std::string& ca_pem, const std::string& ca_key_pem) {
  std::string dir = tls_dir(o);
  TRY(make_private_dir(dir));
  if (existing_ca(o) == std::make_pair(ca_pem, ca_key_pem)) return Ok();
  TRY(write_private_file(dir + "/ca.key", ca_key_pem));
  TRY(write_private_file(dir + "/ca.pem", ca_pem));
  spdlog::info("tls: the cluster's certificate authority is in {}/ca.pem", dir);
  return Ok();
}

std::vector<std::string> certificate_names(const OrieldOptions& o, const std::string& listen_host) {
  std::vector<std::string> names = {o.host_name, "localhost", "127.0.0.1", "::1"};
  if (!is_wildcard(listen_host)) names.push_back(listen_host);
  if (!o.advertise.empty()) names.push_back(o.advertise);
  if (!o.public_url.empty()) {
    if (auto url = net::parse_server_url(o.public_url); url.ok()) names.push_back(url->host);
  }
  for (auto& address : interface_addresses()) names.push_back(std::move(address));
  std::vector<std::string> unique;
  for (auto& n : names) {
    if (!net::is_certificate_name(n)) {
      spdlog::warn("tls: '{}' cannot be a certificate's name (not a DNS name or an address); left out", n);
    } else if (std::find(unique.begin(), unique.end(), n) == unique.end()) {
      unique.push_back(std::move(n));
    }
  }
  return unique;
}

Result<ServedCertificate> prepare_certificate(const OrieldOptions& o, const std::vector<std::string>& names,
                                              std::chrono::system_clock::time_point now) {
  std::string dir = tls_dir(o);
  // Agents present certificates of the cluster CA; browsers present none.
  std::string cluster_ca = dir + "/ca.pem";
  if (!o.tls_cert.empty()) return ServedCertificate{{o.tls_cert, o.tls_key, cluster_ca, false}, ""};
  TRY(ensure_own_certificate(dir, o, names, now));
  return ServedCertificate{{dir + "/server.pem", dir + "/server.key", cluster_ca, false}, cluster_ca};
}

Result<void> check_listener_options(const OrieldOptions& o, const std::string& listen_host) {
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    return Error::InvalidArgument("--tls-cert and --tls-key go together: give both or neither");
  }
  if (!o.public_url.empty()) TRY(net::parse_server_url(o.public_url));
  if (!o.insecure_http) return Ok();
  bool loopback = listen_host == "localhost" || listen_host == "::1" || listen_host.starts_with("127.");
  if (loopback || !o.trusted_proxies.empty()) return Ok();
  return Error::InvalidArgument(
      fmt::format("--insecure-http serves plain HTTP only on a loopback address or behind a reverse proxy named "
                  "with --trusted-proxy; {} is neither (drop --insecure-http to serve HTTPS)",
                  listen_host));
}

Result<std::shared_ptr<net::TlsServer>> start_listener(net::HttpServer& server, const OrieldOptions& o,
                                                       const std::string& listen_host) {
  TRY(server.trust_proxies(o.trusted_proxies));
  if (!o.public_url.empty()) {
    auto url = TRY(net::parse_server_url(o.public_url));
    server.allow_origins({fmt::format("{}://{}", url.tls ? "https" : "http", url.authority()),
                          fmt::format("{}://{}", url.tls ? "https" : "http",
                                      url.port == (url.tls ? 443 : 80) ? url.host : url.authority())});
  }
  if (o.insecure_http) {
    spdlog::warn("serving plain HTTP (--insecure-http): passwords and tokens cross the network in clear text");
    return std::shared_ptr<net::TlsServer>();
  }
  auto served = TRY(prepare_certificate(o, certificate_names(o, listen_host), std::chrono::system_clock::now()));
  auto tls = TRY(net::TlsServer::load(served.files));
  spdlog::info("tls: serving {} (fingerprint {})", served.files.cert_file, tls->fingerprint());
  if (!served.ca_file.empty()) spdlog::info("tls: clients trust the CA {}", served.ca_file);
  server.use_tls(tls);
  return tls;
}

net::HttpLimits listener_limits(const OrieldOptions& o) {
  net::HttpLimits limits;
  limits.max_connections = static_cast<size_t>(o.max_connections);
  limits.max_connections_per_address = static_cast<size_t>(o.max_connections_per_address);
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0) return limits;
  if (files.rlim_cur < files.rlim_max) {
    rlim_t before = files.rlim_cur;
    files.rlim_cur = files.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &files) != 0) files.rlim_cur = before;
  }
  // A desktop takes several descriptors too (QMP, its display, its disks'
  // locks): a thousand are kept for them.
  auto usable = static_cast<size_t>(files.rlim_cur > 2048 ? files.rlim_cur - 1024 : files.rlim_cur / 2);
  if (limits.max_connections > usable) {
    spdlog::warn("open-file limit {}: at most {} connections, not {} (raise LimitNOFILE)", files.rlim_cur, usable,
                 limits.max_connections);
    limits.max_connections = usable;
  }
  spdlog::debug("open-file limit {}; at most {} connections, {} per client address", files.rlim_cur,
                limits.max_connections, limits.max_connections_per_address);
  return limits;
}

std::string listener_url(const std::string& host, uint16_t port, bool tls) {
  return fmt::format("{}://{}:{}", tls ? "https" : "http",
                     host.find(':') != std::string::npos ? "[" + host + "]" : host, port);
}

CertificateReloader::CertificateReloader(boost::asio::io_context& io, std::shared_ptr<net::TlsServer> tls,
                                         const OrieldOptions& o, std::string listen_host)
    : signals_(io), tls_(std::move(tls)), options_(o), listen_host_(std::move(listen_host)) {
  if (!tls_) return;
  signals_.add(SIGHUP);
  wait();
}

void CertificateReloader::wait() {
  signals_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    reload();
    wait();
  });
}

void CertificateReloader::reload() {
  auto served =
      prepare_certificate(options_, certificate_names(options_, listen_host_), std::chrono::system_clock::now());
  auto reloaded = served.ok() ? tls_->reload() : Result<void>(served.error());
  if (!reloaded.ok()) {
    spdlog::error("tls: SIGHUP: reload failed, still serving the old certificate: {}", reloaded.error().message());
    return;
  }
  spdlog::info("tls: SIGHUP: reloaded {} (fingerprint {})", served->files.cert_file, tls_->fingerprint());
}

}  // namespace oriel
