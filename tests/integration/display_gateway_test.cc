// The display gateway end to end with real orield, real QEMU and the
// protocol over a real WebSocket: typing reaches the guest, the client's
// screen equals the VM's own screenshot, and every bad client (bad, expired
// or replayed ticket; malformed, truncated, text and oversize messages; a
// client that never acknowledges) is closed with its code while another
// session carries on.
#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "display_client.h"
#include "harness.h"
#include "png_util.h"

namespace oriel::testing {
namespace {

using namespace std::chrono_literals;

class DisplayGatewayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    orield_ = new Orield({"--cpu-overcommit", "16", "--ticket-ttl-s", "5", "--display-ack-timeout-s", "3"});
    orield_->start();
    admin_ = new net::ApiClient(orield_->admin());
    std::string image = import_test_guest(*admin_, "display-guest");
    std::string tenant = create_tenant(*admin_, "Display");
    pool_ = create_pool(*admin_, tenant, image, "Screens", "pooled", 3, 2, {{"memory_mb", 192}});
    for (auto* u : {&ana_, &bob_}) {
      *u = new TestUser(create_user(*orield_, *admin_, tenant, u == &ana_ ? "ana" : "bob"));
      entitle(*admin_, pool_, (*u)->id);
    }
  }
  static void TearDownTestSuite() {
    delete ana_;
    delete bob_;
    delete admin_;
    delete orield_;
  }

  // Logs the user on (or back on) and waits for the desktop's shell. The
  // logon's ticket may have run out meanwhile (this suite's TTL is 5 s, a
  // booting guest takes longer on a busy machine), so the display_url
  // returned is a fresh one, as the web client asks for when it connects.
  static Json session_of(TestUser& u) {
    Reply r = call(u.client, "POST", "/api/v1/sessions", {{"pool_id", pool_}});
    if (r.status != 200 && r.status != 201) throw std::runtime_error("logon: " + r.body);
    std::string desktop = r.json["desktop_id"];
    Json d = wait_for_state(*admin_, "/api/v1/desktops/" + desktop, {"running", "failed"}, 60s);
    if (d["state"] != "running") throw std::runtime_error("desktop: " + d.dump());
    if (!wait_for_text(orield_->serial_log(desktop), "ORIEL-GUEST-READY", 60s)) throw std::runtime_error("no READY");
    r.json["display_url"] = new_url(u, r.json["id"]);
    return r.json;
  }
  static std::string new_url(TestUser& u, const std::string& session) {
    Reply r = call(u.client, "POST", "/api/v1/sessions/" + session + "/tickets");
    if (r.status != 200 && r.status != 201) throw std::runtime_error("ticket: " + r.body);
    return r.json["display_url"];
  }

  static Orield* orield_;
  static net::ApiClient* admin_;
  static std::string pool_;
  static TestUser* ana_;
  static TestUser* bob_;
};

Orield* DisplayGatewayTest::orield_;
net::ApiClient* DisplayGatewayTest::admin_;
std::string DisplayGatewayTest::pool_;
TestUser* DisplayGatewayTest::ana_;
TestUser* DisplayGatewayTest::bob_;

TEST_F(DisplayGatewayTest, TypingReachesTheGuestAndTheScreenMatchesTheVmsScreenshot) {
  Json s = session_of(*ana_);
  std::string desktop = s["desktop_id"];
  DisplayClient client(s["display_url"], orield_->tls());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.hello_and_frames(1)) << client.error();
  EXPECT_GT(client.screen().width, 0);
  EXPECT_EQ(client.policy(), display::kClipboardToDesktop | display::kClipboardToClient);
  EXPECT_NE(client.desktop_name().find("Screens-"), std::string::npos) << client.desktop_name();

  // The shell on the guest's screen writes what we type to its serial port.
  std::string word = "oriel" + std::to_string(std::random_device{}() % 1000000);
  std::string log = orield_->serial_log(desktop);
  size_t before = read_file(log).size();
  client.type("echo " + word + " >/dev/ttyS0\n");
  ASSERT_TRUE(wait_for_text(log, word, 30s, before)) << read_file(log);

  // Once the echo is drawn, the client's copy is the VM's screen.
  ASSERT_TRUE(client.follow(1500ms)) << client.error();
  auto png = admin_->request("GET", "/api/v1/desktops/" + desktop + "/screenshot", "");
  ASSERT_TRUE(png.ok());
  Image vm;
  ASSERT_TRUE(decode_png(png->body, vm));
  ASSERT_EQ(client.screen().width, vm.width);
  ASSERT_EQ(client.screen().height, vm.height);
  size_t differing = 0;
  for (size_t i = 0; i < vm.rgba.size(); i += 4) {
    for (int ch = 0; ch < 3; ++ch) {
      if (std::abs(int(vm.rgba[i + ch]) - int(client.screen().rgba[i + ch])) > 24) {
        ++differing;
        break;
      }
    }
  }
  // A blinking text cursor may differ between the two moments.
  EXPECT_LT(differing, size_t(vm.width) * vm.height / 500) << differing << " pixels differ";
  EXPECT_GT(vm.distinct_colours(), 1u) << "the screen is blank: the test proves nothing";
}

