#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "oriel/common/clock.h"
#include "oriel/common/files.h"
#include "oriel/common/json.h"
#include "oriel/common/log_context.h"
#include "oriel/common/process.h"
#include "oriel/common/random.h"
#include "oriel/common/utf8.h"

namespace oriel {
namespace {

Result<int> half(int n) {
  if (n % 2) return Error::InvalidArgument("odd");
  return n / 2;
}

Result<int> quarter(int n) {
  int h = TRY(half(n));
  return TRY(half(h));
}

TEST(ResultTest, TryPropagatesTheFirstError) {
  EXPECT_EQ(quarter(8).value(), 2);
  auto r = quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message(), "odd");
}

TEST(JsonTest, WrongTypesNameTheField) {
  auto j = parse_json(R"({"name": 5, "vcpus": "two", "big": 99999999999999999999})").value();
  EXPECT_EQ(json_string(j, "name").error().message(), "field 'name' must be a string");
  EXPECT_EQ(json_int(j, "vcpus", 1, 64).error().message(), "field 'vcpus' must be an integer");
  EXPECT_FALSE(json_int(j, "big", 1, 64).ok());
  EXPECT_EQ(json_string(j, "missing").error().message(), "field 'missing' is required");
  EXPECT_FALSE(parse_json("{\"a\":").ok());
  EXPECT_FALSE(json_string(parse_json("[1]").value(), "a").ok());
  EXPECT_EQ(json_only_fields(j, {"name", "vcpus"}).error().message(), "unknown field 'big'");
}

TEST(ClockTest, Rfc3339RoundTripsMilliseconds) {
  auto t = from_unix_ms(1795350896123);
  EXPECT_EQ(format_rfc3339(t), "2026-11-22T12:34:56.123Z");
  EXPECT_EQ(parse_rfc3339("2026-11-22T12:34:56.123Z").value(), t);
  EXPECT_FALSE(parse_rfc3339("yesterday").ok());
}

TEST(RandomTest, SeededRandomIsReproducibleAndIdsHaveThePrefix) {
  SeededRandom a(7), b(7);
  EXPECT_EQ(a.hex(8), b.hex(8));
  std::string id = new_id(a, "d");
  EXPECT_EQ(id.size(), 18u);
  EXPECT_EQ(id.substr(0, 2), "d-");
  EXPECT_NE(SecureRandom().token(32), SecureRandom().token(32));
}

TEST(ProcessTest, CapturesOutputLinesAndExitCode) {
  SystemProcessRunner runner;
  std::vector<std::string> lines;
  ProcessOptions options;
  options.on_output_line = [&](std::string_view l) { lines.emplace_back(l); };
  auto r = runner.run({"sh", "-c", "printf 'a\\rb\\nc\\n'; echo oops >&2; exit 3"}, options).value();
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.err, "oops\n");
  EXPECT_EQ(lines, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(ProcessTest, ChildrenInheritNoDescriptorsBeyondStandardOnes) {
  int fd = ::dup2(::open("/dev/null", O_RDONLY), 57);  // deliberately without O_CLOEXEC
  ASSERT_EQ(fd, 57);
  SystemProcessRunner runner;
  auto r = runner.run({"sh", "-c", "ls /proc/self/fd"}, {}).value();
  ::close(fd);
  EXPECT_EQ(r.out.find("57\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2\n"), std::string::npos) << r.out;
}

// orield ignores SIGPIPE, and a display session's thread blocks it; a child
// must start with the defaults, or a pipeline in it would not end when its
// reader does.
TEST(ProcessTest, ChildrenStartWithDefaultSignalHandling) {
  struct sigaction ignore {
  }, before{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &before);
  sigset_t pipe, old_mask;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe, &old_mask);
  SystemProcessRunner runner;
  auto r = runner.run({"sh", "-c", "grep -E '^Sig(Ign|Blk)' /proc/self/status; kill -PIPE $$; echo survived"}, {});
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ::sigaction(SIGPIPE, &before, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->exit_code, 128 + SIGPIPE) << r->out;
  EXPECT_EQ(r->out.find("survived"), std::string::npos) << r->out;
}

TEST(ProcessTest, TimeoutKillsTheChild) {
  SystemProcessRunner runner;
  ProcessOptions options;
  options.timeout = std::chrono::milliseconds(200);
  auto r = runner.run({"sleep", "5"}, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kTimeout);
  EXPECT_EQ(runner.run({"/nonexistent/program"}, {}).error().code(), ErrorCode::kUnavailable);
}

// Where a path really leads: the import directories' check (images.cc)
// and orield's refusal of an import directory inside its own.
TEST(FilesTest, APathIsWithinADirectoryOnlyOnceResolved) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("oriel-within-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "srv" / "a");
  fs::create_directories(dir / "srv" / "ab");
  fs::create_directories(dir / "data");
  fs::create_symlink(dir / "data", dir / "srv" / "a" / "link");
  const std::string a = (dir / "srv" / "a").string();
  EXPECT_TRUE(path_within(a, a));
  EXPECT_TRUE(path_within(a, a + "/file"));
  EXPECT_TRUE(path_within(a + "/", a + "/file"));
  EXPECT_FALSE(path_within(a, (dir / "srv" / "ab").string())) << "a prefix of the name is not the directory";
  EXPECT_FALSE(path_within(a, a + "/../ab/file"));
  EXPECT_FALSE(path_within(a, a + "/link/oriel.db")) << "a link out of it leads elsewhere";
  EXPECT_TRUE(path_within((dir / "data").string(), a + "/link/oriel.db"));
  EXPECT_EQ(resolved_path(a + "/link/x"), (dir / "data" / "x").string());
  fs::remove_all(dir);
}

}  // namespace
// What one message becomes in the log, in `format`, logged for `request`.
std::string log_line(LogFormat format, const std::string& message, const std::string& request = "") {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("test", sink);
  logger.set_formatter(make_log_formatter(format));
  RequestIdScope scope(request);
  logger.info("{}", message);
  return out.str();
}

