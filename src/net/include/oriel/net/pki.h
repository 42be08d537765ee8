// Keys and certificates (OpenSSL): the certificate authority orield makes for
// itself on first start, the server certificates it issues, and the cluster
// certificates issued to agents from their certificate requests. Every key
// is ECDSA P-256; everything is PEM text.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "oriel/common/result.h"

namespace oriel::net {

using SystemTime = std::chrono::system_clock::time_point;

struct CertifiedKey {
  std::string cert_pem;
  std::string key_pem;  // PKCS#8, unencrypted: keep the file 0600
};

// What a certificate says. `names` are its subject alternative names: DNS
// names and IP addresses (v4 or v6), told apart by parsing.
struct CertificateProfile {
  std::string common_name;
  std::vector<std::string> names;
  bool server = true;   // extendedKeyUsage serverAuth
  bool client = false;  // extendedKeyUsage clientAuth
  SystemTime not_before;
  std::chrono::seconds lifetime{};
};

// Whether a certificate can name `name`: an IP address, or a DNS host name
// (letters, digits, '-' and '.', not starting with '-' or '.').
bool is_certificate_name(std::string_view name);

// A new private key (PEM).
Result<std::string> make_private_key();
// A self-signed CA certificate and its key.
Result<CertifiedKey> make_ca(std::string_view common_name, SystemTime now, std::chrono::seconds lifetime);
// A new key and a certificate for it signed by `ca`.
Result<CertifiedKey> issue_certificate(const CertifiedKey& ca, const CertificateProfile& profile);
// A certificate request for `key_pem`, signed by it.
Result<std::string> make_certificate_request(std::string_view key_pem, std::string_view common_name);
// Signs a request's public key after checking the request's own signature.
// The certificate says what `profile` says, whatever the request asked for:
// the CA decides a host's names.
Result<std::string> sign_certificate_request(const CertifiedKey& ca, std::string_view request_pem,
                                             const CertificateProfile& profile);

struct CertificateInfo {
  std::string common_name;
  std::vector<std::string> names;
  std::string serial;          // hex
  std::string fingerprint;     // certificate_fingerprint()
  std::string public_key_pin;  // "sha256:" + hex of the SubjectPublicKeyInfo (what --ca-pin takes)
  SystemTime not_before, not_after;
};
// The first certificate of a PEM text.
Result<CertificateInfo> inspect_certificate(std::string_view cert_pem);
// True when `cert_pem` was signed by `ca_pem` (signature only; no dates).
bool signed_by(std::string_view cert_pem, std::string_view ca_pem);

}  // namespace oriel::net
