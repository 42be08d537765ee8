#include "oriel/agent/migration.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <utility>

namespace oriel::agent {
namespace {

using S = MigrationState;

constexpr std::array<std::pair<S, std::string_view>, 8> kStateNames = {{
    {S::kIncoming, "incoming"},
    {S::kMirroring, "mirroring"},
    {S::kMigrating, "migrating"},
    {S::kSwitchover, "switchover"},
    {S::kRollingBack, "rolling-back"},
    {S::kCompleted, "completed"},
    {S::kFailed, "failed"},
    {S::kCancelled, "cancelled"},
}};

// A number from QEMU's reply, or `fallback` when absent or not a number.
int64_t int_field(const Json& obj, const char* name, int64_t fallback) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_number()) return fallback;
  return it->get<int64_t>();
}

double double_field(const Json& obj, const char* name, double fallback) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_number()) return fallback;
  return it->get<double>();
}

Result<int> parse_port(std::string_view text, std::string_view uri) {
  int port = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || end != text.data() + text.size() || port < 1 || port > 65535) {
    return Error::InvalidArgument(fmt::format("'{}' has no valid port (1-65535)", uri));
  }
  return port;
}

// "HOST:PORT" or "[V6]:PORT".
Result<HostPort> parse_host_port(std::string_view text, std::string_view uri) {
  HostPort out;
  size_t colon = 0;
  if (text.starts_with('[')) {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Error::InvalidArgument(fmt::format("'{}': an IPv6 host is written [ADDR]:PORT", uri));
    }
    out.host = std::string(text.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = text.rfind(':');
    if (colon == std::string_view::npos) return Error::InvalidArgument(fmt::format("'{}' has no port", uri));
    out.host = std::string(text.substr(0, colon));
    if (out.host.find(':') != std::string::npos) {
      return Error::InvalidArgument(fmt::format("'{}': an IPv6 host is written [ADDR]:PORT", uri));
    }
  }
  if (out.host.empty()) return Error::InvalidArgument(fmt::format("'{}' has no host", uri));
  bool plain = std::all_of(out.host.begin(), out.host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '_';
  });
  if (!plain) return Error::InvalidArgument(fmt::format("'{}' has an invalid host", uri));
  out.port = TRY(parse_port(text.substr(colon + 1), uri));
  return out;
}

}  // namespace

std::string_view migration_storage_name(MigrationStorage s) { return s == MigrationStorage::kCopy ? "copy" : "shared"; }

std::string_view migration_state_name(MigrationState s) {
  for (const auto& [state, name] : kStateNames) {
    if (state == s) return name;
  }
  return "failed";
}

std::optional<MigrationState> parse_migration_state(std::string_view name) {
  for (const auto& [state, n] : kStateNames) {
    if (n == name) return state;
  }
  return std::nullopt;
}

bool is_final(MigrationState s) { return s == S::kCompleted || s == S::kFailed || s == S::kCancelled; }

Json IncomingRequest::to_json() const {
  return {{"spec", spec.to_json()},
          {"storage", migration_storage_name(storage)},
          {"golden_path", golden_path},
          {"listen_host", listen_host}};
}

Result<IncomingRequest> IncomingRequest::from_json(const Json& j) {
  TRY(json_only_fields(j, {"spec", "storage", "golden_path", "listen_host"}));
  IncomingRequest r;
  if (!j.contains("spec")) return Error::InvalidArgument("'spec' is missing");
  r.spec = TRY(VmSpec::from_json(j.at("spec")));
  std::string storage = TRY(json_string(j, "storage"));
  if (storage == migration_storage_name(MigrationStorage::kShared)) {
    r.storage = MigrationStorage::kShared;
  } else if (storage == migration_storage_name(MigrationStorage::kCopy)) {
    r.storage = MigrationStorage::kCopy;
  } else {
    return Error::InvalidArgument(fmt::format("storage must be shared or copy, not '{}'", storage));
  }
  r.golden_path = TRY(json_opt_string(j, "golden_path")).value_or("");
  r.listen_host = TRY(json_string(j, "listen_host"));
  if (r.listen_host.empty()) return Error::InvalidArgument("listen_host is empty");
  return r;
}

Json MigrationTarget::to_json() const { return {{"uri", uri}, {"disk_uri", disk_uri}}; }