TEST_F(DisplayGatewayTest, BadExpiredReplayedAndMissingTicketsAreClosedWith4401) {
  Json s = session_of(*bob_);
  std::string url = s["display_url"];
  std::string base = url.substr(0, url.find("?ticket="));
  {
    DisplayClient forged(base + "?ticket=not-a-ticket", orield_->tls());
    EXPECT_EQ(forged.wait_closed(), 4401);
  }
  {
    DisplayClient none(base, orield_->tls());
    EXPECT_EQ(none.wait_closed(), 4401);
  }
  {
    DisplayClient first(url, orield_->tls());
    ASSERT_TRUE(first.hello_and_frames(1)) << first.error();
    DisplayClient replay(url, orield_->tls());
    EXPECT_EQ(replay.wait_closed(), 4401);
  }
  std::string stale = new_url(*bob_, s["id"]);
  std::this_thread::sleep_for(6s);  // --ticket-ttl-s 5
  DisplayClient late(stale, orield_->tls());
  EXPECT_EQ(late.wait_closed(), 4401);
}

TEST_F(DisplayGatewayTest, BadMessagesCloseOnlyTheirConnection) {
  Json a = session_of(*ana_);
  Json b = session_of(*bob_);
  DisplayClient other(new_url(*bob_, b["id"]), orield_->tls());
  ASSERT_TRUE(other.hello_and_frames(1)) << other.error();

  struct Case {
    std::string name, bytes;
    bool binary;
    int code;
  };
  std::vector<Case> cases = {
      {"unknown type", std::string("\x7f\x00", 2), true, 4400},
      {"truncated key", std::string("\x82\x01\x61", 3), true, 4400},
      {"text message", "hello", false, 4400},
      {"oversize", std::string(2 << 20, '\x84'), true, 1009},
  };
  for (const auto& c : cases) {
    DisplayClient bad(new_url(*ana_, a["id"]), orield_->tls());
    ASSERT_TRUE(bad.hello_and_frames(1)) << c.name << ": " << bad.error();
    bad.send_raw(c.bytes, c.binary);
    EXPECT_EQ(bad.wait_closed(), c.code) << c.name;
  }
  // The other session still answers: a refresh brings a frame.
  int frames = other.frames();
  other.send(display::Refresh{});
  ASSERT_TRUE(other.follow(1000ms)) << other.error();
  EXPECT_GT(other.frames(), frames);
}

TEST_F(DisplayGatewayTest, ThePoolsClipboardPolicyReachesTheClient) {
  Reply changed = call(*admin_, "PATCH", "/api/v1/pools/" + pool_, {{"clipboard", "to-desktop"}});
  ASSERT_EQ(changed.status, 200) << changed.body;
  EXPECT_EQ(changed.json["clipboard"], "to-desktop");
  EXPECT_EQ(call(*admin_, "PATCH", "/api/v1/pools/" + pool_, {{"clipboard", "sideways"}}).status, 400);
  Json a = session_of(*ana_);
  DisplayClient client(new_url(*ana_, a["id"]), orield_->tls());
  ASSERT_TRUE(client.hello_and_frames(1)) << client.error();
  EXPECT_EQ(client.policy(), display::kClipboardToDesktop);
  ASSERT_EQ(call(*admin_, "PATCH", "/api/v1/pools/" + pool_, {{"clipboard", "both"}}).status, 200);
}

