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

}  // namespace

std::string images_table(const Json& images, WallTime now) {
  Table t({"ID", "NAME", "STATE", "FORMAT", "SIZE", "ON DISK", "AGE"});
  for_each_item(images, [&](const Json& i) {
    t.add_row({field_text(i, "id"), field_text(i, "name"), image_state(i), image_format(i),
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

}  // namespace oriel::cli
