// Bad input gets a clear error and changes nothing else.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "harness.h"
#include "oriel/common/process.h"

namespace oriel::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class BadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    orield_ = new Orield();
    orield_->start();
    api_ = new net::ApiClient(orield_->admin());
    image_id_ = import_test_guest(*api_, "good");
    files_ = make_temp_dir("bad-input");
  }
  static void TearDownTestSuite() {
    delete api_;
    delete orield_;
    fs::remove_all(files_);
  }
  // Everything the API lists, to prove a failure changed nothing.
  static Json snapshot() {
    Json s = {{"images", api_->get("/api/v1/images").value()}, {"desktops", api_->get("/api/v1/desktops").value()}};
    for (auto& i : s["images"]) i.erase("updated_at");
    return s;
  }
  static Json failed_import(const std::string& path, const std::string& format) {
    auto r = api_->post("/api/v1/images", {{"name", "bad"}, {"source_path", path}, {"format", format}});
    EXPECT_TRUE(r.ok()) << r.error().message();
    return wait_for_state(*api_, "/api/v1/images/" + (*r)["id"].get<std::string>(), {"ready", "failed"}, 30s);
  }
  static Orield* orield_;
  static net::ApiClient* api_;
  static std::string image_id_;
  static std::string files_;
};

Orield* BadInputTest::orield_;
net::ApiClient* BadInputTest::api_;
std::string BadInputTest::image_id_;
std::string BadInputTest::files_;

TEST_F(BadInputTest, TruncatedVhdFailsTheImportWithAReasonAndLeavesNothing) {
  std::string vhd = files_ + "/guest.vhd";
  ASSERT_EQ(std::system(("qemu-img convert -f raw -O vpc " + TestGuest::locate().disk + " " + vhd).c_str()), 0);
  fs::resize_file(vhd, fs::file_size(vhd) / 2);
  auto image = failed_import(vhd, "auto");
  EXPECT_EQ(image["state"], "failed");
  EXPECT_NE(image["error"].get<std::string>().find("truncated"), std::string::npos) << image.dump();
  EXPECT_FALSE(fs::exists(orield_->data_dir() + "/images/" + image["id"].get<std::string>()));
}

TEST_F(BadInputTest, ATextFileIsNotAnImage) {
  std::string text = files_ + "/notes.txt";
  std::ofstream(text) << "These are not the sectors you are looking for.\n";
  auto image = failed_import(text, "auto");
  EXPECT_EQ(image["state"], "failed");
  EXPECT_NE(image["error"].get<std::string>().find("not a disk image"), std::string::npos) << image.dump();
}

TEST_F(BadInputTest, MissingPathAndWrongTypesAreRejectedAtOnce) {
  Json before = snapshot();
  auto missing = api_->post("/api/v1/images", {{"name", "x"}, {"source_path", "/nonexistent/disk.vhd"}});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(missing.error().message().find("does not exist"), std::string::npos);

  auto wrong =
      api_->request("POST", "/api/v1/desktops", R"({"name": 7, "image_id": "x", "vcpus": 1, "memory_mb": 64})");
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->status, 400);
  EXPECT_NE(wrong->body.find("field 'name' must be a string"), std::string::npos) << wrong->body;

  auto not_json = api_->request("POST", "/api/v1/desktops", "{\"name\": ");
  ASSERT_TRUE(not_json.ok());
  EXPECT_EQ(not_json->status, 400);
  EXPECT_NE(not_json->body.find("\"code\":\"invalid_argument\""), std::string::npos) << not_json->body;

  auto typo =
      api_->post("/api/v1/desktops", {{"name", "t"}, {"image_id", image_id_}, {"vcpus", 1}, {"memory_mib", 64}});
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().message().find("memory_mib"), std::string::npos);

  auto format =
      api_->post("/api/v1/images", {{"name", "x"}, {"source_path", TestGuest::locate().disk}, {"format", "iso"}});
  EXPECT_EQ(format.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(snapshot(), before);
}

