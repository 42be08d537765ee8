// Live migration of a running desktop between two hosts: QEMU's precopy
// over TCP (QEMU docs/devel/migration.rst), the guest's RAM copied while it
// runs, then a pause of a few milliseconds for the last dirty pages and the
// device state. LocalAgent drives both ends (prepare_incoming on the target,
// migrate on the source); these are the values that cross between them and,
// later, between a controller and a remote agent as JSON.
//
// Two storage modes:
//   shared  both hosts open the same qcow2 overlay (shared storage). Only
//           RAM and device state move; the target opens the image inactive
//           and takes it (and QEMU's image lock) at switchover.
//   copy    local disks. The target makes its own overlay on the same
//           golden image (present on both hosts at the same path) and
//           exports it over NBD; the source mirrors only its overlay's own
//           clusters into it (sync=top: the base is identical on both
//           sides), in write-blocking mode so the copy stays in sync once
//           ready, then migrates RAM. At switchover (QEMU's
//           pause-before-switchover) the mirror is completed without a
//           pivot, so the target has every write before its guest runs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "oriel/agent/vm_spec.h"
#include "oriel/common/json.h"
#include "oriel/common/result.h"

namespace oriel::agent {

enum class MigrationStorage {
  kShared,  // the same overlay file on both hosts
  kCopy,    // each host its own overlay; the source copies its overlay over NBD
};
std::string_view migration_storage_name(MigrationStorage s);  // shared | copy

// What the target host is asked to prepare.
struct IncomingRequest {
  VmSpec spec;  // as the source runs it; with kShared, disk_path is the shared overlay
  MigrationStorage storage = MigrationStorage::kShared;
  // kCopy: the golden image the source's overlay is backed by, at the same
  // path on this host. The new overlay goes to this agent's disk_path(id).
  std::string golden_path;
  // An address of this host that the source host can reach (the migration
  // network). QEMU picks the ports.
  std::string listen_host = "127.0.0.1";

  Json to_json() const;
  static Result<IncomingRequest> from_json(const Json& j);
};

// Where the source sends the VM: what prepare_incoming returns and migrate
// takes, unchanged.
struct MigrationTarget {
  std::string uri;       // "tcp:HOST:PORT", the RAM and device state stream
  std::string disk_uri;  // "nbd://HOST:PORT/EXPORT" with kCopy, the target's overlay; empty with kShared

  Json to_json() const;
  static Result<MigrationTarget> from_json(const Json& j);
};

// The source's migration parameters (QMP migrate-set-parameters and
// migrate-set-capabilities). Every field is set on every migration, so a
// QEMU that migrated before starts from known values.
struct MigrationOptions {
  static constexpr int64_t kUnlimited = int64_t{1} << 40;  // 1 TiB/s: no limit a link can reach

  // The longest pause QEMU plans for the final copy. QEMU's default is
  // 300 ms; a desktop user notices that, 50 ms not.
  int downtime_limit_ms = 50;
  // Throttles vCPUs that dirty memory faster than it can be sent, so a
  // busy guest still converges instead of iterating forever.
  bool auto_converge = true;
  // QEMU's default (128 MiB/s) would use an eighth of a 10 GbE link.
  int64_t max_bandwidth_bytes_per_s = kUnlimited;
  // How long migrate() waits for QEMU to connect to the target (shared
  // storage; with kCopy the NBD connection is made at once).
  int connect_timeout_ms = 10000;

  // QEMU 7.2's own defaults, for comparison: 300 ms, no auto-converge, 128 MiB/s.
  static MigrationOptions qemu_defaults();
  Json to_json() const;
  static Result<MigrationOptions> from_json(const Json& j);
};

// One migration, seen from either end. Terminal states are final.
enum class MigrationState {
  kIncoming,     // target: QEMU waits for (or receives) the stream; not a desktop here yet
  kMirroring,    // source, kCopy: copying the overlay to the target, not yet in sync
  kMigrating,    // source: RAM precopy while the guest runs (the disk copy, if any, in sync)
  kSwitchover,   // source: guest paused for the last pages, device state and disk writes
  kRollingBack,  // source: undoing a failed or cancelled migration; the guest stays here
  kCompleted,    // the guest runs on the target; the source QEMU is gone
  kFailed,       // rolled back: the guest runs on the source; `error` says why
  kCancelled,    // cancelled by Oriel, rolled back the same way
};
std::string_view migration_state_name(MigrationState s);
std::optional<MigrationState> parse_migration_state(std::string_view name);
bool is_final(MigrationState s);

// Progress as QEMU reports it (query-migrate, query-jobs). Byte counts are
// QEMU's; -1 means "not known (yet)".
struct MigrationProgress {
  MigrationState state = MigrationState::kIncoming;
  MigrationStorage storage = MigrationStorage::kShared;
  std::string qemu_status;  // QEMU's own: setup, active, pre-switchover, device, completed, failed, ...
  double percent = 0;       // of all there is to copy: the overlay (kCopy) and the RAM
  int64_t ram_total_bytes = -1;
  int64_t ram_transferred_bytes = -1;
  int64_t ram_remaining_bytes = -1;
  int64_t disk_total_bytes = -1;  // kCopy: the mirror job's work
  int64_t disk_copied_bytes = -1;
  int64_t expected_downtime_ms = -1;  // while RAM is copied: QEMU's estimate of the pause
  double throughput_mbps = -1;        // the RAM stream, megabits per second
  int64_t dirty_sync_count = -1;      // RAM passes so far
  int64_t cpu_throttle_percent = -1;  // auto-converge's vCPU throttle, when active
  // QEMU's own figures once completed: setup, whole migration, guest pause.
  int64_t setup_time_ms = -1;
  int64_t total_time_ms = -1;
  int64_t downtime_ms = -1;
  std::string error;  // why it failed (QEMU's words where it gave them)

  Json to_json() const;
  static Result<MigrationProgress> from_json(const Json& j);
};

// Folds QEMU's query-migrate answer (QAPI MigrationInfo) into `p`: the RAM
// counters, timings, status and error. Fields QEMU leaves out keep their
// values; values of the wrong type are ignored (QEMU's reply is external).
void apply_migration_info(const Json& info, MigrationProgress& p);

// The overall percentage from the counters: disk and RAM bytes together,
// RAM counted as `ram_estimate` until QEMU reports its total.
double migration_percent(const MigrationProgress& p, int64_t ram_estimate);

// "tcp:HOST:PORT" (HOST may be [v6]) → host and port; anything else, or a
// port outside 1..65535, is InvalidArgument.
struct HostPort {
  std::string host;
  int port = 0;
};
Result<HostPort> parse_tcp_migration_uri(std::string_view uri);
// "nbd://HOST:PORT/EXPORT" → host, port, export name.
struct NbdAddress {
  std::string host;
  int port = 0;
  std::string export_name;
};
Result<NbdAddress> parse_nbd_uri(std::string_view uri);

}  // namespace oriel::agent
