// The oriel command end to end, in process, against a scripted HTTP peer: output
// formats, exit codes, saved credentials, waiting for imports and desktops.
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "app.h"
#include "credentials.h"
#include "scripted_peer.h"
#include "temp_dir.h"

namespace oriel::cli {
namespace {

using net::testing::json_error;
using net::testing::Reply;
using net::testing::ScriptedPeer;
using net::testing::SeenRequest;

struct CliRun {
  int code;
  std::string out, err;
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    ::setenv("XDG_CONFIG_HOME", (dir_.path() / "config").c_str(), 1);
    ::unsetenv("ORIEL_SERVER");
    ::unsetenv("ORIEL_TOKEN");
  }
  void TearDown() override { ::unsetenv("XDG_CONFIG_HOME"); }

  CliRun run(const std::vector<std::string>& args) {
    std::ostringstream out, err;
    Context ctx(out, err);
    ctx.import_poll = std::chrono::milliseconds(1);
    ctx.desktop_poll = std::chrono::milliseconds(1);
    std::vector<const char*> argv = {"oriel"};
    for (const auto& a : args) argv.push_back(a.c_str());
    int code = run_cli(static_cast<int>(argv.size()), argv.data(), ctx);
    return {code, out.str(), err.str()};
  }

  testing::TempDir dir_;
};

const char* kHosts = R"([{"id":"h-1","name":"node1","state":"ready","accelerator":"tcg","cpus":4,
  "memory_mb":8192,"cpus_allocated":1,"memory_allocated_mb":1024,"desktops":1}])";

TEST_F(CliTest, HostListIsATableForPeopleAndTheServersJsonForScripts) {
  ScriptedPeer server([](const SeenRequest&) { return Reply{200, kHosts}; });
  auto table = run({"--server", server.url(), "host", "list"});
  EXPECT_EQ(table.code, 0) << table.err;
  EXPECT_EQ(table.out, "ID   NAME   STATE  ACCEL  CPUS  MEMORY       DESKTOPS\n"
                       "h-1  node1  ready  tcg    1/4   1 GiB/8 GiB  1\n");
  auto json = run({"host", "list", "--server", server.url(), "-o", "json"});  // global options after the command
  EXPECT_EQ(json.code, 0) << json.err;
  EXPECT_EQ(json.out, Json::parse(kHosts).dump(2) + "\n");
  EXPECT_EQ(server.requests().at(0).target, "/api/v1/hosts");
}

TEST_F(CliTest, ErrorsBecomeDocumentedExitCodes) {
  ScriptedPeer server([](const SeenRequest& r) {
    if (r.target == "/api/v1/images/missing") return json_error(404, "not_found", "image 'missing' not found");
    if (r.target == "/api/v1/images/busy") return json_error(409, "conflict", "image busy is in use");
    if (r.target == "/api/v1/desktops") return json_error(401, "unauthenticated", "a token is required");
    if (r.target.starts_with("/api/v1/desktops/")) return json_error(422, "unprocessable", "too big");
    if (r.target == "/api/v1/images") return json_error(400, "invalid_argument", "field 'name' is empty");
    return json_error(503, "unavailable", "no host has room");
  });
  const std::string url = server.url();
  auto missing = run({"--server", url, "image", "show", "missing"});
  EXPECT_EQ(missing.code, 4);
  EXPECT_EQ(missing.err, "oriel: image 'missing' not found\n");
  EXPECT_EQ(run({"--server", url, "image", "delete", "busy"}).code, 5);
  EXPECT_EQ(run({"--server", url, "desktop", "start", "d-1"}).code, 5);
  auto unauth = run({"--server", url, "desktop", "list"});
  EXPECT_EQ(unauth.code, 3);
  EXPECT_EQ(unauth.err, "oriel: a token is required (run 'oriel login')\n");
  EXPECT_EQ(run({"--server", url, "host", "list"}).code, 6);
  EXPECT_EQ(run({"--server", url, "image", "import", "", "/x", "--no-wait"}).code, 2);
  EXPECT_EQ(run({"--server", url, "image", "import", "only-a-name"}).code, 2);
  EXPECT_EQ(run({"--server", url, "-o", "yaml", "host", "list"}).code, 2);
  EXPECT_EQ(run({"--server", "ftp://secure", "host", "list"}).code, 2);
  EXPECT_EQ(run({"--server", url, "--fingerprint", "sha256:nothex", "host", "list"}).code, 2);
  EXPECT_EQ(run({"--server", url, "--ca-file", "/nonexistent/ca.pem", "host", "list"}).code, 2);
  EXPECT_EQ(run({"--server", url, "desktop", "create", "d", "--image", "i", "--memory", "lots"}).code, 2);
  EXPECT_EQ(run({"--server", url}).code, 2);
  EXPECT_EQ(run({"--help"}).code, 0);
}

