#include "sql/rows.h"

namespace oriel::store {

DesktopRecord read_desktop(const sql::Row& r) {
  DesktopRecord d;
  d.id = r.text(0);
  d.name = r.text(1);
  d.image_id = r.text(2);
  d.vcpus = r.int64(3);
  d.memory_mb = r.int64(4);
  d.host_id = r.text(5);
  d.pool_id = r.text(6);
  d.tenant_id = r.text(7);
  d.assigned_user = r.text(8);
  d.state = r.text(9);
  d.desired = r.text(10);
  d.pending_op = r.text(11);
  d.error = r.text(12);
  d.deadline_ms = r.int64(13);
  d.created_at = r.time(14);
  d.updated_at = r.time(15);
  d.version = r.int64(16);
  return d;
}

UserRecord read_user(const sql::Row& r) {
  return UserRecord{r.text(0), r.text(1), r.text(2), r.text(3), r.text(4), r.time(5), r.int64(6), r.time(7), r.time(8)};
}

ImageRecord read_image(const sql::Row& r) {
  ImageRecord i;
  i.id = r.text(0);
  i.name = r.text(1);
  i.state = r.text(2);
  i.progress = r.real(3);
  i.source_path = r.text(4);
  i.requested_format = r.text(5);
  i.source_format = r.text(6);
  i.path = r.text(7);
  i.virtual_size_bytes = r.int64(8);
  i.size_bytes = r.int64(9);
  i.boot_json = r.text(10);
  i.error = r.text(11);
  i.created_at = r.time(12);
  i.updated_at = r.time(13);
  i.tenant_id = r.text(14);
  i.shared = r.int64(15) != 0;
  return i;
}

HostRecord read_host(const sql::Row& r) {
  return HostRecord{r.text(0), r.text(1), r.text(2), r.text(3), r.int64(4), r.int64(5), r.text(6), r.time(7)};
}

TokenRecord read_token(const sql::Row& r) { return TokenRecord{r.text(0), r.text(1), r.time(2), r.time(3)}; }

TenantRecord read_tenant(const sql::Row& r) {
  return TenantRecord{
      r.text(0), r.text(1), r.time(2), {r.int64(3), r.int64(4), r.int64(5), r.int64(6)}, {r.int64(7), r.int64(8) != 0}};
}

AuditArchive read_audit_archive(const sql::Row& r) {
  return AuditArchive{r.text(0), r.int64(1), r.int64(2), r.int64(3), r.text(4), r.text(5), r.time(6)};
}

PoolRecord read_pool(const sql::Row& r) {
  PoolRecord p;
  p.id = r.text(0);
  p.name = r.text(1);
  p.tenant_id = r.text(2);
  p.image_id = r.text(3);
  p.type = r.text(4);
  p.size = r.int64(5);
  p.spare = r.int64(6);
  p.vcpus = r.int64(7);
  p.memory_mb = r.int64(8);
  p.idle_timeout_s = r.int64(9);
  p.provisioning = r.text(10);
  p.state = r.text(11);
  p.message = r.text(12);
  p.next_index = r.int64(13);
  p.created_at = r.time(14);
  p.updated_at = r.time(15);
  p.version = r.int64(16);
  p.clipboard = r.text(17);
  p.network = r.text(18);
  return p;
}

SessionRecord read_session(const sql::Row& r) {
  return SessionRecord{r.text(0), r.text(1), r.text(2), r.text(3), r.text(4),
                       r.text(5), r.text(6), r.time(7), r.time(8), r.time(9)};
}

TicketRecord read_ticket(const sql::Row& r) {
  return TicketRecord{r.text(0), r.text(1), r.text(2), r.time(3), r.time(4)};
}

HostCertificateRecord read_host_certificate(const sql::Row& r) {
  return HostCertificateRecord{r.text(0), r.text(1), r.text(2), r.time(3), r.time(4)};
}

AuditEvent read_audit(const sql::Row& r) {
  return AuditEvent{r.int64(0), r.time(1), r.text(2),  r.text(3), r.text(4), r.text(5),
                    r.text(6),  r.text(7), r.int64(8), r.text(9), r.text(10)};
}

UsageInterval read_usage(const sql::Row& r) {
  return UsageInterval{r.text(0), r.text(1), r.text(2), r.text(3), r.text(4), r.time(5), r.time(6)};
}

HostAllocation read_host_allocation(const sql::Row& r) { return HostAllocation{r.text(0), r.int64(1), r.int64(2)}; }

TenantAllocation read_tenant_allocation(const sql::Row& r) {
  return TenantAllocation{r.int64(0), r.int64(1), r.int64(2), r.int64(3)};
}

std::string read_text(const sql::Row& r) { return r.text(0); }

int64_t read_int(const sql::Row& r) { return r.int64(0); }

Counts read_counts(const sql::Row& r) { return Counts{r.int64(0), r.int64(1)}; }

}  // namespace oriel::store
