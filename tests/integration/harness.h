// Integration-test harness: a real orield process on loopback with its own
// temporary data directory, the real QEMU test guest, and helpers that wait
// on conditions with deadlines (never fixed sleeps).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "oriel/common/json.h"
#include "oriel/net/client.h"
#include "oriel/net/tls.h"

namespace oriel::testing {

// Paths of the test guest built by images/test-guest/build.sh.
struct TestGuest {
  std::string kernel, initrd, disk, cmdline;
  static TestGuest locate();  // from ORIEL_BINARY_DIR/images/test-guest
};

// Ticks (0.2 s each, with oriel.tick) the test guest prints before a test
// live-migrates it. QEMU 7.2 under TCG now and then corrupts a guest
// migrated in the first second of its ticking, while its kernel is still
// loading the display driver and handing the console to it: an oops on the
// target, or a guest that never ticks again. Measured on bare QEMU, without
// Oriel, both cores loaded: 7 of 80 guests moved 0-1 s after their first
// tick broke, none of 30 moved 3-4 s after and none of 30 moved 6-7 s
// after. KVM hosts do not share this; a desktop in use is long past its boot.
constexpr size_t kSettledTicks = 20;

class Orield {
 public:
  // A fresh data dir under $TMPDIR; removed (with its VMs killed) at the
  // end, unless ORIEL_KEEP_TEST_DATA is set (its orield.log helps debugging).
  explicit Orield(std::vector<std::string> extra_args = {});
  ~Orield();

  void start();  // starts orield and waits for /healthz
  // The address to listen on (before the first start; default 127.0.0.1),
  // e.g. a test cluster's bridge so that agents in namespaces reach it.
  void listen_on(std::string host) { listen_host_ = std::move(host); }
  void kill9();  // SIGKILL orield only; its QEMUs keep running
  void stop();   // SIGTERM and wait
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // "running", or how the process ended (reaped here): for a failed test to say.
  std::string status();

  const std::string& url() const { return url_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& password() const { return password_; }
  std::string serial_log(const std::string& desktop_id) const;
  pid_t qemu_pid(const std::string& desktop_id) const;  // -1 if none

  net::ApiClient admin();  // a client logged in as admin
  // A client of this orield that trusts its CA (DATA/tls/ca.pem), with `token`.
  net::ApiClient client(std::string token = {}) const;
  // Trust in this orield's own CA, for clients of its HTTPS and WSS.
  std::shared_ptr<const net::TlsClient> tls() const;
  std::string ca_file() const { return data_dir_ + "/tls/ca.pem"; }

 private:
  std::vector<std::string> extra_args_;
  std::string data_dir_;
  std::string password_ = "test-admin-pw";
  std::string url_;
  std::string listen_host_ = "127.0.0.1";
  pid_t pid_ = -1;
};

// Polls fn every 50 ms until it returns true or the deadline passes.
bool wait_until(const std::function<bool()>& fn, std::chrono::milliseconds timeout);

// Waits until GET path's field "state" is one of `states`; returns the last JSON.
Json wait_for_state(net::ApiClient& api, const std::string& path, const std::vector<std::string>& states,
                    std::chrono::milliseconds timeout);

// Waits for `needle` to appear in the file after byte `from`.
bool wait_for_text(const std::string& file, const std::string& needle, std::chrono::milliseconds timeout,
                   size_t from = 0);

// Imports the test guest and waits until it is ready; returns the image id
// or throws. `owner` adds the image's owner fields (default: a platform
// image shared with every tenant); `options` go on the guest's kernel
// command line (oriel.tick, oriel.net …: images/README.md).
std::string import_test_guest(net::ApiClient& api, const std::string& name, const Json& owner = {{"shared", true}},
                              const std::string& options = "");

// One HTTP exchange whose status the test checks itself. `body` null sends
// no body; the answer's JSON is null when it is not JSON.
struct Reply {
  int status = 0;
  std::string content_type;
  std::string body;
  Json json;
};
Reply call(net::ApiClient& api, std::string_view method, std::string_view path, const Json& body = nullptr);

// A broker user made through `creator` (an admin, or a tenant-admin of
// `tenant_id`), with a client logged in as them. Throws if either step fails.
struct TestUser {
  std::string id, username, password, tenant_id;
  net::ApiClient client;
};
TestUser create_user(const Orield& orield, net::ApiClient& creator, const std::string& tenant_id,
                     const std::string& username, const std::string& role = "user");
// POST /api/v1/tenants as an admin; returns the id or throws.
std::string create_tenant(net::ApiClient& admin, const std::string& name);

// POST /api/v1/pools: 1 vCPU and 128 MiB unless `extra` overrides them (or
// adds fields such as "provisioning"); returns the id or throws.
std::string create_pool(net::ApiClient& api, const std::string& tenant_id, const std::string& image_id,
                        const std::string& name, const std::string& type, int size, int spare,
                        const Json& extra = Json::object());
// POST /api/v1/pools/{pool}/entitlements; throws if refused.
void entitle(net::ApiClient& api, const std::string& pool_id, const std::string& user_id);

// Today's UTC date as YYYY-MM-DD, moved by `days`.
std::string utc_day(int days = 0);

std::string read_file(const std::string& path);
std::string make_temp_dir(const std::string& tag);

}  // namespace oriel::testing
