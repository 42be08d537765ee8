// --log-format json: every line of orield's log is a JSON object, and the
// id of an API request follows it from the handler through the reconciler
// into the agent's lines; the answer tells the client that id.
#include <gtest/gtest.h>

#include <sstream>

#include "harness.h"
#include "oriel/common/log_context.h"
#include "oriel/common/process.h"

namespace oriel::testing {
namespace {

using namespace std::chrono_literals;

TEST(LoggingTest, JsonLinesCarryARequestsIdThroughTheReconcilerIntoTheAgent) {
  Orield orield({"--log-format", "json", "--log-level", "debug"});
  orield.start();
  auto admin = orield.admin();
  std::string image = import_test_guest(admin, "guest");
  std::string id;
  {
    // The test's client sends the id of the request it works for, as orield does.
    RequestIdScope scope("test-request-0042");
    auto d =
        admin.post("/api/v1/desktops", {{"name", "traced"}, {"image_id", image}, {"vcpus", 1}, {"memory_mb", 128}});
    ASSERT_TRUE(d.ok()) << d.error().message();
    id = (*d)["id"];
  }
  ASSERT_EQ(wait_for_state(admin, "/api/v1/desktops/" + id, {"running", "failed"}, 60s)["state"], "running");

  std::istringstream log(read_file(orield.data_dir() + "/orield.log"));
  std::vector<std::string> traced;
  int lines = 0;
  for (std::string line; std::getline(log, line);) {
    if (line.empty()) continue;
    ++lines;
    auto j = parse_json(line);
    ASSERT_TRUE(j.ok()) << "not JSON: " << line;
    ASSERT_TRUE(j->is_object() && (*j)["time"].is_string() && (*j)["level"].is_string() && (*j)["msg"].is_string())
        << line;
    if (j->value("request_id", "") == "test-request-0042") traced.push_back((*j)["msg"]);
  }
  EXPECT_GT(lines, 10);
  auto has = [&](const std::string& text) {
    return std::any_of(traced.begin(), traced.end(), [&](const auto& m) { return m.find(text) != std::string::npos; });
  };
  EXPECT_TRUE(has("POST /api/v1/desktops 201")) << "the request's own line";
  EXPECT_TRUE(has("desktop " + id + " (traced) is running")) << "the reconciler's work on it";
  EXPECT_TRUE(has("vm " + id + ": ")) << "the agent's QEMU command line";

  // The answer names the id: the client's when it is usable, else a new one.
  SystemProcessRunner runner;
  auto headers = [&](const std::string& given) {
    return runner
        .run({"curl", "-s", "-o", "/dev/null", "-D", "-", "--cacert", orield.ca_file(), "-H", "X-Request-Id: " + given,
              orield.url() + "/healthz"},
             {})
        .value()
        .out;
  };
  EXPECT_NE(headers("edge-7f3a").find("X-Request-Id: edge-7f3a"), std::string::npos);
  std::string forged = headers("bad id\"}");
  EXPECT_EQ(forged.find("bad id"), std::string::npos) << forged;
  EXPECT_NE(forged.find("X-Request-Id: "), std::string::npos) << forged;
}

}  // namespace
}  // namespace oriel::testing
