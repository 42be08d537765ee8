// The column lists the store selects, in the order its row readers
// (rows.h) expect them (internal).
#pragma once

#include <string_view>

namespace oriel::store {

inline constexpr std::string_view kDesktopColumns =
    "id, name, image_id, vcpus, memory_mb, host_id, pool_id, tenant_id, assigned_user, state, desired, pending_op, "
    "error, deadline_ms, created_ms, updated_ms, version";
inline constexpr std::string_view kUserColumns =
    "id, username, password_hash, role, tenant_id, created_ms, failed_logins, last_failed_ms, locked_until_ms";
inline constexpr std::string_view kImageColumns =
    "id, name, state, progress, source_path, requested_format, source_format, path, virtual_size_bytes, size_bytes, "
    "boot_json, error, created_ms, updated_ms, tenant_id, shared";
inline constexpr std::string_view kHostColumns = "id, name, state, accelerator, cpus, memory_mb, address, heartbeat_ms";
inline constexpr std::string_view kPoolColumns =
    "id, name, tenant_id, image_id, type, size, spare, vcpus, memory_mb, idle_timeout_s, provisioning, state, "
    "message, next_index, created_ms, updated_ms, version, clipboard, network";
inline constexpr std::string_view kSessionColumns =
    "id, pool_id, tenant_id, user_id, desktop_id, state, client_address, created_ms, last_activity_ms, ended_ms";
inline constexpr std::string_view kAuditColumns =
    "seq, at_ms, tenant_id, user_id, username, action, target, address, status, result, detail";
inline constexpr std::string_view kUsageColumns = "kind, subject_id, tenant_id, pool_id, user_id, start_ms, end_ms";
inline constexpr std::string_view kTicketColumns = "ticket_hash, session_id, desktop_id, expires_ms, used_ms";
inline constexpr std::string_view kHostCertificateColumns = "fingerprint, host_name, serial, not_after_ms, revoked_ms";
inline constexpr std::string_view kTokenColumns = "token_hash, user_id, created_ms, expires_ms";
inline constexpr std::string_view kTenantColumns =
    "id, name, created_ms, quota_desktops, quota_vcpus, quota_memory_mb, quota_disk_gb, audit_retention_days, "
    "audit_legal_hold";
inline constexpr std::string_view kAuditArchiveColumns =
    "tenant_id, first_seq, last_seq, events, file, sha256, archived_ms";

}  // namespace oriel::store
