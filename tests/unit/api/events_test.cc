// The console's event stream: the diff of a list is pure; the hub is run
// behind the real HTTP server, with a real WebSocket client, a list the test
// changes, and an authenticator the test can revoke.
#include "events.h"  // first: http.h includes <utility> before Asio

#include <gtest/gtest.h>

#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <thread>

namespace oriel::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using controller::Principal;
using namespace std::chrono_literals;

TopicItems indexed(const char* json, std::string_view key = "id") {
  return index_items(Json::parse(json), key).value();
}

TEST(EventDiffTest, ReportsNewChangedAndRemovedItemsInListOrder) {
  auto before = indexed(R"([{"id":"a","state":"running"},{"id":"b","state":"stopped"},{"id":"c","n":1}])");
  auto now = indexed(R"([{"id":"d","state":"starting"},{"id":"b","state":"running"},{"id":"c","n":1}])");
  auto changes = diff_topic(before.dumps, now);
  EXPECT_EQ(changes.upserted, Json::parse(R"([{"id":"d","state":"starting"},{"id":"b","state":"running"}])"));
  EXPECT_EQ(changes.removed, std::vector<std::string>{"a"});
  EXPECT_TRUE(diff_topic(now.dumps, now).empty());
  EXPECT_EQ(changes_message("desktops", changes)["removed"], Json::parse(R"(["a"])"));
}

TEST(EventDiffTest, NumericKeysAndMalformedLists) {
  auto audit = indexed(R"([{"seq":42,"action":"pool.create"}])", "seq");
  EXPECT_EQ(audit.order, std::vector<std::string>{"42"});
  EXPECT_FALSE(index_items(Json::parse(R"({"id":"a"})"), "id").ok());
  EXPECT_FALSE(index_items(Json::parse(R"([{"name":"no id"}])"), "id").ok());
  EXPECT_FALSE(index_items(Json::parse(R"([1, 2])"), "id").ok());
}

TEST(EventDiffTest, TheFirstMessageIsTheToken) {
  EXPECT_EQ(parse_events_auth(R"({"token":"abc"})").value(), "abc");
  EXPECT_FALSE(parse_events_auth(R"({"token":""})").ok());
  EXPECT_FALSE(parse_events_auth(R"({"token":"abc","extra":1})").ok());
  EXPECT_FALSE(parse_events_auth("abc").ok());
}

class EventHubTest : public ::testing::Test {
 protected:
  EventHubTest() {
    auto authenticate = [this](std::string_view token) -> Result<Principal> {
      std::lock_guard lock(mu_);
      if (token != valid_token_) return Error::Unauthenticated("invalid or expired token");
      return Principal{"u-1", "ana", "tenant-admin", "t-1"};
    };
    std::vector<Topic> topics;
    topics.push_back({"desktops", "id", [this](const Principal&) -> Result<Json> {
                        std::lock_guard lock(mu_);
                        return desktops_;
                      }});
    topics.push_back({"hosts", "id", [](const Principal&) -> Result<Json> {
                        return Error::PermissionDenied("hosts are for administrators");
                      }});
    hub_ = std::make_unique<EventHub>(authenticate, std::move(topics), 20ms);
    router_.add_websocket("/api/v1/events",
                          [this](const Request& r, WebSocket&& ws) { hub_->accept(r, std::move(ws)); });
    server_ = std::make_unique<net::HttpServer>(io_, router_, 2);
    port_ = server_->listen("127.0.0.1", 0).value();
    thread_ = std::thread([this] { io_.run(); });
    hub_->start();
  }
  ~EventHubTest() override {
    hub_->stop();
    asio::post(io_, [this] { server_->stop(); });
    io_.stop();
    thread_.join();
  }

  websocket::stream<tcp::socket> open_stream() {
    tcp::socket s(client_io_);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    websocket::stream<tcp::socket> ws(std::move(s));
    ws.handshake("127.0.0.1", "/api/v1/events");
    return ws;
  }
  static Json next(websocket::stream<tcp::socket>& ws) {
    beast::flat_buffer buffer;
    ws.read(buffer);
    return Json::parse(beast::buffers_to_string(buffer.data()));
  }
  static std::string send(websocket::stream<tcp::socket>& ws, const std::string& text) {
    ws.text(true);
    ws.write(asio::buffer(text));
    return text;
  }
  // Reads until the server closes; returns its close code.
  static int close_code(websocket::stream<tcp::socket>& ws) {
    beast::flat_buffer buffer;
    beast::error_code ec;
    while (!ec) ws.read(buffer, ec);
    return ec == websocket::error::closed ? ws.reason().code : -1;
  }
  void set_desktops(const char* json) {
    std::lock_guard lock(mu_);
    desktops_ = Json::parse(json);
  }

  std::mutex mu_;
  Json desktops_ = Json::parse(R"([{"id":"d-1","state":"running"},{"id":"d-2","state":"stopped"}])");
  std::string valid_token_ = "good";
  std::unique_ptr<EventHub> hub_;
  Router router_;
  asio::io_context io_;
  std::unique_ptr<net::HttpServer> server_;
  std::thread thread_;
  uint16_t port_ = 0;
  asio::io_context client_io_;
};

TEST_F(EventHubTest, ASignedInBrowserGetsASnapshotThenOnlyChanges) {
  auto ws = open_stream();
  send(ws, R"({"token":"good"})");
  Json hello = next(ws);
  EXPECT_EQ(hello["type"], "hello");
  EXPECT_EQ(hello["user"]["role"], "tenant-admin");
  EXPECT_EQ(hello["topics"], Json::parse(R"(["desktops"])")) << "a topic the role may not see is left out";
  Json snapshot = next(ws);
  EXPECT_EQ(snapshot["type"], "snapshot");
  EXPECT_EQ(snapshot["items"].size(), 2u);

  set_desktops(R"([{"id":"d-1","state":"stopping"},{"id":"d-3","state":"starting"}])");
  Json changes = next(ws);
  EXPECT_EQ(changes["type"], "changes");
  EXPECT_EQ(changes["upserted"], Json::parse(R"([{"id":"d-1","state":"stopping"},{"id":"d-3","state":"starting"}])"));
  EXPECT_EQ(changes["removed"], Json::parse(R"(["d-2"])"));
  // Ticks without a change send nothing: the next message is the next change.
  std::this_thread::sleep_for(100ms);
  set_desktops(R"([{"id":"d-3","state":"running"}])");
  Json later = next(ws);
  EXPECT_EQ(later["upserted"], Json::parse(R"([{"id":"d-3","state":"running"}])"));
  EXPECT_EQ(later["removed"], Json::parse(R"(["d-1"])"));
  EXPECT_EQ(hub_->connection_count(), 1u);
}

TEST_F(EventHubTest, ARevokedTokenClosesTheStreamWith4401) {
  auto ws = open_stream();
  send(ws, R"({"token":"good"})");
  EXPECT_EQ(next(ws)["type"], "hello");
  {
    std::lock_guard lock(mu_);
    valid_token_ = "another";
  }
  EXPECT_EQ(close_code(ws), 4401);
}

TEST_F(EventHubTest, AWrongTokenOrAMalformedFirstMessageIsRefused) {
  auto wrong = open_stream();
  send(wrong, R"({"token":"bad"})");
  EXPECT_EQ(close_code(wrong), 4401);
  auto garbage = open_stream();
  send(garbage, "hello?");
  EXPECT_EQ(close_code(garbage), 4400);
}

}  // namespace
}  // namespace oriel::api
