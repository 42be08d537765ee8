// The readers that make a record of a row whose columns are in the order of
// columns.h (internal): each written once, for every backend.
#pragma once

#include <string_view>

#include "oriel/store/records.h"
#include "oriel/store/store.h"
#include "sql/columns.h"
#include "sql/sql.h"

namespace oriel::store {

DesktopRecord read_desktop(const sql::Row& r);
UserRecord read_user(const sql::Row& r);
ImageRecord read_image(const sql::Row& r);
HostRecord read_host(const sql::Row& r);
TokenRecord read_token(const sql::Row& r);
TenantRecord read_tenant(const sql::Row& r);
PoolRecord read_pool(const sql::Row& r);
SessionRecord read_session(const sql::Row& r);
TicketRecord read_ticket(const sql::Row& r);
HostCertificateRecord read_host_certificate(const sql::Row& r);
AuditEvent read_audit(const sql::Row& r);
AuditArchive read_audit_archive(const sql::Row& r);
UsageInterval read_usage(const sql::Row& r);
HostAllocation read_host_allocation(const sql::Row& r);      // host_id, vcpus, memory_mb
TenantAllocation read_tenant_allocation(const sql::Row& r);  // desktops, vcpus, memory_mb, disk_bytes
std::string read_text(const sql::Row& r);                    // the first column
int64_t read_int(const sql::Row& r);                         // the first column

// Two counts, in the first two columns.
struct Counts {
  int64_t first = 0;
  int64_t second = 0;
};
Counts read_counts(const sql::Row& r);

}  // namespace oriel::store