Result<MigrationTarget> MigrationTarget::from_json(const Json& j) {
  TRY(json_only_fields(j, {"uri", "disk_uri"}));
  MigrationTarget t;
  t.uri = TRY(json_string(j, "uri"));
  t.disk_uri = TRY(json_opt_string(j, "disk_uri")).value_or("");
  TRY(parse_tcp_migration_uri(t.uri));
  if (!t.disk_uri.empty()) TRY(parse_nbd_uri(t.disk_uri));
  return t;
}

MigrationOptions MigrationOptions::qemu_defaults() {
  MigrationOptions o;
  o.downtime_limit_ms = 300;
  o.auto_converge = false;
  o.max_bandwidth_bytes_per_s = int64_t{128} << 20;
  return o;
}

Json MigrationOptions::to_json() const {
  return {{"downtime_limit_ms", downtime_limit_ms},
          {"auto_converge", auto_converge},
          {"max_bandwidth_bytes_per_s", max_bandwidth_bytes_per_s},
          {"connect_timeout_ms", connect_timeout_ms}};
}

Result<MigrationOptions> MigrationOptions::from_json(const Json& j) {
  if (!j.is_object()) return Error::InvalidArgument("migration options must be an object");
  TRY(json_only_fields(j, {"downtime_limit_ms", "auto_converge", "max_bandwidth_bytes_per_s", "connect_timeout_ms"}));
  MigrationOptions o;
  // QEMU's own bounds: downtime-limit up to 2000 s; max-bandwidth is bytes/s.
  o.downtime_limit_ms = static_cast<int>(TRY(json_opt_int(j, "downtime_limit_ms", 1, 2000000)).value_or(50));
  o.auto_converge = TRY(json_opt_bool(j, "auto_converge")).value_or(true);
  o.max_bandwidth_bytes_per_s =
      TRY(json_opt_int(j, "max_bandwidth_bytes_per_s", 1 << 20, kUnlimited)).value_or(kUnlimited);
  o.connect_timeout_ms = static_cast<int>(TRY(json_opt_int(j, "connect_timeout_ms", 100, 600000)).value_or(10000));
  return o;
}

Json MigrationProgress::to_json() const {
  return {{"state", migration_state_name(state)},
          {"storage", migration_storage_name(storage)},
          {"qemu_status", qemu_status},
          {"percent", percent},
          {"ram_total_bytes", ram_total_bytes},
          {"ram_transferred_bytes", ram_transferred_bytes},
          {"ram_remaining_bytes", ram_remaining_bytes},
          {"disk_total_bytes", disk_total_bytes},
          {"disk_copied_bytes", disk_copied_bytes},
          {"expected_downtime_ms", expected_downtime_ms},
          {"throughput_mbps", throughput_mbps},
          {"dirty_sync_count", dirty_sync_count},
          {"cpu_throttle_percent", cpu_throttle_percent},
          {"setup_time_ms", setup_time_ms},
          {"total_time_ms", total_time_ms},
          {"downtime_ms", downtime_ms},
          {"error", error}};
}

Result<MigrationProgress> MigrationProgress::from_json(const Json& j) {
  if (!j.is_object()) return Error::InvalidArgument("migration progress must be an object");
  MigrationProgress p;
  auto state = TRY(json_string(j, "state"));
  auto parsed = parse_migration_state(state);
  if (!parsed) return Error::InvalidArgument(fmt::format("migration state '{}' is unknown", state));
  p.state = *parsed;
  auto storage = TRY(json_opt_string(j, "storage")).value_or("shared");
  if (storage != "shared" && storage != "copy") {
    return Error::InvalidArgument(fmt::format("migration storage '{}' is neither shared nor copy", storage));
  }
  p.storage = storage == "copy" ? MigrationStorage::kCopy : MigrationStorage::kShared;
  p.qemu_status = TRY(json_opt_string(j, "qemu_status")).value_or("");
  auto percent = j.find("percent");
  if (percent != j.end() && !percent->is_number()) return Error::InvalidArgument("field 'percent' must be a number");
  p.percent = percent == j.end() ? 0 : std::clamp(percent->get<double>(), 0.0, 100.0);
  for (auto [name, field] : {std::pair{"ram_total_bytes", &p.ram_total_bytes},
                             {"ram_transferred_bytes", &p.ram_transferred_bytes},
                             {"ram_remaining_bytes", &p.ram_remaining_bytes},
                             {"disk_total_bytes", &p.disk_total_bytes},
                             {"disk_copied_bytes", &p.disk_copied_bytes},
                             {"expected_downtime_ms", &p.expected_downtime_ms},
                             {"dirty_sync_count", &p.dirty_sync_count},
                             {"cpu_throttle_percent", &p.cpu_throttle_percent},
                             {"setup_time_ms", &p.setup_time_ms},
                             {"total_time_ms", &p.total_time_ms},
                             {"downtime_ms", &p.downtime_ms}}) {
    *field = TRY(json_opt_int(j, name, -1, INT64_MAX)).value_or(-1);
  }
  auto mbps = j.find("throughput_mbps");
  if (mbps != j.end() && !mbps->is_number()) return Error::InvalidArgument("field 'throughput_mbps' must be a number");
  p.throughput_mbps = mbps == j.end() ? -1 : mbps->get<double>();
  p.error = TRY(json_opt_string(j, "error")).value_or("");
  return p;
}