// Security probe #7: an admin's token imported orield's own database as a
// disk, and /etc/shadow as an initrd. Files come only from the import
// directories (here the test guest's and $TMPDIR), links resolved, never
// from orield's own directories even inside one ($TMPDIR holds the data
// directory), and nothing is recorded for a refusal.
TEST_F(BadInputTest, ImportsReadOnlyFromTheImportDirectoriesNeverFromOrieldsOwn) {
  Json before = snapshot();
  auto guest = TestGuest::locate();
  auto import = [](const std::string& source, const Json& boot) {
    Json body = {{"name", "probe"}, {"source_path", source}, {"format", "raw"}};
    if (!boot.is_null()) body["boot"] = boot;
    return call(*api_, "POST", "/api/v1/images", body);
  };
  const std::string db = orield_->data_dir() + "/oriel.db";
  ASSERT_TRUE(fs::exists(db));
  Reply own = import(db, nullptr);
  EXPECT_EQ(own.status, 403) << own.body;
  EXPECT_NE(own.body.find("orield's own directory"), std::string::npos) << own.body;

  // A link in an import directory to the database: resolved first, refused.
  std::string link = files_ + "/innocent.raw";
  fs::create_symlink(db, link);
  Reply linked = import(link, nullptr);
  EXPECT_EQ(linked.status, 403) << linked.body;
  EXPECT_NE(linked.body.find("orield's own directory"), std::string::npos) << linked.body;
  // And `..` out of an import directory.
  std::string up = fs::path(guest.disk).parent_path().string();
  for (int i = 0; i < 16; ++i) up += "/..";
  Reply dotdot = import(up + "/etc/passwd", nullptr);
  EXPECT_EQ(dotdot.status, 403) << dotdot.body;
  EXPECT_NE(dotdot.body.find("outside the import directories"), std::string::npos) << dotdot.body;

  Reply shadow = import(guest.disk, {{"kernel", guest.kernel}, {"initrd", "/etc/shadow"}});
  EXPECT_EQ(shadow.status, 403) << shadow.body;
  EXPECT_NE(shadow.body.find("outside the import directories"), std::string::npos) << shadow.body;
  Reply kernel = import(guest.disk, {{"kernel", "/etc/passwd"}});
  EXPECT_EQ(kernel.status, 403) << kernel.body;
  EXPECT_EQ(snapshot(), before);
}

// An import directory inside orield's own is a mistake orield will not start with.
TEST(ImportDirTest, OrieldRefusesAnImportDirectoryInsideItsOwn) {
  std::string data = make_temp_dir("import-dir");
  fs::create_directories(data + "/images");
  SystemProcessRunner runner;
  auto start_with = [&](const std::string& import_dir) {
    return runner
        .run({std::string(ORIEL_BINARY_DIR) + "/bin/orield", "--data-dir", data, "--listen", "127.0.0.1:0",
              "--admin-password", "test-admin-pw", "--import-dir", import_dir},
             {.timeout = 30s})
        .value();
  };
  auto inside = start_with(data + "/images");
  EXPECT_NE(inside.exit_code, 0);
  EXPECT_NE(inside.err.find("is inside orield's own directory"), std::string::npos) << inside.err;
  auto missing = start_with(data + "/none");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("is not an existing directory"), std::string::npos) << missing.err;
  fs::remove_all(data);
}

TEST_F(BadInputTest, UnknownIdsAnswer404) {
  EXPECT_EQ(api_->get("/api/v1/desktops/d-doesnotexist").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(api_->get("/api/v1/images/i-doesnotexist").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(api_->post("/api/v1/desktops/d-doesnotexist/actions/start").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(api_->del("/api/v1/images/i-doesnotexist").error().code(), ErrorCode::kNotFound);
  auto d =
      api_->post("/api/v1/desktops", {{"name", "orphan"}, {"image_id", "i-nope"}, {"vcpus", 1}, {"memory_mb", 64}});
  EXPECT_EQ(d.error().code(), ErrorCode::kNotFound);
  auto action = api_->request("POST", "/api/v1/desktops/d-x/actions/explode", "{}");
  EXPECT_EQ(action->status, 404);
}

TEST_F(BadInputTest, AnImageInUseCannotBeDeleted) {
  auto d =
      api_->post("/api/v1/desktops",
                 {{"name", "holder"}, {"image_id", image_id_}, {"vcpus", 1}, {"memory_mb", 128}, {"start", false}});
  ASSERT_TRUE(d.ok()) << d.error().message();
  auto del = api_->del("/api/v1/images/" + image_id_);
  ASSERT_FALSE(del.ok());
  EXPECT_EQ(del.error().code(), ErrorCode::kConflict);
  EXPECT_EQ((*api_->get("/api/v1/images/" + image_id_))["state"], "ready");
  // Deletion is asynchronous: wait for it, so later tests see a settled store.
  std::string path = "/api/v1/desktops/" + (*d)["id"].get<std::string>();
  ASSERT_TRUE(api_->del(path).ok());
  EXPECT_TRUE(wait_until([&] { return !api_->get(path).ok(); }, 20s));
}

TEST_F(BadInputTest, ADesktopLargerThanTheHostIsRefused) {
  Json before = snapshot();
  auto host = (*api_->get("/api/v1/hosts"))[0];
  int64_t too_much = host["memory_mb"].get<int64_t>() * 2;
  auto big = api_->post("/api/v1/desktops",
                        {{"name", "huge"}, {"image_id", image_id_}, {"vcpus", 1}, {"memory_mb", too_much}});
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code(), ErrorCode::kUnprocessable);
  EXPECT_NE(big.error().message().find("cannot fit"), std::string::npos) << big.error().message();
  EXPECT_EQ(snapshot(), before);
}

TEST_F(BadInputTest, RequestsWithoutAValidTokenAre401) {
  auto anon = orield_->client();
  EXPECT_EQ(anon.get("/api/v1/desktops").error().code(), ErrorCode::kUnauthenticated);
  anon.set_token("forged");
  EXPECT_EQ(anon.get("/api/v1/images").error().code(), ErrorCode::kUnauthenticated);
  auto bad = anon.login("admin", "wrong");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kUnauthenticated);
  auto nobody = anon.login("nobody", "wrong");
  EXPECT_EQ(nobody.error().message(), bad.error().message());

  auto mine = orield_->admin();
  ASSERT_TRUE(mine.post("/api/v1/auth/logout").ok());
  EXPECT_EQ(mine.get("/api/v1/hosts").error().code(), ErrorCode::kUnauthenticated);
}

// Security probe #33: 500 refused requests with a 10,000-byte id wrote
// 4.7 MB into the append-only audit log in 0.6 s. Now they are counted, and
// the log gets one short event per address and minute.
TEST_F(BadInputTest, RefusedRequestsCannotFillTheAuditLog) {
  const char* flood = R"py(
import socket, ssl, sys
host, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = ssl.create_default_context(cafile=ca).wrap_socket(socket.create_connection((host, port)), server_hostname=host)
req = b'POST /api/v1/desktops/' + b'x' * 10000 + b'/actions/start HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'
codes = set()
for _ in range(300):
    s.sendall(req)
    buf = b''
    while b'\r\n\r\n' not in buf:
        buf += s.recv(65536)
    head, _, body = buf.partition(b'\r\n\r\n')
    codes.add(head.split(b' ')[1].decode())
    n = int([l.split(b':')[1] for l in head.split(b'\r\n') if l.lower().startswith(b'content-length')][0])
    while len(body) < n:
        body += s.recv(65536)
print(','.join(sorted(codes)))
)py";
  const std::string& url = orield_->url();
  std::string port = url.substr(url.rfind(':') + 1);
  SystemProcessRunner runner;
  auto r = runner.run({"python3", "-c", flood, "127.0.0.1", port, orield_->ca_file()}, {.timeout = 60s}).value();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "401\n");

  auto page = api_->get("/api/v1/audit?limit=1000").value();
  int flood_events = 0;
  for (const auto& e : page["events"]) {
    if (e["action"] != "desktop.start" || !e["user_id"].is_null()) continue;
    ++flood_events;
    EXPECT_LE(e["target"].get<std::string>().size(), 131u) << "the id is cut";
    EXPECT_NE(e["detail"].get<std::string>().find("request(s) refused"), std::string::npos) << e.dump();
  }
  EXPECT_EQ(flood_events, 1) << "one event for one address within a minute";
  auto metrics = orield_->client().get_bytes("/metrics").value();
  auto at = metrics.find("oriel_refused_requests_total{action=\"desktop.{action}\"}");
  ASSERT_NE(at, std::string::npos) << metrics.substr(0, 2000);
  EXPECT_GE(std::stod(metrics.substr(metrics.find(' ', at) + 1)), 300);
}

