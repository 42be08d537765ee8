// The certificate orield's listener serves (internal to orield): the files
// an administrator gives with --tls-cert/--tls-key, or orield's own, made on
// first start under DATA/tls like Proxmox's pve-root-ca: a CA (ca.pem is
// what a client trusts) and a server certificate for this host's names and
// addresses, reissued when a name is missing or it nears its end.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "options.h"
#include "oriel/common/result.h"
#include "oriel/net/http.h"  // first: it includes <utility> before Asio

#include <boost/asio/signal_set.hpp>

#include "oriel/net/tls.h"

namespace oriel {

struct ServedCertificate {
  net::TlsServerFiles files;
  std::string ca_file;  // the CA a client trusts; empty when the certificate is the administrator's
};

// The names a self-made server certificate carries: this host's name,
// localhost, the loopback and local interface addresses, the --listen host,
// --advertise and --public-url's host.
std::vector<std::string> certificate_names(const OrieldOptions& o, const std::string& listen_host);

// The files to serve. With --tls-cert/--tls-key those; otherwise DATA/tls,
// made or renewed as needed (a server certificate lives 397 days and is
// renewed 30 days before its end, or when `names` gained one).
Result<ServedCertificate> prepare_certificate(const OrieldOptions& o, const std::vector<std::string>& names,
                                              std::chrono::system_clock::time_point now);

// The CA under DATA/tls (cert, key), if any: an orield of the last release
// made its own, which becomes the cluster's when the store has none.
std::pair<std::string, std::string> existing_ca(const OrieldOptions& o);
// Writes the cluster CA to DATA/tls/ca.pem and ca.key (unless they hold it):
// it signs orield's own server certificate, and the listener checks agents'
// client certificates against it.
Result<void> install_cluster_ca(const OrieldOptions& o, const std::string& ca_pem, const std::string& ca_key_pem);

// Checks the listener's options before anything starts: --tls-cert with
// --tls-key, a valid --public-url, and plain HTTP (--insecure-http) only on
// a loopback address or behind a proxy named with --trusted-proxy.
Result<void> check_listener_options(const OrieldOptions& o, const std::string& listen_host);

// Sets `server` up as the options say (checked by check_listener_options):
// TLS (returned) or, with --insecure-http, plain HTTP (null); the trusted
// proxies and the public URL's origin.
Result<std::shared_ptr<net::TlsServer>> start_listener(net::HttpServer& server, const OrieldOptions& o,
                                                       const std::string& listen_host);
// The listener's limits from the options. Raises orield's open-file limit
// (RLIMIT_NOFILE) to its hard limit first, and lowers --max-connections to
// what that leaves once desktops have theirs, with a warning.
net::HttpLimits listener_limits(const OrieldOptions& o);
// "https://HOST:PORT" ("http://" without TLS), an IPv6 HOST in brackets.
std::string listener_url(const std::string& host, uint16_t port, bool tls);
// On each SIGHUP: renews orield's own certificate if it is due and reads
// the files again; open connections keep theirs. Idle without TLS. Must be
// destroyed before the io_context.
class CertificateReloader {
 public:
  CertificateReloader(boost::asio::io_context& io, std::shared_ptr<net::TlsServer> tls, const OrieldOptions& o,
                      std::string listen_host);

 private:
  void wait();
  void reload();

  boost::asio::signal_set signals_;
  std::shared_ptr<net::TlsServer> tls_;
  const OrieldOptions& options_;
  std::string listen_host_;
};

}  // namespace oriel
