// Keys, certificates and certificate requests with OpenSSL 3 (RFC 5280).
#include "oriel/net/pki.h"

#include "oriel/net/tls.h"  // before Asio's users: it includes <utility> first

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <boost/asio/ip/address.hpp>

#include <array>
#include <ctime>
#include <memory>

#include "oriel/common/log.h"

namespace oriel::net {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Req = std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using Names = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES, GENERAL_NAMES_free>>;
using Number = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;

Error openssl_failure(std::string_view what) {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  std::array<char, 256> text{};
  if (code != 0) ERR_error_string_n(code, text.data(), text.size());
  return Error::Internal(fmt::format("{}: {}", what, code != 0 ? text.data() : "OpenSSL failed"));
}

Bio reader(std::string_view pem) { return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))); }

template <typename Write>
std::string to_pem(Write write) {
  Bio bio(BIO_new(BIO_s_mem()));
  write(bio.get());
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<Key> read_key(std::string_view pem) {
  Key key(PEM_read_bio_PrivateKey(reader(pem).get(), nullptr, nullptr, nullptr));
  if (!key) return Error::InvalidArgument("not a PEM private key");
  return key;
}

Result<Cert> read_cert(std::string_view pem) {
  Cert cert(PEM_read_bio_X509(reader(pem).get(), nullptr, nullptr, nullptr));
  if (!cert) {
    ERR_clear_error();
    return Error::InvalidArgument("not a PEM certificate");
  }
  return cert;
}

std::string key_pem(EVP_PKEY* key) {
  return to_pem([key](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); });
}

std::string cert_pem(X509* cert) {
  return to_pem([cert](BIO* b) { PEM_write_bio_X509(b, cert); });
}

std::string sha256_hex(const unsigned char* data, size_t n) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_Digest(data, n, md.data(), &len, EVP_sha256(), nullptr);
  std::string out = "sha256:";
  for (unsigned int i = 0; i < len; ++i) out += fmt::format("{:02x}", md[i]);
  return out;
}

}  // namespace

