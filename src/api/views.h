// Controller records → the JSON the API contract promises.
#pragma once

#include "oriel/common/json.h"
#include "oriel/controller/controller.h"

namespace oriel::api {

Json image_json(const store::ImageRecord& image);
Json desktop_json(const store::DesktopRecord& desktop);
Json host_json(const controller::HostView& view);
// A desktop's live migration: QEMU's progress (percent, remaining bytes,
// expected downtime, ...) and the hosts.
Json migration_json(const controller::MigrationView& view);
Json tenant_json(const store::TenantRecord& tenant);
Json user_json(const store::UserRecord& user);
Json pool_json(const controller::PoolView& view);
Json session_json(const controller::SessionView& view);
// Adds display_url and ticket_expires_at when the view carries a ticket;
// `host` is the authority the client used to reach orield.
void add_display_url(Json& j, const controller::SessionView& view, std::string_view host);
Json audit_json(const store::AuditEvent& event);
Json usage_json(const controller::UsageReport& report);
std::string usage_csv(const controller::UsageReport& report);  // RFC 4180, CRLF lines

}  // namespace oriel::api
