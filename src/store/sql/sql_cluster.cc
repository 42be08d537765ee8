// The cluster's PKI records: its CA, join tokens, the hosts' certificates.
#include "sql/columns.h"
#include "sql/rows.h"
#include "sql/sql_store.h"

namespace oriel::store {

Result<ClusterCaRecord> SqlStore::keep_cluster_ca(const ClusterCaRecord& candidate) {
  return transaction<ClusterCaRecord>(sql::Access::kWrite, [&](sql::Tx& tx) -> Result<ClusterCaRecord> {
    TRY(tx.exec("INSERT INTO cluster_ca (id, cert_pem, key_pem) VALUES (1,$1,$2) ON CONFLICT (id) DO NOTHING",
                candidate.cert_pem, candidate.key_pem));
    auto kept =
        TRY(tx.first<ClusterCaRecord>("SELECT cert_pem, key_pem FROM cluster_ca WHERE id=1", [](const sql::Row& r) {
          return ClusterCaRecord{r.text(0), r.text(1)};
        }));
    if (!kept) return Error::Internal("the cluster CA vanished");
    return std::move(*kept);
  });
}

Result<void> SqlStore::insert_join_token(const JoinTokenRecord& t) {
  return write(
      "INSERT INTO join_tokens (token_hash, created_ms, expires_ms, used_ms, host_name) VALUES ($1,$2,$3,$4,$5)",
      t.token_hash, to_unix_ms(t.created_at), to_unix_ms(t.expires_at), to_unix_ms(t.used_at), t.host_name);
}

Result<void> SqlStore::use_join_token(std::string_view token_hash, std::string_view host_name, WallTime now) {
  // The WHERE decides: of two agents with one token, the second finds it used.
  if (TRY(rows_changed("UPDATE join_tokens SET used_ms=$1, host_name=$2 WHERE token_hash=$3 AND used_ms=0 AND "
                       "expires_ms>$1",
                       to_unix_ms(now), host_name, token_hash)) == 0) {
    return Error::NotFound("join token", "(invalid, expired or already used)");
  }
  return Ok();
}

Result<void> SqlStore::insert_host_certificate(const HostCertificateRecord& c) {
  static const std::string kSql =
      fmt::format("INSERT INTO host_certificates ({}) VALUES ({})", kHostCertificateColumns, sql::placeholders(5));
  return write(kSql, c.fingerprint, c.host_name, c.serial, to_unix_ms(c.not_after), to_unix_ms(c.revoked_at));
}

Result<HostCertificateRecord> SqlStore::host_certificate(std::string_view fingerprint) {
  static const std::string kSql =
      fmt::format("SELECT {} FROM host_certificates WHERE fingerprint=$1", kHostCertificateColumns);
  return one<HostCertificateRecord>(kSql, read_host_certificate, "host certificate", fingerprint);
}

Result<void> SqlStore::revoke_host_certificates(std::string_view host_name, WallTime now) {
  return write("UPDATE host_certificates SET revoked_ms=$1 WHERE host_name=$2 AND revoked_ms=0", to_unix_ms(now),
               host_name);
}

}  // namespace oriel::store