void apply_migration_info(const Json& info, MigrationProgress& p) {
  if (!info.is_object()) return;
  if (auto status = info.find("status"); status != info.end() && status->is_string()) p.qemu_status = *status;
  if (auto ram = info.find("ram"); ram != info.end() && ram->is_object()) {
    p.ram_total_bytes = int_field(*ram, "total", p.ram_total_bytes);
    p.ram_transferred_bytes = int_field(*ram, "transferred", p.ram_transferred_bytes);
    p.ram_remaining_bytes = int_field(*ram, "remaining", p.ram_remaining_bytes);
    p.throughput_mbps = double_field(*ram, "mbps", p.throughput_mbps);
    p.dirty_sync_count = int_field(*ram, "dirty-sync-count", p.dirty_sync_count);
  }
  p.expected_downtime_ms = int_field(info, "expected-downtime", p.expected_downtime_ms);
  p.cpu_throttle_percent = int_field(info, "cpu-throttle-percentage", p.cpu_throttle_percent);
  p.setup_time_ms = int_field(info, "setup-time", p.setup_time_ms);
  p.total_time_ms = int_field(info, "total-time", p.total_time_ms);
  p.downtime_ms = int_field(info, "downtime", p.downtime_ms);
  if (auto err = info.find("error-desc"); err != info.end() && err->is_string()) p.error = *err;
}

double migration_percent(const MigrationProgress& p, int64_t ram_estimate) {
  int64_t ram_total = p.ram_total_bytes > 0 ? p.ram_total_bytes : std::max<int64_t>(ram_estimate, 0);
  int64_t ram_done = p.ram_total_bytes > 0 && p.ram_remaining_bytes >= 0
                         ? std::max<int64_t>(p.ram_total_bytes - p.ram_remaining_bytes, 0)
                         : 0;
  if (p.qemu_status == "completed") ram_done = ram_total;
  int64_t disk_total = std::max<int64_t>(p.disk_total_bytes, 0);
  int64_t disk_done = std::clamp<int64_t>(p.disk_copied_bytes, 0, disk_total);
  double total = static_cast<double>(ram_total) + static_cast<double>(disk_total);
  if (total <= 0) return 0;
  return std::clamp(100.0 * (static_cast<double>(ram_done) + static_cast<double>(disk_done)) / total, 0.0, 100.0);
}

Result<HostPort> parse_tcp_migration_uri(std::string_view uri) {
  if (!uri.starts_with("tcp:")) {
    return Error::InvalidArgument(fmt::format("migration URI '{}' is not tcp:HOST:PORT", uri));
  }
  return parse_host_port(uri.substr(4), uri);
}

Result<NbdAddress> parse_nbd_uri(std::string_view uri) {
  if (!uri.starts_with("nbd://")) {
    return Error::InvalidArgument(fmt::format("disk URI '{}' is not nbd://HOST:PORT/EXPORT", uri));
  }
  std::string_view rest = uri.substr(6);
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 >= rest.size()) {
    return Error::InvalidArgument(fmt::format("disk URI '{}' names no export", uri));
  }
  auto hp = TRY(parse_host_port(rest.substr(0, slash), uri));
  std::string name(rest.substr(slash + 1));
  bool plain = std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
  if (!plain) return Error::InvalidArgument(fmt::format("disk URI '{}' has an invalid export name", uri));
  return NbdAddress{hp.host, hp.port, name};
}

}  // namespace oriel::agent