TEST_F(DisplayGatewayTest, APingIsAnsweredInVersion2AndIsAProtocolErrorInVersion1) {
  Json a = session_of(*ana_);
  {
    DisplayClient v2(new_url(*ana_, a["id"]), orield_->tls());
    ASSERT_TRUE(v2.hello_and_frames(1, 20s, 7)) << v2.error();  // asks for more than there is
    EXPECT_EQ(v2.version(), display::kProtocolVersion);
    v2.send(display::Ping{41});
    v2.send(display::Ping{42});
    for (int i = 0; i < 50 && v2.pongs().size() < 2; ++i) ASSERT_TRUE(v2.follow(100ms)) << v2.error();
    EXPECT_EQ(v2.pongs(), (std::vector<uint32_t>{41, 42}));
  }
  DisplayClient v1(new_url(*ana_, a["id"]), orield_->tls());
  ASSERT_TRUE(v1.hello_and_frames(1, 20s, 1)) << v1.error();
  EXPECT_EQ(v1.version(), 1);
  v1.send(display::Ping{1});
  EXPECT_EQ(v1.wait_closed(), 4400);
}

TEST_F(DisplayGatewayTest, AClientThatNeverAcknowledgesIsClosedWith4408) {
  Json a = session_of(*ana_);
  DisplayClient mute(new_url(*ana_, a["id"]), orield_->tls());
  mute.send(display::ClientHello{1, 0, 0});
  // Read without acknowledging: after --display-ack-timeout-s 3 the gateway gives up.
  auto deadline = std::chrono::steady_clock::now() + 20s;
  int code = -1;
  while (code < 0 && std::chrono::steady_clock::now() < deadline) {
    Received r = mute.receive(500ms);
    if (r.close_code) code = *r.close_code;
  }
  EXPECT_EQ(code, 4408);
}

TEST_F(DisplayGatewayTest, TheDisplayFollowsTheDesktopThroughAStopAndStart) {
  Json a = session_of(*ana_);
  std::string desktop = a["desktop_id"];
  DisplayClient client(new_url(*ana_, a["id"]), orield_->tls());
  ASSERT_TRUE(client.hello_and_frames(1)) << client.error();
  // QEMU goes away and comes back: the connection stays, the screen resumes.
  // The client keeps reading meanwhile, as a browser does.
  auto until = [&](const std::function<bool()>& done) {
    for (int i = 0; i < 300 && !done(); ++i) {
      if (!client.follow(200ms)) return false;
    }
    return done();
  };
  std::string path = "/api/v1/desktops/" + desktop;
  auto state_is = [&](const char* s) { return admin_->get(path).value()["state"] == s; };
  std::string log = orield_->serial_log(desktop);
  ASSERT_EQ(call(*admin_, "POST", path + "/actions/stop").status, 202);
  ASSERT_TRUE(until([&] { return state_is("stopped"); })) << client.error();
  ASSERT_EQ(call(*admin_, "POST", path + "/actions/start").status, 202);
  ASSERT_TRUE(until([&] {
    return state_is("running") && read_file(log).find("ORIEL-GUEST-READY") != std::string::npos;
  })) << client.error();
  int frames = client.frames();
  ASSERT_TRUE(client.follow(3s)) << client.error();
  EXPECT_GT(client.frames(), frames) << "no frame after the desktop came back";
  // And input reaches the new QEMU.
  size_t before = read_file(log).size();
  client.type("echo back >/dev/ttyS0\n");
  EXPECT_TRUE(wait_for_text(log, "back", 30s, before)) << read_file(log);
}

TEST_F(DisplayGatewayTest, ASecondConnectionReplacesTheFirstAndLogoffClosesWith4410) {
  Json b = session_of(*bob_);
  DisplayClient first(new_url(*bob_, b["id"]), orield_->tls());
  ASSERT_TRUE(first.hello_and_frames(1)) << first.error();
  DisplayClient second(new_url(*bob_, b["id"]), orield_->tls());
  ASSERT_TRUE(second.hello_and_frames(1)) << second.error();
  EXPECT_EQ(first.wait_closed(), 4409);
  Reply off = call(bob_->client, "DELETE", "/api/v1/sessions/" + b["id"].get<std::string>());
  ASSERT_EQ(off.status, 202) << off.body;
  EXPECT_EQ(second.wait_closed(), 4410);
}

}  // namespace
}  // namespace oriel::testing
