#include "views.h"

namespace oriel::cli {
namespace {

bool has(const Json& obj, std::string_view field) {
  auto it = obj.find(field);
  return it != obj.end() && !it->is_null() && !(it->is_string() && it->get_ref<const std::string&>().empty());
}

// Sizes of an image are 0 until the import has measured them.
std::string size_text(const Json& obj, std::string_view field) {
  double v = field_number(obj, field, 0);
  return v <= 0 ? "-" : human_bytes(static_cast<uint64_t>(v));
}

std::string mib_text(const Json& obj, std::string_view field) {
  double v = field_number(obj, field, -1);
  return v < 0 ? "-" : human_mib(static_cast<int64_t>(v));
}

// "0" rather than "0 B": nothing allocated reads better next to a total.
std::string allocated_mib_text(const Json& host) {
  return field_number(host, "memory_allocated_mb", -1) == 0 ? "0" : mib_text(host, "memory_allocated_mb");
}

std::string age_text(const Json& obj, WallTime now) {
  auto it = obj.find("created_at");
  if (it == obj.end() || !it->is_string()) return "-";
  auto t = parse_rfc3339(it->get<std::string>());
  return t.ok() ? human_age(*t, now) : "-";
}

std::string image_state(const Json& image) {
  std::string state = field_text(image, "state");
  if (state != "importing") return state;
  return fmt::format("importing {}%", static_cast<int>(field_number(image, "progress")));
}

// A tenant's id, or the platform's image, shared with the tenants or not.
std::string image_owner(const Json& image) {
  if (has(image, "tenant_id")) return field_text(image, "tenant_id");
  return image.is_object() && image.value("shared", false) ? "shared" : "platform";
}

std::string image_format(const Json& image) {
  return has(image, "source_format") ? field_text(image, "source_format") : field_text(image, "format");
}

std::string desktop_state(const Json& d) {
  std::string state = field_text(d, "state");
  if (has(d, "pending_action")) state += fmt::format(" ({} pending)", field_text(d, "pending_action"));
  return state;
}

// Iterates a JSON array; anything else is an empty list.
template <typename F>
void for_each_item(const Json& list, F f) {
  if (!list.is_array()) return;
  for (const auto& item : list) {
    if (item.is_object()) f(item);
  }
}

// "ana (u-1)": a name with its id, or whichever of the two is there.
std::string name_and_id(const Json& obj, std::string_view name_field, std::string_view id_field) {
  if (!has(obj, name_field)) return field_text(obj, id_field);
  if (!has(obj, id_field)) return field_text(obj, name_field);
  return fmt::format("{} ({})", field_text(obj, name_field), field_text(obj, id_field));
}

// "3/20": a live count out of its target.
std::string count_of(const Json& obj, std::string_view count, std::string_view target) {
  return field_text(obj, count) + "/" + field_text(obj, target);
}

std::string idle_timeout_text(const Json& pool) {
  double s = field_number(pool, "idle_timeout_s", 0);
  return s <= 0 ? "never" : fmt::format("{:g} s", s);
}

// Hours with two decimals, as usage reports are read: 12.50.
std::string hours_text(const Json& obj, std::string_view field) {
  auto it = obj.find(field);
  if (it == obj.end() || !it->is_number()) return "-";
  return fmt::format("{:.2f}", it->get<double>());
}

}  // namespace

std::string images_table(const Json& images, WallTime now) {
  Table t({"ID", "NAME", "OWNER", "STATE", "FORMAT", "SIZE", "ON DISK", "AGE"});
  for_each_item(images, [&](const Json& i) {
    t.add_row({field_text(i, "id"), field_text(i, "name"), image_owner(i), image_state(i), image_format(i),
               size_text(i, "virtual_size_bytes"), size_text(i, "size_bytes"), age_text(i, now)});
  });
  return t.render();
}

std::string boot_text(const Json& boot) {
  if (!boot.is_object() || boot.empty()) return "bios (default)";
  if (has(boot, "firmware")) return "firmware " + field_text(boot, "firmware");
  if (!has(boot, "kernel")) return printable(boot.dump(-1, ' ', false, Json::error_handler_t::replace));
  std::string text = "kernel " + field_text(boot, "kernel");
  if (has(boot, "initrd")) text += ", initrd " + field_text(boot, "initrd");
  if (has(boot, "cmdline")) text += ", cmdline '" + field_text(boot, "cmdline") + "'";
  return text;
}

Fields image_fields(const Json& image) {
  Fields f = {{"ID", field_text(image, "id")},
              {"Name", field_text(image, "name")},
              {"State", image_state(image)},
              {"Format", image_format(image)},
              {"Owner", image_owner(image)},
              {"Source", field_text(image, "source_path")},
              {"Virtual size", size_text(image, "virtual_size_bytes")},
              {"On disk", size_text(image, "size_bytes")},
              {"Boot", boot_text(image.is_object() ? image.value("boot", Json()) : Json())}};
  if (has(image, "error")) f.emplace_back("Error", field_text(image, "error"));
  f.emplace_back("Created", field_text(image, "created_at"));
  return f;
}

std::string desktops_table(const Json& desktops, WallTime now) {
  Table t({"ID", "NAME", "STATE", "HOST", "IMAGE", "VCPUS", "MEMORY", "USER", "AGE"});
  for_each_item(desktops, [&](const Json& d) {
    t.add_row({field_text(d, "id"), field_text(d, "name"), desktop_state(d), field_text(d, "host_id"),
               field_text(d, "image_id"), field_text(d, "vcpus"), mib_text(d, "memory_mb"),
               field_text(d, "assigned_user"), age_text(d, now)});
  });
  return t.render();
}

Fields desktop_fields(const Json& d) {
  Fields f = {{"ID", field_text(d, "id")},
              {"Name", field_text(d, "name")},
              {"State", field_text(d, "state")},
              {"Desired state", field_text(d, "desired_state")}};
  if (has(d, "pending_action")) f.emplace_back("Pending action", field_text(d, "pending_action"));
  f.insert(f.end(), {{"Host", field_text(d, "host_id")},
                     {"Pool", field_text(d, "pool_id")},
                     {"Assigned user", field_text(d, "assigned_user")},
                     {"Image", field_text(d, "image_id")},
                     {"vCPUs", field_text(d, "vcpus")},
                     {"Memory", mib_text(d, "memory_mb")}});
  if (has(d, "error")) f.emplace_back("Error", field_text(d, "error"));
  f.emplace_back("Created", field_text(d, "created_at"));
  f.emplace_back("Updated", field_text(d, "updated_at"));
  return f;
}

std::string hosts_table(const Json& hosts) {
  Table t({"ID", "NAME", "STATE", "ACCEL", "CPUS", "MEMORY", "DESKTOPS"});
  for_each_item(hosts, [&](const Json& h) {
    t.add_row({field_text(h, "id"), field_text(h, "name"), field_text(h, "state"), field_text(h, "accelerator"),
               field_text(h, "cpus_allocated") + "/" + field_text(h, "cpus"),
               allocated_mib_text(h) + "/" + mib_text(h, "memory_mb"), field_text(h, "desktops")});
  });
  return t.render();
}

std::string tenants_table(const Json& tenants, WallTime now) {
  Table t({"ID", "NAME", "AGE"});
  for_each_item(tenants, [&](const Json& x) {
    t.add_row({field_text(x, "id"), field_text(x, "name"), age_text(x, now)});
  });
  return t.render();
}

// "used of limit" for one of a tenant's quotas ("used" alone without a limit).
std::string quota_text(const Json& tenant, const char* field, std::string_view unit) {
  const Json& used = tenant.is_object() ? tenant.value("usage", Json::object()) : Json::object();
  const Json& quota = tenant.is_object() ? tenant.value("quota", Json::object()) : Json::object();
  std::string text = used.contains(field) && used[field].is_number()
                         ? fmt::format("{:g}{}", used[field].get<double>(), unit)
                         : std::string("-");
  if (quota.contains(field) && quota[field].is_number()) {
    text += fmt::format(" of {}{}", quota[field].get<int64_t>(), unit);
  }
  return text;
}

// "90 days", "for ever", with ", legal hold" when there is one.
std::string audit_policy_text(const Json& tenant) {
  const Json& a = tenant.is_object() ? tenant.value("audit", Json::object()) : Json::object();
  if (!a.is_object()) return "-";
  auto days = a.value("retention_days", Json());
  std::string text = days.is_number_integer() ? fmt::format("kept {} days", days.get<int64_t>()) : "kept for ever";
  if (a.value("legal_hold", false)) text += ", under a legal hold";
  return text;
}

Fields tenant_fields(const Json& tenant) {
  return {{"ID", field_text(tenant, "id")},
          {"Name", field_text(tenant, "name")},
          {"Desktops", quota_text(tenant, "desktops", "")},
          {"vCPUs (running)", quota_text(tenant, "vcpus", "")},
          {"Memory (running)", quota_text(tenant, "memory_mb", " MiB")},
          {"Disk", quota_text(tenant, "disk_gb", " GB")},
          {"Audit", audit_policy_text(tenant)},
          {"Created", field_text(tenant, "created_at")}};
}

std::string users_table(const Json& users, WallTime now) {
  Table t({"ID", "USERNAME", "ROLE", "TENANT", "LOCKED UNTIL", "AGE"});
  for_each_item(users, [&](const Json& u) {
    t.add_row({field_text(u, "id"), field_text(u, "username"), field_text(u, "role"), field_text(u, "tenant_id"),
               field_text(u, "locked_until"), age_text(u, now)});
  });
  return t.render();
}

Fields user_fields(const Json& user) {
  return {{"ID", field_text(user, "id")},
          {"Username", field_text(user, "username")},
          {"Role", field_text(user, "role")},
          {"Tenant", field_text(user, "tenant_id")},
          {"Locked until", field_text(user, "locked_until")},
          {"Created", field_text(user, "created_at")}};
}

std::string pools_table(const Json& pools) {
  Table t({"ID", "NAME", "TENANT", "TYPE", "IMAGE", "DESKTOPS", "IN USE", "READY", "SESSIONS", "STATE", "MESSAGE"});
  for_each_item(pools, [&](const Json& p) {
    t.add_row({field_text(p, "id"), field_text(p, "name"), field_text(p, "tenant_id"), field_text(p, "type"),
               field_text(p, "image_id"), count_of(p, "desktops", "size"), field_text(p, "assigned"),
               count_of(p, "running_free", "spare"), field_text(p, "sessions"), field_text(p, "state"),
               has(p, "message") ? field_text(p, "message") : ""});
  });
  return t.render();
}

Fields pool_fields(const Json& p) {
  Fields f = {{"ID", field_text(p, "id")},
              {"Name", field_text(p, "name")},
              {"Tenant", field_text(p, "tenant_id")},
              {"Image", field_text(p, "image_id")},
              {"Type", field_text(p, "type")},
              {"Provisioning", field_text(p, "provisioning")},
              {"Clipboard", field_text(p, "clipboard")},
              {"Network", field_text(p, "network")},
              {"Size", field_text(p, "size")},
              {"Spare", field_text(p, "spare")},
              {"vCPUs", field_text(p, "vcpus")},
              {"Memory", mib_text(p, "memory_mb")},
              {"Idle timeout", idle_timeout_text(p)},
              {"State", field_text(p, "state")},
              {"Desktops", field_text(p, "desktops")},
              {"In use", field_text(p, "assigned")},
              {"Free", field_text(p, "free")},
              {"Ready", field_text(p, "running_free")},
              {"Sessions", field_text(p, "sessions")}};
  if (has(p, "message")) f.emplace_back("Message", field_text(p, "message"));
  f.emplace_back("Created", field_text(p, "created_at"));
  f.emplace_back("Updated", field_text(p, "updated_at"));
  return f;
}

std::string entitlements_table(const Json& entitlements) {
  Table t({"USER", "USERNAME"});
  for_each_item(entitlements, [&](const Json& e) { t.add_row({field_text(e, "user_id"), field_text(e, "username")}); });
  return t.render();
}

std::string sessions_table(const Json& sessions, WallTime now) {
  Table t({"ID", "USER", "POOL", "DESKTOP", "STATE", "FROM", "AGE"});
  for_each_item(sessions, [&](const Json& s) {
    t.add_row({field_text(s, "id"), has(s, "username") ? field_text(s, "username") : field_text(s, "user_id"),
               field_text(s, "pool_id"), field_text(s, "desktop_id"), field_text(s, "state"),
               field_text(s, "client_address"), age_text(s, now)});
  });
  return t.render();
}

Fields session_fields(const Json& s) {
  Fields f = {{"ID", field_text(s, "id")},
              {"User", name_and_id(s, "username", "user_id")},
              {"Pool", field_text(s, "pool_id")},
              {"Tenant", field_text(s, "tenant_id")},
              {"Desktop", field_text(s, "desktop_id")},
              {"State", field_text(s, "state")},
              {"Client", field_text(s, "client_address")},
              {"Created", field_text(s, "created_at")},
              {"Last activity", field_text(s, "last_activity_at")},
              {"Ended", field_text(s, "ended_at")}};
  if (has(s, "display_url")) {
    f.emplace_back("Display URL", field_text(s, "display_url"));
    f.emplace_back("Ticket expires", field_text(s, "ticket_expires_at"));
  }
  return f;
}

Fields display_fields(const Json& s) {
  Fields f;
  const std::pair<const char*, const char*> kWhich[] = {
      {"Session", "id"}, {"Desktop", "desktop_id"}, {"State", "state"}};
  for (const auto& [name, field] : kWhich) {
    if (has(s, field)) f.emplace_back(name, field_text(s, field));
  }
  f.emplace_back("Display URL", field_text(s, "display_url"));
  f.emplace_back("Ticket expires", field_text(s, "ticket_expires_at"));
  return f;
}

std::string audit_table(const Json& events) {
  Table t({"AT", "USER", "TENANT", "ACTION", "TARGET", "STATUS", "RESULT", "FROM", "DETAIL"});
  for_each_item(events, [&](const Json& e) {
    t.add_row({field_text(e, "at"), has(e, "username") ? field_text(e, "username") : field_text(e, "user_id"),
               field_text(e, "tenant_id"), field_text(e, "action"), field_text(e, "target"), field_text(e, "status"),
               field_text(e, "result"), field_text(e, "address"), has(e, "detail") ? field_text(e, "detail") : ""});
  });
  return t.render();
}

std::string audit_archives_table(const Json& archives) {
  Table t({"ARCHIVED", "TENANT", "SEQ", "EVENTS", "FILE", "SHA-256"});
  for_each_item(archives, [&](const Json& a) {
    t.add_row({field_text(a, "archived_at"), has(a, "tenant_id") ? field_text(a, "tenant_id") : "(platform)",
               field_text(a, "first_seq") + "-" + field_text(a, "last_seq"), field_text(a, "events"),
               field_text(a, "file"), field_text(a, "sha256")});
  });
  return t.render();
}

std::string usage_tables(const Json& report) {
  Table desktops({"DAY", "TENANT", "POOL", "HOURS"});
  Table sessions({"DAY", "TENANT", "USER", "HOURS"});
  if (report.is_object()) {
    for_each_item(report.value("desktops", Json()), [&](const Json& d) {
      desktops.add_row(
          {field_text(d, "day"), field_text(d, "tenant_id"), field_text(d, "pool_id"), hours_text(d, "desktop_hours")});
    });
    for_each_item(report.value("sessions", Json()), [&](const Json& s) {
      sessions.add_row({field_text(s, "day"), field_text(s, "tenant_id"),
                        has(s, "username") ? field_text(s, "username") : field_text(s, "user_id"),
                        hours_text(s, "session_hours")});
    });
  }
  return "Desktop-hours\n" + desktops.render() + "\nSession-hours\n" + sessions.render();
}

}  // namespace oriel::cli
