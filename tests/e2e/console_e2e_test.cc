// The admin console and the portal end to end, in real headless Chromium
// against a real orield and real QEMU guests (console_e2e.mjs drives the
// browser). An administrator imports an image from a path on the server and
// uploads two from the browser in chunks (one fresh, one resumed after a
// simulated crash of the browser), watching each import reach 100 %; creates
// a pool from an uploaded image and entitles a user, who signs in to the
// portal, connects, sees the desktop and logs off; a tenant-admin walks
// every console page and never receives another tenant's objects, neither
// on the page nor over the network (nor in the usage CSV). The administrator
// also opens an image's details, filters and pages the audit log, downloads
// the usage CSV, works a dialog from the keyboard, edits the pool, logs the
// other tenant's user off and puts the host into maintenance: every action
// shows its result or the server's reason. No request leaves orield.
// Screenshots of every page at a laptop and a tablet size are left in the
// output directory (kept with ORIEL_KEEP_TEST_DATA=1, or on failure).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "harness.h"
#include "oriel/common/process.h"

namespace oriel::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr size_t kChunk = 1 << 20;

// The upload routes' refusals, straight over HTTP.
void check_upload_errors(net::ApiClient& admin, net::ApiClient& tenant_admin, const std::string& resumable) {
  EXPECT_EQ(call(tenant_admin, "POST", "/api/v1/uploads", {{"name", "x"}, {"size", 10}}).status, 403);
  auto huge = call(admin, "POST", "/api/v1/uploads", {{"name", "x"}, {"size", int64_t{1} << 50}});
  EXPECT_EQ(huge.status, 413) << huge.body;
  EXPECT_EQ(huge.json["error"]["code"], "too_large") << huge.body;
  EXPECT_EQ(call(admin, "POST", "/api/v1/uploads", {{"name", "x"}, {"size", 10}, {"format", "iso"}}).status, 400);
  auto wrong = admin.request("PUT", "/api/v1/uploads/" + resumable + "?offset=0", std::string(10, 'x'),
                             "application/octet-stream");
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->status, 409) << wrong->body;
  EXPECT_NE(wrong->body.find("send the chunk at offset 13631488"), std::string::npos) << wrong->body;
  auto missing = admin.request("PUT", "/api/v1/uploads/up-0000000000000000?offset=0", "x", "application/octet-stream");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  auto early = call(admin, "POST", "/api/v1/uploads/" + resumable + "/actions/finish");
  EXPECT_EQ(early.status, 409) << early.body;
  EXPECT_EQ(call(admin, "GET", "/api/v1/uploads/" + resumable).json["received"], 13 * kChunk);
}

// Starts an upload of `file` as the browser would, and sends its first
// `chunks` chunks: a browser that crashed half-way.
std::string half_upload(net::ApiClient& admin, const std::string& file, size_t chunks) {
  std::string bytes = read_file(file);
  auto created = call(admin, "POST", "/api/v1/uploads",
                      {{"name", "Guest resumed"},
                       {"filename", fs::path(file).filename().string()},
                       {"size", bytes.size()},
                       {"format", "raw"}});
  if (created.status != 201) throw std::runtime_error("creating the upload: " + created.body);
  std::string id = created.json["id"];
  for (size_t i = 0; i < chunks; ++i) {
    auto r = admin.request("PUT", "/api/v1/uploads/" + id + "?offset=" + std::to_string(i * kChunk),
                           std::string_view(bytes).substr(i * kChunk, kChunk), "application/octet-stream");
    if (!r.ok() || r->status != 200) throw std::runtime_error("sending a chunk failed");
  }
  return id;
}

std::string running_desktop(net::ApiClient& admin, const std::string& pool) {
  std::string desktop;
  wait_until(
      [&] {
        Json ds = admin.get("/api/v1/desktops?pool_id=" + pool).value();
        if (ds.size() != 1 || ds[0]["state"] != "running") return false;
        desktop = ds[0]["id"];
        return true;
      },
      90s);
  return desktop;
}