// Security probe #1 and #3: a login that may not be tried yet is a 429 that
// says when to come back (for a name no one has too); a login's body is
// small; a large body without valid credentials is refused unread.
TEST_F(BadInputTest, LoginsAreThrottledAndAnonymousBodiesStaySmall) {
  SystemProcessRunner runner;
  auto curl = [&](const std::string& path, const std::string& body, const std::string& token = "") {
    std::string file = files_ + "/body.json";
    std::ofstream(file, std::ios::trunc) << body;
    std::vector<std::string> argv = {
        "curl",          "-s",      "-i", "--cacert", orield_->ca_file(), "-H", "Content-Type: application/json",
        "--data-binary", "@" + file};
    if (!token.empty()) argv.insert(argv.end(), {"-H", "Authorization: Bearer " + token});
    argv.push_back(orield_->url() + path);
    return runner.run(argv, {.timeout = 30s}).value().out;
  };
  const std::string wrong = R"({"username":"ghost","password":"wrong-password"})";
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(curl("/api/v1/auth/login", wrong).starts_with("HTTP/1.1 401")) << i;
  std::string throttled = curl("/api/v1/auth/login", wrong);
  EXPECT_TRUE(throttled.starts_with("HTTP/1.1 429")) << throttled;
  EXPECT_NE(throttled.find("Retry-After: 1\r\n"), std::string::npos) << throttled;
  EXPECT_NE(throttled.find("\"rate_limited\""), std::string::npos) << throttled;

  std::string padded = R"({"username":"ghost","password":")" + std::string(17 << 10, 'p') + R"("})";
  EXPECT_TRUE(curl("/api/v1/auth/login", padded).starts_with("HTTP/1.1 413"));

  std::string big = R"({"name":")" + std::string(100 << 10, 'n') + R"("})";
  std::string anonymous = curl("/api/v1/images", big);
  EXPECT_TRUE(anonymous.starts_with("HTTP/1.1 401")) << anonymous.substr(0, 300);
  EXPECT_NE(anonymous.find("needs valid credentials"), std::string::npos) << anonymous.substr(0, 500);
  std::string member = curl("/api/v1/images", big, api_->token());
  EXPECT_TRUE(member.starts_with("HTTP/1.1 400")) << member.substr(0, 500);  // read, and judged on its merits
}

}  // namespace
}  // namespace oriel::testing