TEST_F(CliTest, UnreachableServerExitsSix) {
  std::string url;
  {
    url = ScriptedPeer([](const SeenRequest&) { return Reply{}; }).url();
  }
  auto r = run({"--server", url, "image", "list"});
  EXPECT_EQ(r.code, 6);
  EXPECT_EQ(r.err.rfind("oriel: cannot reach orield at " + url + ": ", 0), 0u) << r.err;
}

TEST_F(CliTest, LoginSavesATokenThatLaterCommandsSendOnlyToThatServer) {
  ScriptedPeer server([](const SeenRequest& r) {
    if (r.target == "/api/v1/auth/login") return Reply{200, R"({"token":"tok-1","expires_at":"2026-11-23T10:00:00Z"})"};
    return Reply{200, "[]"};
  });
  ScriptedPeer other([](const SeenRequest&) { return Reply{200, "[]"}; });
  auto login = run({"--server", server.url() + "/", "login", "--password", "pw"});
  ASSERT_EQ(login.code, 0) << login.err;
  EXPECT_NE(login.out.find("Logged in to " + server.url() + " as admin"), std::string::npos) << login.out;
  auto file = *credentials_path();
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ((*load_credentials(file))->server, server.url());

  EXPECT_EQ(run({"image", "list"}).code, 0);  // the saved server and token
  EXPECT_EQ(run({"--token", "tok-2", "image", "list"}).code, 0);
  EXPECT_EQ(run({"--server", other.url(), "image", "list"}).code, 0);
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(Json::parse(seen[0].body), Json({{"username", "admin"}, {"password", "pw"}}));
  EXPECT_EQ(seen[1].authorization, "Bearer tok-1");
  EXPECT_EQ(seen[2].authorization, "Bearer tok-2");
  EXPECT_EQ(other.requests().at(0).authorization, "");  // never leak a token to another server

  auto logout = run({"logout"});
  EXPECT_EQ(logout.code, 0) << logout.err;
  EXPECT_EQ(server.requests().back().target, "/api/v1/auth/logout");
  EXPECT_EQ(server.requests().back().authorization, "Bearer tok-1");
  EXPECT_FALSE(load_credentials(file)->has_value());
}

