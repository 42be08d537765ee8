// How images, desktops, hosts and the broker's objects (tenants, users,
// pools, sessions, audit events, usage) look in `--output table`: which
// columns a person wants, with sizes and ages made readable. Input is the
// server's JSON as it came (fields may be missing or null: they show as "-";
// a list that is not an array shows as an empty table).
#pragma once

#include <string>

#include "oriel/common/clock.h"
#include "oriel/common/json.h"
#include "output.h"

namespace oriel::cli {

std::string images_table(const Json& images, WallTime now);
Fields image_fields(const Json& image);
// "kernel /boot/vmlinuz, initrd /boot/initrd.img, cmdline 'console=ttyS0'",
// "firmware uefi" or "bios (default)".
std::string boot_text(const Json& boot);

std::string desktops_table(const Json& desktops, WallTime now);
Fields desktop_fields(const Json& desktop);

std::string hosts_table(const Json& hosts);

std::string tenants_table(const Json& tenants, WallTime now);
Fields tenant_fields(const Json& tenant);

std::string users_table(const Json& users, WallTime now);
Fields user_fields(const Json& user);

// Pools with their live counts: desktops of size, in use, ready (running, free).
std::string pools_table(const Json& pools);
Fields pool_fields(const Json& pool);
std::string entitlements_table(const Json& entitlements);

std::string sessions_table(const Json& sessions, WallTime now);
// Every field of a session, with its display URL when the answer has one.
Fields session_fields(const Json& session);
// What a person needs after a logon or a new ticket: where to connect, until when.
Fields display_fields(const Json& session);

// Audit events in the order given (the server sends them newest first).
std::string audit_table(const Json& events);
std::string audit_archives_table(const Json& archives);
// The usage report as two tables: desktop-hours per pool, session-hours per user.
std::string usage_tables(const Json& report);

}  // namespace oriel::cli
