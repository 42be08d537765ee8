// The QMP client against a real QEMU (no guest needed), and against a
// scripted unix-socket peer for what QEMU cannot be made to do (never answer).
#include "oriel/agent/qmp_client.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "oriel/common/process.h"

namespace oriel::agent {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using local = asio::local::stream_protocol;

class QmpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("oriel-qmp-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    work_.emplace(io_.get_executor());
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    if (qemu_pid_ > 0) ::kill(qemu_pid_, SIGKILL);
    work_.reset();
    io_.stop();
    thread_.join();
    fs::remove_all(dir_);
  }
  std::string sock() const { return (dir_ / "qmp.sock").string(); }
  void start_qemu() {
    SystemProcessRunner runner;
    auto r = runner.run(
        {"qemu-system-x86_64", "-M", "pc", "-accel", "tcg", "-S", "-nodefaults", "-display", "none", "-m", "32", "-qmp",
         "unix:" + sock() + ",server=on,wait=off", "-daemonize", "-pidfile", (dir_ / "pid").string()},
        {});
    ASSERT_TRUE(r.ok() && r->exit_code == 0) << (r.ok() ? r->err : r.error().message());
    std::ifstream(dir_ / "pid") >> qemu_pid_;
  }
  std::shared_ptr<QmpClient> connect(QmpEventHandler on_event = {}, QmpClosedHandler on_closed = {}) {
    auto c = QmpClient::connect_sync(io_.get_executor(), sock(), 5s, std::move(on_event), std::move(on_closed));
    EXPECT_TRUE(c.ok()) << c.error().message();
    return c.ok() ? *c : nullptr;
  }

  fs::path dir_;
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
  pid_t qemu_pid_ = -1;
};

TEST_F(QmpTest, NegotiatesAndQueriesStatus) {
  start_qemu();
  auto qmp = connect();
  auto status = qmp->execute_sync("query-status");
  ASSERT_TRUE(status.ok()) << status.error().message();
  EXPECT_EQ((*status)["status"], "prelaunch");
  EXPECT_FALSE((*status)["running"].get<bool>());
}

TEST_F(QmpTest, QemuErrorsCarryItsClassAndDescription) {
  start_qemu();
  auto qmp = connect();
  auto r = qmp->execute_sync("no-such-command");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(r.error().message().find("CommandNotFound"), std::string::npos);
  auto bad = qmp->execute_sync("human-monitor-command", {{"wrong", 1}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(QmpTest, ManyConcurrentCommandsAreMatchedById) {
  start_qemu();
  auto qmp = connect();
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        // Alternate two commands with different answers so a mix-up shows.
        if ((t + i) % 2) {
          auto r = qmp->execute_sync("query-status");
          good += r.ok() && r->contains("status");
        } else {
          auto r = qmp->execute_sync("query-kvm");
          good += r.ok() && r->contains("enabled");
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good, 80);
}

TEST_F(QmpTest, DeliversStopAndResumeEvents) {
  start_qemu();
  std::mutex mu;
  std::vector<std::string> events;
  auto qmp = connect([&](const QmpEvent& e) {
    std::lock_guard lock(mu);
    events.push_back(e.name);
  });
  ASSERT_TRUE(qmp->execute_sync("cont").ok());
  ASSERT_TRUE(qmp->execute_sync("stop").ok());
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(mu);
      if (events.size() >= 2) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  std::lock_guard lock(mu);
  EXPECT_EQ(events, (std::vector<std::string>{"RESUME", "STOP"}));
}

TEST_F(QmpTest, KilledQemuFailsCallsFastAndNotifies) {
  start_qemu();
  std::atomic<bool> closed{false};
  auto qmp = connect({}, [&](const Error&) { closed = true; });
  ::kill(qemu_pid_, SIGKILL);
  auto t = std::chrono::steady_clock::now();
  while (!closed && std::chrono::steady_clock::now() - t < 2s) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(closed);
  auto r = qmp->execute_sync("query-status");
  EXPECT_LT(std::chrono::steady_clock::now() - t, 1s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
  qemu_pid_ = -1;
}

TEST_F(QmpTest, NoQemuIsAClearError) {
  auto c = QmpClient::connect_sync(io_.get_executor(), sock(), 1s, {}, {});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(c.error().message().find(sock()), std::string::npos);
}

// A scripted peer: greeting, then an event and garbage before the
// capabilities answer, then `after_caps` decides what happens next.
class Peer {
 public:
  Peer(const std::string& path, std::function<void(local::socket&)> after_caps)
      : acceptor_(io_, local::endpoint(path)), thread_([this, after_caps] {
          local::socket s(io_);
          acceptor_.accept(s);
          asio::write(s, asio::buffer(std::string(R"({"QMP": {"version": {}, "capabilities": []}})"
                                                  "\n")));
          std::string buf;
          asio::read_until(s, asio::dynamic_buffer(buf), '\n');
          asio::write(s, asio::buffer(std::string(R"({"event": "RESET", "data": {"guest": true}})"
                                                  "\n"
                                                  "this is not json\n"
                                                  R"({"return": {}, "id": 999})"
                                                  "\n"
                                                  R"({"return": {}, "id": 1})"
                                                  "\n")));
          after_caps(s);
        }) {}
  ~Peer() { thread_.join(); }

 private:
  asio::io_context io_;
  local::acceptor acceptor_;
  std::thread thread_;
};

TEST_F(QmpTest, EventsBeforeTheCapabilitiesAnswerAreDeliveredAndGarbageIsIgnored) {
  std::atomic<int> resets{0};
  Peer peer(sock(), [](local::socket& s) {
    std::string buf;
    boost::system::error_code ec;
    asio::read_until(s, asio::dynamic_buffer(buf), '\n', ec);  // hold until the client closes
  });
  auto qmp = connect([&](const QmpEvent& e) { resets += e.name == "RESET" && e.data.value("guest", false); });
  ASSERT_TRUE(qmp);
  EXPECT_EQ(resets, 1);
  qmp->close();
}

TEST_F(QmpTest, ACommandWithNoAnswerTimesOutAndAClosedPeerFailsPendingCommands) {
  Peer peer(sock(), [](local::socket& s) {
    std::string buf;
    asio::read_until(s, asio::dynamic_buffer(buf), '\n');  // first command: never answered
    buf.erase(0, buf.find('\n') + 1);
    asio::read_until(s, asio::dynamic_buffer(buf), '\n');  // second command: hang up
    s.close();
  });
  auto qmp = connect();
  ASSERT_TRUE(qmp);
  auto t = std::chrono::steady_clock::now();
  auto slow = qmp->execute_sync("query-status", Json::object(), 300ms);
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.error().code(), ErrorCode::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - t, 2s);
  auto dropped = qmp->execute_sync("query-status", Json::object(), 10s);
  ASSERT_FALSE(dropped.ok());
  EXPECT_EQ(dropped.error().code(), ErrorCode::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t, 3s);
}

}  // namespace
}  // namespace oriel::agent
