// TLS for every listener and client (OpenSSL through Asio's ssl::context):
// the server's certificate, reloadable while connections stay up, and what a
// client trusts: a CA bundle, the system's store, or one pinned certificate.
// TLS 1.2 and 1.3 only, with Mozilla's "intermediate" cipher list.
#pragma once

#include "oriel/net/stream.h"  // first: it includes <utility> before Asio

#include <memory>
#include <string>
#include <string_view>

#include "oriel/common/mutex.h"
#include "oriel/common/result.h"

namespace oriel::net {

// "sha256:" and 64 lower-case hex digits: the SHA-256 of a certificate's DER
// bytes, which `openssl x509 -noout -fingerprint -sha256` prints with colons.
std::string certificate_fingerprint(X509* cert);
// The fingerprint as a user may type it: with or without "sha256:", with or
// without colons, any case. InvalidArgument when it is not 32 bytes of hex.
Result<std::string> normalize_fingerprint(std::string_view text);

struct TlsServerFiles {
  std::string cert_file;  // PEM: the server's certificate, then its chain
  std::string key_file;   // PEM private key
  // Non-empty: clients may present a certificate from these CAs (mutual
  // TLS); Request::client_certificate names a verified one.
  std::string client_ca_file;
  bool require_client_certificate = false;  // a client without one fails the handshake
};

// The server side: the context new connections take. Thread-safe.
class TlsServer {
 public:
  static Result<std::shared_ptr<TlsServer>> load(TlsServerFiles files);

  // Reads the files again (SIGHUP after a renewal). Connections already open
  // keep the context they started with; new ones get the new certificate.
  // On an error the old context stays and the error says why.
  Result<void> reload();
  std::shared_ptr<ssl::context> context() const;
  std::string fingerprint() const;  // of the server certificate now served

  explicit TlsServer(TlsServerFiles files) : files_(std::move(files)) {}

 private:
  const TlsServerFiles files_;
  mutable Mutex mu_;
  std::shared_ptr<ssl::context> context_ ORIEL_GUARDED_BY(mu_);
  std::string fingerprint_ ORIEL_GUARDED_BY(mu_);
};

struct TlsClientOptions {
  std::string ca_file;  // PEM CAs to trust; empty: the system's store
  std::string ca_pem;   // or the CAs' PEM text itself
  // A certificate fingerprint (normalize_fingerprint): the server presenting
  // exactly this certificate is trusted whatever its chain and names (trust
  // on first use). Empty: the chain and the host name are checked.
  std::string pin;
  std::string cert_file, key_file;  // a client certificate, for mutual TLS
  std::string cert_pem, key_pem;    // or as PEM text
  // Trust anything. Only to fetch what is checked another way before use
  // (the cluster CA, against the pin a join token comes with).
  bool skip_verification = false;
};

// The client side: one context for every connection of a client. Keeps the
// newest session so the next handshake resumes it (no certificate, no
// signature). Thread-safe.
class TlsClient {
 public:
  static Result<std::shared_ptr<TlsClient>> create(const TlsClientOptions& options);

  // A TLS stream over `tcp`, set to verify `host` (SNI and the certificate's
  // names, or the pin) and to resume the newest session.
  Result<Stream> wrap(boost::beast::tcp_stream tcp, const std::string& host) const;
  // Why a handshake failed, for a person: the certificate problem when
  // verification failed, else the TLS error. With a port, the fingerprint
  // of the certificate `host` presents too (a second, unverified handshake,
  // blocking for up to 2 s: not for an event loop's thread).
  static std::string describe_failure(Stream& stream, const boost::system::error_code& ec, const std::string& host = {},
                                      uint16_t port = 0);

  TlsClient(std::shared_ptr<ssl::context> context, std::string pin)
      : context_(std::move(context)), pin_(std::move(pin)) {}

 private:
  std::shared_ptr<ssl::context> context_;  // its SessionCache lives as long as it
  std::string pin_;
};

// The fingerprint of the certificate a TLS server presents, without trusting
// it (for a first contact that asks the user). host: a name or address.
Result<std::string> fetch_server_fingerprint(const std::string& host, uint16_t port, std::chrono::milliseconds timeout);

}  // namespace oriel::net