// Declared in tls.h; here beside the other SHA-256 digests.
std::string certificate_fingerprint(X509* cert) {
  if (cert == nullptr) return {};
  unsigned char* der = nullptr;
  int n = i2d_X509(cert, &der);
  if (n <= 0) return {};
  std::string out = sha256_hex(der, static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

namespace {

Result<void> add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
  if (ext == nullptr) return openssl_failure(fmt::format("certificate extension {}", value));
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return Ok();
}

// DNS names and IP addresses as a subjectAltName. Names are checked here,
// so nothing a caller passes can smuggle another entry in.
Result<Names> alt_names(const std::vector<std::string>& names) {
  Names out(sk_GENERAL_NAME_new_null());
  for (const std::string& name : names) {
    GENERAL_NAME* entry = nullptr;
    if (ASN1_OCTET_STRING* ip = a2i_IPADDRESS(name.c_str())) {
      entry = GENERAL_NAME_new();
      GENERAL_NAME_set0_value(entry, GEN_IPADD, ip);
    } else {
      ERR_clear_error();
      if (!is_certificate_name(name)) {
        return Error::InvalidArgument(fmt::format("'{}' is neither a host name nor an IP address", name));
      }
      ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
      ASN1_STRING_set(dns, name.data(), static_cast<int>(name.size()));
      entry = GENERAL_NAME_new();
      GENERAL_NAME_set0_value(entry, GEN_DNS, dns);
    }
    sk_GENERAL_NAME_push(out.get(), entry);
  }
  return out;
}

// A certificate for `key`: subject, a random 127-bit serial, validity and
// the extensions of a CA or of a leaf; signed by `issuer_key` as `issuer`
// (itself when null).
Result<Cert> build(EVP_PKEY* key, const CertificateProfile& p, bool ca, X509* issuer, EVP_PKEY* issuer_key) {
  Cert cert(X509_new());
  X509* x = cert.get();
  X509_set_version(x, 2);
  std::array<unsigned char, 16> serial{};
  if (RAND_bytes(serial.data(), serial.size()) != 1) return openssl_failure("random serial");
  serial[0] &= 0x7f;  // positive (RFC 5280 §4.1.2.2)
  Number n(BN_bin2bn(serial.data(), serial.size(), nullptr));
  BN_to_ASN1_INTEGER(n.get(), X509_get_serialNumber(x));
  // A minute early, for clocks that lag the CA's.
  auto from = std::chrono::system_clock::to_time_t(p.not_before - std::chrono::minutes(1));
  auto until = std::chrono::system_clock::to_time_t(p.not_before + p.lifetime);
  ASN1_TIME_set(X509_getm_notBefore(x), from);
  ASN1_TIME_set(X509_getm_notAfter(x), until);
  X509_NAME* subject = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("Oriel"), -1, -1, 0);
  if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(p.common_name.c_str()), -1, -1, 0) != 1) {
    return openssl_failure(fmt::format("common name '{}'", p.common_name));
  }
  X509_set_issuer_name(x, issuer != nullptr ? X509_get_subject_name(issuer) : subject);
  X509_set_pubkey(x, key);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : x, x, nullptr, nullptr, 0);
  TRY(add_extension(x, &ctx, NID_subject_key_identifier, "hash"));
  TRY(add_extension(x, &ctx, NID_authority_key_identifier, "keyid:always"));
  if (ca) {
    TRY(add_extension(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
    TRY(add_extension(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
  } else {
    TRY(add_extension(x, &ctx, NID_basic_constraints, "critical,CA:FALSE"));
    TRY(add_extension(x, &ctx, NID_key_usage, "critical,digitalSignature"));
    std::string usage = p.server && p.client ? "serverAuth,clientAuth" : p.client ? "clientAuth" : "serverAuth";
    TRY(add_extension(x, &ctx, NID_ext_key_usage, usage.c_str()));
  }
  if (!p.names.empty()) {
    Names names = TRY(alt_names(p.names));
    X509_add1_ext_i2d(x, NID_subject_alt_name, names.get(), 0, 0);
  }
  if (X509_sign(x, issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0) {
    return openssl_failure("signing the certificate");
  }
  return cert;
}

SystemTime to_time(const ASN1_TIME* t) {
  std::tm tm{};
  ASN1_TIME_to_tm(t, &tm);
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

bool is_certificate_name(std::string_view name) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(std::string(name), ec);
  if (!ec) return true;
  return !name.empty() && name.size() <= 253 && name.front() != '.' && name.front() != '-' &&
         std::all_of(name.begin(), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.'; });
}

Result<std::string> make_private_key() {
  Key key(EVP_EC_gen("P-256"));
  if (!key) return openssl_failure("making an EC P-256 key");
  return key_pem(key.get());
}

Result<CertifiedKey> make_ca(std::string_view common_name, SystemTime now, std::chrono::seconds lifetime) {
  std::string pem = TRY(make_private_key());
  Key key = TRY(read_key(pem));
  CertificateProfile profile{std::string(common_name), {}, false, false, now, lifetime};
  Cert cert = TRY(build(key.get(), profile, true, nullptr, nullptr));
  return CertifiedKey{cert_pem(cert.get()), std::move(pem)};
}

Result<CertifiedKey> issue_certificate(const CertifiedKey& ca, const CertificateProfile& profile) {
  std::string pem = TRY(make_private_key());
  Key key = TRY(read_key(pem));
  Cert ca_cert = TRY(read_cert(ca.cert_pem));
  Key ca_key = TRY(read_key(ca.key_pem));
  Cert cert = TRY(build(key.get(), profile, false, ca_cert.get(), ca_key.get()));
  return CertifiedKey{cert_pem(cert.get()), std::move(pem)};
}

Result<std::string> make_certificate_request(std::string_view key_pem_text, std::string_view common_name) {
  Key key = TRY(read_key(key_pem_text));
  Req req(X509_REQ_new());
  X509_REQ_set_version(req.get(), 0);
  X509_NAME* subject = X509_REQ_get_subject_name(req.get());
  std::string cn(common_name);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                             0);
  X509_REQ_set_pubkey(req.get(), key.get());
  if (X509_REQ_sign(req.get(), key.get(), EVP_sha256()) == 0) return openssl_failure("signing the request");
  return to_pem([&](BIO* b) { PEM_write_bio_X509_REQ(b, req.get()); });
}

Result<std::string> sign_certificate_request(const CertifiedKey& ca, std::string_view request_pem,
                                             const CertificateProfile& profile) {
  Req req(PEM_read_bio_X509_REQ(reader(request_pem).get(), nullptr, nullptr, nullptr));
  if (!req) {
    ERR_clear_error();
    return Error::InvalidArgument("the certificate request is not a PEM CERTIFICATE REQUEST");
  }
  EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
  if (key == nullptr || X509_REQ_verify(req.get(), key) != 1) {
    ERR_clear_error();
    return Error::InvalidArgument("the certificate request's signature does not verify");
  }
  if (EVP_PKEY_get_security_bits(key) < 112) {
    return Error::InvalidArgument("the certificate request's key is too weak (want EC P-256 or RSA 2048 and up)");
  }
  Cert ca_cert = TRY(read_cert(ca.cert_pem));
  Key ca_key = TRY(read_key(ca.key_pem));
  Cert cert = TRY(build(key, profile, false, ca_cert.get(), ca_key.get()));
  return cert_pem(cert.get());
}

Result<CertificateInfo> inspect_certificate(std::string_view pem) {
  Cert cert = TRY(read_cert(pem));
  X509* x = cert.get();
  CertificateInfo info;
  X509_NAME* subject = X509_get_subject_name(x);
  int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (at >= 0) {
    ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
    info.common_name.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                            static_cast<size_t>(ASN1_STRING_length(cn)));
  }
  Names names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names.get(), i);
    if (g->type == GEN_DNS) {
      info.names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.dNSName)),
                              static_cast<size_t>(ASN1_STRING_length(g->d.dNSName)));
    } else if (g->type == GEN_IPADD) {
      int len = ASN1_STRING_length(g->d.iPAddress);
      std::array<char, INET6_ADDRSTRLEN> text{};
      if (inet_ntop(len == 16 ? AF_INET6 : AF_INET, ASN1_STRING_get0_data(g->d.iPAddress), text.data(), text.size()) !=
          nullptr) {
        info.names.emplace_back(text.data());
      }
    }
  }
  Number serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr));
  char* hex = BN_bn2hex(serial.get());
  info.serial = hex;
  OPENSSL_free(hex);
  info.fingerprint = certificate_fingerprint(x);
  unsigned char* spki = nullptr;
  int spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
  info.public_key_pin = sha256_hex(spki, static_cast<size_t>(spki_len));
  OPENSSL_free(spki);
  info.not_before = to_time(X509_get0_notBefore(x));
  info.not_after = to_time(X509_get0_notAfter(x));
  return info;
}

bool signed_by(std::string_view cert_text, std::string_view ca_text) {
  auto cert = read_cert(cert_text);
  auto ca = read_cert(ca_text);
  if (!cert.ok() || !ca.ok()) return false;
  bool ok = X509_verify(cert->get(), X509_get0_pubkey(ca->get())) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace oriel::net