TEST(ConsoleTest, AdminsRunOrielFromTheBrowserAndTenantAdminsSeeOnlyTheirTenant) {
  auto started = std::chrono::steady_clock::now();
  Orield orield({"--cpu-overcommit", "16"});
  orield.start();
  net::ApiClient admin = orield.admin();
  auto guest = TestGuest::locate();
  std::string out = make_temp_dir("console");
  SystemProcessRunner runner;
  // The test guest as a fixed VHD (the disk and a 512-byte footer: 17 chunks).
  auto vhd = runner.run({"qemu-img", "convert", "-O", "vpc", "-o", "subformat=fixed", guest.disk, out + "/guest.vhd"},
                        {.timeout = 60s});
  ASSERT_TRUE(vhd.ok() && vhd->exit_code == 0) << (vhd.ok() ? vhd->err : vhd.error().message());
  fs::copy_file(guest.disk, out + "/guest.img");

  // Another tenant, with a pool, a running desktop and a session: none of it
  // may ever reach the tenant-admin of the first.
  std::string base = import_test_guest(admin, "Base image");
  std::string acme = create_tenant(admin, "Acme");
  std::string globex = create_tenant(admin, "Globex");
  TestUser ana = create_user(orield, admin, acme, "ana");
  TestUser tara = create_user(orield, admin, acme, "tara", "tenant-admin");
  TestUser bob = create_user(orield, admin, globex, "bob-globex");
  std::string secret_pool = create_pool(admin, globex, base, "Globex secret pool", "pooled", 1, 1);
  entitle(admin, secret_pool, bob.id);
  std::string secret_desktop = running_desktop(admin, secret_pool);
  ASSERT_FALSE(secret_desktop.empty());
  auto bob_session = bob.client.post("/api/v1/sessions", {{"pool_id", secret_pool}});
  ASSERT_TRUE(bob_session.ok()) << bob_session.error().message();

  std::string resumable = half_upload(admin, out + "/guest.img", 13);
  check_upload_errors(admin, tara.client, resumable);
  EXPECT_EQ(call(admin, "GET", "/api/v1/events").status, 426) << "the event stream is a WebSocket only";

  Json args = {
      {"url", orield.url()},
      {"ca", orield.ca_file()},
      {"out", out},
      {"web", std::string(ORIEL_SOURCE_DIR) + "/web"},
      {"admin", {{"username", "admin"}, {"password", orield.password()}}},
      {"user", {{"username", ana.username}, {"password", ana.password}}},
      {"tenantAdmin", {{"username", tara.username}, {"password", tara.password}}},
      {"tenant", "Acme"},
      {"guest", {{"disk", guest.disk}, {"kernel", guest.kernel}, {"initrd", guest.initrd}, {"cmdline", guest.cmdline}}},
      {"vhd", out + "/guest.vhd"},
      {"resume", {{"id", resumable}, {"file", out + "/guest.img"}}},
      {"forbidden", {"Globex", "bob-globex", globex, secret_pool, secret_desktop, (*bob_session)["id"]}}};
  std::fprintf(stderr, "[console_e2e_test] set up in %.1f s\n",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  auto run = runner.run({ORIEL_NODE, std::string(ORIEL_SOURCE_DIR) + "/tests/e2e/console_e2e.mjs", args.dump()},
                        {.timeout = 420s});
  ASSERT_TRUE(run.ok()) << run.error().message();
  ASSERT_EQ(run->exit_code, 0) << run->err << run->out;
  std::fprintf(stderr, "%s", run->err.c_str());  // the browser's phases and any page errors
  Json seen = Json::parse(run->out.substr(run->out.rfind("\n{") + 1));
  std::fprintf(stderr, "[console_e2e_test] the browser saw: %s\n", seen.dump().c_str());

  // Imports: from the path, a fresh upload, a resumed upload; each reached 100 %.
  for (const char* kind : {"pathImport", "upload", "resumed"}) {
    EXPECT_EQ(seen[kind]["final"], 100) << kind << ": " << seen.dump();
    EXPECT_NE(seen[kind]["text"].get<std::string>().find("Ready"), std::string::npos) << kind << ": " << seen.dump();
  }
  EXPECT_EQ(seen["resumed"]["firstOffset"], 13 * kChunk) << "the resumed upload started over: " << seen.dump();
  EXPECT_EQ(seen["upload"]["chunks"], 17) << "a fixed VHD of 16 MiB is 17 chunks of at most 1 MiB: " << seen.dump();
  Json images = admin.get("/api/v1/images").value();
  int ready = 0;
  for (const auto& i : images) ready += i["state"] == "ready" ? 1 : 0;
  EXPECT_EQ(ready, 4) << images.dump();
  // The pool from the uploaded VHD, its entitlement, and the user's visit.
  EXPECT_EQ(seen["pool"]["entitled"], "ana") << seen.dump();
  EXPECT_EQ(seen["user"]["state"], "connected") << seen.dump();
  EXPECT_GT(seen["user"]["frames"].get<int>(), 0) << seen.dump();
  EXPECT_EQ(seen["user"]["loggedOff"], "You logged off.") << seen.dump();
  EXPECT_TRUE(seen["liveSession"]["appeared"].get<bool>()) << seen.dump();
  EXPECT_TRUE(seen["liveSession"]["gone"].get<bool>()) << "the logoff never reached the open console: " << seen.dump();
  EXPECT_TRUE(seen["thumbnail"].get<bool>()) << "no live thumbnail of the running desktop: " << seen.dump();
  EXPECT_NE(seen["errorShown"].get<std::string>().find("failed"), std::string::npos) << seen.dump();
  // The tenant-admin's walk.
  EXPECT_EQ(seen["tenantAdmin"]["leaks"], Json::array()) << seen.dump();
  EXPECT_GE(seen["tenantAdmin"]["pages"].size(), 8u) << seen.dump();
  EXPECT_GT(seen["tenantAdmin"]["responses"].get<int>(), 10) << "the network check saw nothing: " << seen.dump();
  EXPECT_GT(seen["tenantAdmin"]["frames"].get<int>(), 2) << "the event stream check saw nothing: " << seen.dump();
  EXPECT_EQ(seen["tenantAdmin"]["nav"],
            Json::parse(R"(["Dashboard","Pools","Desktops","Sessions","Users","Audit log","Usage"])"))
      << seen.dump();
  EXPECT_EQ(seen["tenantAdmin"]["hostsPage"], "This page is for administrators.") << seen.dump();
  EXPECT_NE(seen["tenantAdmin"]["otherPool"].get<std::string>().find("There is no pool"), std::string::npos)
      << seen.dump();
  // Details, the audit log's filter and pages, the CSV, the keyboard.
  EXPECT_NE(seen["details"].get<std::string>().find("VHD"), std::string::npos) << seen.dump();
  EXPECT_GE(seen["audit"]["filtered"].get<int>(), 2) << "two pools were created: " << seen.dump();
  EXPECT_EQ(seen["audit"]["firstPage"], 25) << seen.dump();
  EXPECT_GT(seen["audit"]["secondPage"].get<int>(), 0) << seen.dump();
  EXPECT_EQ(seen["audit"]["overlap"], 0) << "the second page repeats the first: " << seen.dump();
  std::string csv = seen["csv"]["text"];
  EXPECT_EQ(csv.substr(0, csv.find("\r\n")), "kind,day,tenant_id,pool_id,user_id,username,hours") << csv;
  EXPECT_NE(csv.find(secret_pool), std::string::npos) << "the administrator's report lacks the other pool: " << csv;
  EXPECT_NE(seen["csv"]["name"].get<std::string>().find(".csv"), std::string::npos) << seen.dump();
  EXPECT_EQ(seen["keyboard"]["page"], "pools") << seen.dump();
  EXPECT_TRUE(seen["keyboard"]["focusInDialog"].get<bool>()) << seen.dump();
  EXPECT_TRUE(seen["keyboard"]["closed"].get<bool>()) << "Escape left the dialog open: " << seen.dump();
  EXPECT_EQ(seen["external"], Json::array()) << "requests that did not go to orield: " << seen.dump();
  // The last actions: each reported its result, or the server's reason.
  const Json& acts = seen["actions"];
  EXPECT_EQ(acts["edit"]["kind"], "ok") << seen.dump();
  EXPECT_EQ(acts["edit"]["idle"], "30 min") << seen.dump();
  EXPECT_EQ(acts["logoff"]["text"], "bob-globex is logged off.") << seen.dump();
  EXPECT_TRUE(acts["logoff"]["gone"].get<bool>()) << seen.dump();
  Json bob_sessions = bob.client.get("/api/v1/sessions").value();
  for (const auto& s : bob_sessions) {
    if (s["id"] == (*bob_session)["id"]) {
      EXPECT_EQ(s["state"], "ended") << bob_sessions.dump();
    }
  }
  // Maintenance is the hosts API's to grant or refuse; the console shows which.
  std::string maintenance = acts["maintenance"]["text"];
  if (acts["maintenance"]["kind"] == "ok") {
    EXPECT_NE(maintenance.find("is draining for maintenance"), std::string::npos) << seen.dump();
    EXPECT_EQ(acts["activate"]["kind"], "ok") << seen.dump();
  } else {
    const std::string prefix = "into maintenance failed: ";
    auto at = maintenance.find(prefix);
    ASSERT_NE(at, std::string::npos) << seen.dump();
    EXPECT_GT(maintenance.size(), at + prefix.size() + 3) << "the server's reason is missing: " << seen.dump();
  }
  std::fprintf(stderr, "screenshots: %s\n", out.c_str());
  if (!HasFailure() && !std::getenv("ORIEL_KEEP_TEST_DATA")) fs::remove_all(out);
}

}  // namespace
}  // namespace oriel::testing