TEST(Utf8Test, ACutNeverSplitsASequence) {
  const std::string text = "ab\xC3\xA9\xE2\x82\xAC";  // "abé€": 2 + 2 + 3 bytes
  EXPECT_EQ(utf8_cut(text, 100), text.size());
  EXPECT_EQ(utf8_cut(text, 7), 7u);
  EXPECT_EQ(utf8_cut(text, 6), 4u);  // inside the euro sign: back to its start
  EXPECT_EQ(utf8_cut(text, 5), 4u);
  EXPECT_EQ(utf8_cut(text, 3), 2u);  // inside the é
  EXPECT_EQ(utf8_cut(text, 2), 2u);
  EXPECT_EQ(utf8_cut("\xC3\xA9", 1), 0u);
  EXPECT_EQ(utf8_cut("", 0), 0u);
}

TEST(LogTest, ATextLineCannotBeForgedByAName) {
  std::string line = log_line(LogFormat::kText, "pool Ok\n2026-12-07T03:10:00.000Z error host declared down\x1b[2J");
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1) << line;
  EXPECT_NE(line.find("pool Ok\\n2026-12-07T03:10:00.000Z error host declared down\\x1b[2J"), std::string::npos)
      << line;
  EXPECT_NE(log_line(LogFormat::kText, "started", "r-42").find("info  [req r-42] started"), std::string::npos);
  EXPECT_EQ(log_line(LogFormat::kText, "started").find("[req"), std::string::npos);
}

TEST(LogTest, AJsonLineIsOneObjectWithTheRequestId) {
  std::string line = log_line(LogFormat::kJson, "name\nwith a break and \"quotes\"", "r-42");
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1) << line;
  auto j = parse_json(line).value();
  EXPECT_EQ(j["msg"], "name\nwith a break and \"quotes\"");
  EXPECT_EQ(j["request_id"], "r-42");
  EXPECT_EQ(j["level"], "info");
  EXPECT_TRUE(j["time"].get<std::string>().ends_with("Z"));
  EXPECT_FALSE(parse_json(log_line(LogFormat::kJson, "x")).value().contains("request_id"));
}

TEST(LogTest, OnlyPlainRequestIdsAreTakenFromClients) {
  EXPECT_TRUE(valid_request_id("edge-7f3a_1.2"));
  EXPECT_FALSE(valid_request_id(""));
  EXPECT_FALSE(valid_request_id(std::string(65, 'a')));
  EXPECT_FALSE(valid_request_id("a b"));
  EXPECT_FALSE(valid_request_id("a\nb"));
  EXPECT_EQ(new_request_id().size(), 16u);
  EXPECT_NE(new_request_id(), new_request_id());
}

}  // namespace oriel