TEST_F(CliTest, LoginWithoutATerminalNeedsPasswordStdin) {
  ScriptedPeer server([](const SeenRequest&) { return Reply{}; });
  auto r = run({"--server", server.url(), "login"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--password-stdin"), std::string::npos) << r.err;
  EXPECT_TRUE(server.requests().empty());
}

// An importer whose progress moves 30% per poll, then ends in `final_state`.
ScriptedPeer::Handler importer(const std::string& final_state) {
  auto polls = std::make_shared<std::atomic<int>>(0);
  return [polls, final_state](const SeenRequest& r) {
    Json image = {{"id", "i-1"}, {"name", "win11"}, {"state", "importing"}, {"progress", 0}, {"error", nullptr}};
    if (r.method == "GET") {
      int p = 30 * ++*polls;
      image["progress"] = std::min(p, 100);
      if (p >= 100) image["state"] = final_state;
      if (p >= 100 && final_state == "failed") image["error"] = "not a VHD file";
    }
    return Reply{r.method == "POST" ? 202 : 200, image.dump()};
  };
}

TEST_F(CliTest, ImportSendsAbsolutePathsAndWaitsWithProgressLines) {
  ScriptedPeer server(importer("ready"));
  auto r = run({"--server", server.url(), "image", "import", "win11", "disks/win11.qcow2", "--format", "qcow2",
                "--kernel", "/boot/k", "--initrd", "i.img", "--cmdline", "console=ttyS0"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "importing win11: 0%\nimporting win11: 30%\nimporting win11: 60%\nimporting win11: 90%\n"
                   "importing win11: 100%\n");
  EXPECT_NE(r.out.find("State:         ready"), std::string::npos) << r.out;
  Json body = Json::parse(server.requests().at(0).body);
  auto cwd = std::filesystem::current_path();
  EXPECT_EQ(
      body,
      Json({{"name", "win11"},
            {"source_path", (cwd / "disks/win11.qcow2").string()},
            {"format", "qcow2"},
            {"boot", {{"kernel", "/boot/k"}, {"initrd", (cwd / "i.img").string()}, {"cmdline", "console=ttyS0"}}}}));
  EXPECT_EQ(server.requests().at(1).target, "/api/v1/images/i-1");
}

TEST_F(CliTest, FailedImportExitsSevenWithTheReason) {
  ScriptedPeer server(importer("failed"));
  auto r = run({"--server", server.url(), "image", "import", "win11", "/x.vhd", "--firmware", "uefi"});
  EXPECT_EQ(r.code, 7);
  EXPECT_NE(r.err.find("oriel: import of image 'win11' failed: not a VHD file\n"), std::string::npos) << r.err;
  EXPECT_EQ(Json::parse(server.requests().at(0).body)["boot"], Json({{"firmware", "uefi"}}));
  auto no_wait = run({"--server", server.url(), "-o", "json", "image", "import", "w", "/x", "--no-wait"});
  EXPECT_EQ(no_wait.code, 0);
  EXPECT_EQ(Json::parse(no_wait.out)["state"], "importing");
}

TEST_F(CliTest, ImagesHaveAnOwnerAndAreSharedByPatch) {
  ScriptedPeer server([](const SeenRequest& r) {
    if (r.method == "PATCH") return Reply{200, R"({"id":"i-1","name":"base","state":"ready","shared":true})"};
    if (r.method == "POST") return Reply{202, R"({"id":"i-2","name":"acme","state":"importing"})"};
    return Reply{200, R"([{"id":"i-1","name":"base","state":"ready","tenant_id":null,"shared":true},
                         {"id":"i-2","name":"acme","state":"ready","tenant_id":"t-7","shared":false},
                         {"id":"i-3","name":"lab","state":"ready","tenant_id":null,"shared":false}])"};
  });
  auto list = run({"--server", server.url(), "image", "list"});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find("OWNER"), std::string::npos) << list.out;
  for (const char* owner : {"shared", "t-7", "platform"}) EXPECT_NE(list.out.find(owner), std::string::npos) << owner;
  auto share = run({"--server", server.url(), "image", "share", "i-1"});
  ASSERT_EQ(share.code, 0) << share.err;
  EXPECT_EQ(server.requests().back().method, "PATCH");
  EXPECT_EQ(server.requests().back().target, "/api/v1/images/i-1");
  EXPECT_EQ(Json::parse(server.requests().back().body), Json({{"shared", true}}));
  ASSERT_EQ(run({"--server", server.url(), "image", "unshare", "i-1"}).code, 0);
  EXPECT_EQ(Json::parse(server.requests().back().body), Json({{"shared", false}}));
  auto own = run({"--server", server.url(), "image", "import", "acme", "/x", "--tenant", "t-7", "--no-wait"});
  ASSERT_EQ(own.code, 0) << own.err;
  EXPECT_EQ(Json::parse(server.requests().back().body)["tenant_id"], "t-7");
  EXPECT_EQ(run({"--server", server.url(), "image", "import", "a", "/x", "--tenant", "t-7", "--shared"}).code, 2);
}

// A desktop that goes through `states` one poll at a time.
ScriptedPeer::Handler desktop_walk(const std::vector<std::string>& states, const std::string& pending = "") {
  auto polls = std::make_shared<std::atomic<size_t>>(0);
  return [=](const SeenRequest& r) {
    size_t i = r.method == "GET" ? std::min(++*polls, states.size() - 1) : 0;
    Json d = {{"id", "d-1"},
              {"name", "web"},
              {"state", states[i]},
              {"desired_state", "running"},
              {"error", states[i] == "failed" ? Json("no KVM") : Json(nullptr)},
              {"pending_action", i == 0 && !pending.empty() ? Json(pending) : Json(nullptr)}};
    return Reply{r.method == "POST" && r.target == "/api/v1/desktops" ? 201 : 202, d.dump()};
  };
}

TEST_F(CliTest, DesktopCreateWaitsUntilRunning) {
  ScriptedPeer server(desktop_walk({"provisioning", "starting", "starting", "running"}));
  auto r = run({"--server", server.url(), "desktop", "create", "web", "--image", "i-1", "--vcpus", "2", "--memory",
                "2G", "--wait"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "Desktop 'web' (d-1): starting\nDesktop 'web' (d-1): running\n");
  EXPECT_NE(r.out.find("State:          running"), std::string::npos) << r.out;
  EXPECT_EQ(Json::parse(server.requests().at(0).body),
            Json({{"name", "web"}, {"image_id", "i-1"}, {"vcpus", 2}, {"memory_mb", 2048}, {"start", true}}));
}

TEST_F(CliTest, DesktopThatFailsWhileWaitedForExitsSeven) {
  ScriptedPeer server(desktop_walk({"stopped", "starting", "failed"}));
  auto r = run({"--server", server.url(), "desktop", "start", "d-1", "--wait"});
  EXPECT_EQ(r.code, 7);
  EXPECT_NE(r.err.find("oriel: desktop 'web' (d-1) failed: no KVM\n"), std::string::npos) << r.err;
  EXPECT_EQ(server.requests().at(0).target, "/api/v1/desktops/d-1/actions/start");
}

TEST_F(CliTest, RebootWaitsForThePendingActionToClear) {
  ScriptedPeer server(desktop_walk({"running", "running"}, "reboot"));
  auto r = run({"--server", server.url(), "desktop", "reboot", "d-1", "--wait"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "Desktop 'web' (d-1) is running.\n");
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST_F(CliTest, DeleteWaitsUntilTheDesktopIsGone) {
  auto polls = std::make_shared<std::atomic<int>>(0);
  ScriptedPeer server([polls](const SeenRequest& r) {
    if (r.method == "GET" && ++*polls > 2) return json_error(404, "not_found", "desktop 'd-1' not found");
    return Reply{202, R"({"id":"d-1","name":"web","state":"deleting"})"};
  });
  auto r = run({"--server", server.url(), "desktop", "delete", "d-1", "--wait"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "Deleted desktop 'web' (d-1).\n");
  EXPECT_EQ(server.requests().at(0).method, "DELETE");
}

TEST_F(CliTest, ScreenshotIsSavedToAFileOrStdout) {
  const std::string png("\x89PNG\r\n\x1a\n\0\1\2", 11);
  ScriptedPeer server([&png](const SeenRequest&) { return Reply{200, png, "image/png"}; });
  auto file = (dir_.path() / "shot.png").string();
  auto r = run({"--server", server.url(), "desktop", "screenshot", "d 1", "-f", file});
  EXPECT_EQ(r.code, 0) << r.err;
  std::ifstream in(file, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), png);
  EXPECT_EQ(server.requests().at(0).target, "/api/v1/desktops/d%201/screenshot");
  auto piped = run({"--server", server.url(), "desktop", "screenshot", "d-1", "-f", "-"});
  EXPECT_EQ(piped.code, 0);
  EXPECT_EQ(piped.out, png);
}

}  // namespace
}  // namespace oriel::cli
