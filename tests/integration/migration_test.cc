// Live migration between two LocalAgents in one process (two "hosts" with
// their own run and disk directories) on loopback, with the real QEMU test
// guest booted with oriel.tick: it prints "ORIEL-TICK <boot-id> <n>" every
// 0.2 s and writes each tick to its own disk sector first, so a guest that
// moved shows the same boot counting on in the target's serial log, and its
// disk on the target shows every write it made on the source.
#include <gtest/gtest.h>

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <thread>

#include "harness.h"
#include "oriel/agent/local_agent.h"
#include "oriel/agent/qemu_process.h"
#include "oriel/common/process.h"

namespace oriel::testing {
namespace {

using namespace std::chrono_literals;
using agent::MigrationState;
using agent::VmStatus;
namespace fs = std::filesystem;

constexpr const char* kVm = "d-mig";

struct Tick {
  std::string boot;
  int n = 0;
};

std::vector<Tick> ticks_in(const std::string& serial_log) {
  static const std::regex line("ORIEL-TICK ([0-9a-f-]{36}) ([0-9]+)");
  std::vector<Tick> out;
  std::string text = read_file(serial_log);
  for (std::sregex_iterator it(text.begin(), text.end(), line), end; it != end; ++it) {
    out.push_back({(*it)[1].str(), std::stoi((*it)[2].str())});
  }
  return out;
}

// One "host": an agent with its own run and disk directories, and the exits it reported.
struct Host {
  std::string run_dir, disks_dir;
  std::unique_ptr<agent::LocalAgent> agent;
  std::mutex mu;
  std::vector<std::pair<std::string, agent::VmExit>> exits;
  std::vector<std::string> arrivals;  // VMs that came in by migration (the arrival handler)

  std::string serial_log() const { return agent::VmPaths::in(run_dir, kVm).serial_log; }
  pid_t qemu_pid() const { return std::atoi(read_file(agent::VmPaths::in(run_dir, kVm).pidfile).c_str()); }
  size_t exit_count() {
    std::lock_guard lock(mu);
    return exits.size();
  }
  std::vector<std::string> arrived() {
    std::lock_guard lock(mu);
    return arrivals;
  }
};

class MigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("mig");
    guest_ = TestGuest::locate();
    golden_ = dir_ + "/golden.qcow2";
    auto converted = runner_.run({"qemu-img", "convert", "-O", "qcow2", guest_.disk, golden_}, {.timeout = 60s});
    ASSERT_TRUE(converted.ok() && converted->exit_code == 0);
    start_host(a_, "a");
    start_host(b_, "b");
  }

  void TearDown() override {
    for (Host* h : {&a_, &b_}) {
      if (!h->agent) continue;
      (void)h->agent->abort_incoming(kVm);
      (void)h->agent->kill_vm(kVm);
      h->agent->stop();
      pid_t pid = h->qemu_pid();
      agent::kill_qemu(pid, agent::VmPaths::in(h->run_dir, kVm).qmp_socket);
    }
    if (!std::getenv("ORIEL_KEEP_TEST_DATA")) fs::remove_all(dir_);
  }

  void start_host(Host& h, const std::string& name) {
    h.run_dir = dir_ + "/" + name + "/run";
    h.disks_dir = dir_ + "/" + name + "/disks";
    h.agent = std::make_unique<agent::LocalAgent>(
        runner_, agent::LocalAgentOptions{.host_name = name,
                                          .run_dir = h.run_dir,
                                          .disks_dir = h.disks_dir,
                                          .accelerator = {agent::Accelerator::kTcg, "test"}});
    ASSERT_TRUE(h.agent->start().ok());
    h.agent->set_exit_handler([&h](const std::string& id, agent::VmExit why) {
      std::lock_guard lock(h.mu);
      h.exits.emplace_back(id, why);
    });
    h.agent->set_arrival_handler([&h](const std::string& id) {
      std::lock_guard lock(h.mu);
      h.arrivals.push_back(id);
    });
  }

  // Boots the ticking test guest on host A and waits until it is past its
  // boot (kSettledTicks).
  agent::VmSpec start_guest() {
    auto disk = a_.agent->create_disk(kVm, golden_);
    EXPECT_TRUE(disk.ok()) << disk.error().message();
    agent::VmSpec spec;
    spec.id = kVm;
    spec.name = kVm;
    spec.memory_mb = 160;
    spec.disk_path = a_.agent->disk_path(kVm);
    spec.boot = {agent::BootSpec::Kind::kDirectKernel, guest_.kernel, guest_.initrd, guest_.cmdline + " oriel.tick"};
    spec.network.mode = agent::NetworkSpec::Mode::kNone;
    auto started = a_.agent->start_vm(spec);
    EXPECT_TRUE(started.ok()) << started.error().message();
    EXPECT_TRUE(wait_until([&] { return ticks_in(a_.serial_log()).size() >= kSettledTicks; }, 90s))
        << "the guest does not tick; serial log:\n"
        << read_file(a_.serial_log());
    return spec;
  }

  // The guest keeps counting on `h` after tick `after`, in the same boot.
  void expect_ticking_on(Host& h, const Tick& after) {
    bool counting = wait_until(
        [&] {
          auto t = ticks_in(h.serial_log());
          return !t.empty() && t.back().boot == after.boot && t.back().n > after.n;
        },
        30s);
    EXPECT_TRUE(counting) << "no tick after " << after.n << " of boot " << after.boot << "; serial log:\n"
                          << read_file(h.serial_log());
  }

  // Slow enough (the guest has ~70 MiB of non-zero RAM) to act mid-way.
  static agent::MigrationOptions slow() {
    agent::MigrationOptions o;
    o.max_bandwidth_bytes_per_s = 4 << 20;
    return o;
  }

  void wait_until_copying_ram(Host& h) {
    bool copying = wait_until(
        [&] {
          auto p = h.agent->migration_progress(kVm);
          return p.ok() && p->state == MigrationState::kMigrating && p->ram_transferred_bytes > (1 << 20);
        },
        30s);
    ASSERT_TRUE(copying) << h.agent->migration_progress(kVm)->to_json().dump();
  }

  SystemProcessRunner runner_;
  std::string dir_, golden_;
  TestGuest guest_;
  Host a_, b_;
};

TEST_F(MigrationTest, SharedStorageMigrationKeepsTheGuestRunningOnTheTarget) {
  auto spec = start_guest();
  auto target = b_.agent->prepare_incoming({.spec = spec, .storage = agent::MigrationStorage::kShared});
  ASSERT_TRUE(target.ok()) << target.error().message();
  EXPECT_TRUE(target->uri.starts_with("tcp:127.0.0.1:")) << target->uri;
  EXPECT_TRUE(target->disk_uri.empty());
  // Waiting, the target is no desktop of host B, nor taken for a crashed one.
  EXPECT_EQ(b_.agent->migration_progress(kVm)->state, MigrationState::kIncoming);
  EXPECT_EQ(b_.agent->vm_status(kVm), VmStatus::kAbsent);
  EXPECT_EQ(b_.agent->vms().count(kVm), 0u);
  EXPECT_GT(b_.qemu_pid(), 0);
  EXPECT_TRUE(b_.arrived().empty());

  ASSERT_TRUE(a_.agent->migrate(kVm, *target).ok());
  auto done = a_.agent->wait_for_migration(kVm, 120s);
  ASSERT_TRUE(done.ok()) << done.error().message();
  EXPECT_EQ(done->state, MigrationState::kCompleted) << done->to_json().dump();
  EXPECT_EQ(done->qemu_status, "completed");
  EXPECT_EQ(done->percent, 100);
  EXPECT_GT(done->total_time_ms, 0) << done->to_json().dump();
  EXPECT_GE(done->downtime_ms, 0);
  EXPECT_GT(done->ram_transferred_bytes, 0);

  // The source QEMU is gone, reported as migrated (not as a crash).
  EXPECT_EQ(a_.agent->vm_status(kVm), VmStatus::kAbsent);
  {
    std::lock_guard lock(a_.mu);
    ASSERT_EQ(a_.exits.size(), 1u);
    EXPECT_EQ(a_.exits[0].second, agent::VmExit::kMigrated);
  }
  EXPECT_FALSE(fs::exists(agent::VmPaths::in(a_.run_dir, kVm).pidfile));

  // The same boot runs on B: its ticks go on, and it never rebooted. B
  // told of the arrival (its journal moves on, so a heartbeat goes at once).
  ASSERT_TRUE(b_.agent->finish_incoming(kVm, 10s).ok());
  // (The handler runs just after the state is set: finish_incoming may return first.)
  EXPECT_TRUE(wait_until([&] { return b_.arrived() == std::vector<std::string>{kVm}; }, 5s));
  EXPECT_TRUE(a_.arrived().empty());
  EXPECT_EQ(b_.agent->vm_status(kVm), VmStatus::kRunning);
  EXPECT_EQ(b_.agent->vms().count(kVm), 1u);
  EXPECT_EQ(b_.agent->migration_progress(kVm)->state, MigrationState::kCompleted);
  expect_ticking_on(b_, ticks_in(a_.serial_log()).back());
  EXPECT_EQ(read_file(b_.serial_log()).find("ORIEL-MARKER"), std::string::npos);

  // QEMU's image lock stayed on: B holds the shared overlay now.
  auto info = runner_.run({"qemu-img", "info", spec.disk_path}, {.timeout = 30s});
  ASSERT_TRUE(info.ok());
  EXPECT_NE(info->exit_code, 0);
  EXPECT_NE(info->err.find("lock"), std::string::npos) << info->err;

  // The progress crosses JSON unchanged.
  auto back = agent::MigrationProgress::from_json(done->to_json());
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->to_json(), done->to_json());
  EXPECT_EQ(b_.exit_count(), 0u);
}

TEST_F(MigrationTest, CancelledMigrationLeavesTheGuestRunningOnTheSource) {
  auto spec = start_guest();
  auto target = b_.agent->prepare_incoming({.spec = spec});
  ASSERT_TRUE(target.ok()) << target.error().message();
  ASSERT_TRUE(a_.agent->migrate(kVm, *target, slow()).ok());
  wait_until_copying_ram(a_);
  auto before = a_.agent->migration_progress(kVm);
  EXPECT_GT(before->percent, 0);
  EXPECT_LT(before->percent, 100);

  ASSERT_TRUE(a_.agent->cancel_migration(kVm).ok());
  EXPECT_EQ(a_.agent->migration_progress(kVm)->state, MigrationState::kCancelled);
  EXPECT_EQ(a_.agent->vm_status(kVm), VmStatus::kRunning);
  expect_ticking_on(a_, ticks_in(a_.serial_log()).back());
  EXPECT_EQ(a_.exit_count(), 0u);

  // The target noticed the stream end: its QEMU is gone and nothing is left.
  auto gone = b_.agent->wait_for_migration(kVm, 30s);
  ASSERT_TRUE(gone.ok()) << gone.error().message();
  EXPECT_EQ(gone->state, MigrationState::kFailed);
  EXPECT_EQ(b_.agent->vm_status(kVm), VmStatus::kAbsent);
  EXPECT_FALSE(fs::exists(agent::VmPaths::in(b_.run_dir, kVm).pidfile));
  EXPECT_EQ(b_.exit_count(), 0u);
  EXPECT_FALSE(b_.agent->finish_incoming(kVm, 1s).ok());
  EXPECT_TRUE(b_.arrived().empty());

  // The source can migrate again, and this time it goes through.
  auto again = b_.agent->prepare_incoming({.spec = spec});
  ASSERT_TRUE(again.ok()) << again.error().message();
  ASSERT_TRUE(a_.agent->migrate(kVm, *again).ok());
  auto done = a_.agent->wait_for_migration(kVm, 120s);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, MigrationState::kCompleted) << done->to_json().dump();
  EXPECT_TRUE(b_.agent->finish_incoming(kVm, 10s).ok());
  EXPECT_TRUE(wait_until([&] { return b_.arrived() == std::vector<std::string>{kVm}; }, 5s));
  expect_ticking_on(b_, ticks_in(a_.serial_log()).back());
}

TEST_F(MigrationTest, TargetThatDiesMidMigrationRollsBack) {
  auto spec = start_guest();
  auto target = b_.agent->prepare_incoming({.spec = spec});
  ASSERT_TRUE(target.ok()) << target.error().message();
  ASSERT_TRUE(a_.agent->migrate(kVm, *target, slow()).ok());
  wait_until_copying_ram(a_);

  pid_t target_pid = b_.qemu_pid();
  ASSERT_GT(target_pid, 0);
  ::kill(target_pid, SIGKILL);

  auto done = a_.agent->wait_for_migration(kVm, 60s);
  ASSERT_TRUE(done.ok()) << done.error().message();
  EXPECT_EQ(done->state, MigrationState::kFailed);
  EXPECT_FALSE(done->error.empty());
  EXPECT_EQ(a_.agent->vm_status(kVm), VmStatus::kRunning);
  expect_ticking_on(a_, ticks_in(a_.serial_log()).back());
  EXPECT_EQ(a_.exit_count(), 0u);

  ASSERT_TRUE(wait_until([&] { return b_.agent->migration_progress(kVm)->state == MigrationState::kFailed; }, 10s));
  EXPECT_EQ(b_.agent->vm_status(kVm), VmStatus::kAbsent);
  EXPECT_EQ(b_.exit_count(), 0u);
  EXPECT_TRUE(b_.arrived().empty());
}

TEST_F(MigrationTest, BadTargetsAreCleanErrors) {
  auto spec = start_guest();
  auto bad = [&](const agent::MigrationTarget& t) { return a_.agent->migrate(kVm, t); };
  EXPECT_EQ(bad({"nonsense"}).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad({"tcp:127.0.0.1:99999"}).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad({"tcp::4444"}).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad({"tcp:127.0.0.1:4444", "nbd://127.0.0.1:4445"}).error().code(), ErrorCode::kInvalidArgument);

  // Nobody listens on port 1: QEMU's own reason, and the guest runs on.
  auto refused = bad({"tcp:127.0.0.1:1"});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(refused.error().message().find("refused"), std::string::npos) << refused.error().message();
  EXPECT_EQ(a_.agent->migration_progress(kVm)->state, MigrationState::kFailed);
  auto no_disk = bad({"tcp:127.0.0.1:1", "nbd://127.0.0.1:1/oriel-disk0"});
  ASSERT_FALSE(no_disk.ok());
  EXPECT_EQ(no_disk.error().code(), ErrorCode::kUnavailable) << no_disk.error().message();
  EXPECT_EQ(a_.agent->vm_status(kVm), VmStatus::kRunning);
  expect_ticking_on(a_, ticks_in(a_.serial_log()).back());
  EXPECT_EQ(a_.exit_count(), 0u);

  EXPECT_EQ(a_.agent->migrate("d-none", {"tcp:127.0.0.1:4444"}).error().code(), ErrorCode::kConflict);
  EXPECT_EQ(a_.agent->cancel_migration("d-none").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(a_.agent->prepare_incoming({.spec = spec}).error().code(), ErrorCode::kConflict);  // runs here
  agent::VmSpec missing = spec;
  missing.disk_path = dir_ + "/no-such.qcow2";
  EXPECT_EQ(b_.agent->prepare_incoming({.spec = missing}).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(b_.agent->prepare_incoming({.spec = spec, .listen_host = "127.0.0.1;rm"}).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_FALSE(agent::MigrationTarget::from_json({{"uri", "exec:rm -rf /"}}).ok());
  EXPECT_FALSE(agent::MigrationProgress::from_json({{"state", "teleported"}}).ok());
}

TEST_F(MigrationTest, LocalDiskMigrationCarriesTheGuestsWrites) {
  auto spec = start_guest();
  auto target =
      b_.agent->prepare_incoming({.spec = spec, .storage = agent::MigrationStorage::kCopy, .golden_path = golden_});
  ASSERT_TRUE(target.ok()) << target.error().message();
  EXPECT_TRUE(target->disk_uri.starts_with("nbd://127.0.0.1:")) << target->disk_uri;
  std::string target_disk = b_.agent->disk_path(kVm);
  ASSERT_TRUE(fs::exists(target_disk));
  ASSERT_NE(target_disk, spec.disk_path);

  ASSERT_TRUE(a_.agent->migrate(kVm, *target).ok());
  auto done = a_.agent->wait_for_migration(kVm, 180s);
  ASSERT_TRUE(done.ok()) << done.error().message();
  ASSERT_EQ(done->state, MigrationState::kCompleted) << done->to_json().dump();
  EXPECT_EQ(done->storage, agent::MigrationStorage::kCopy);
  EXPECT_GT(done->disk_total_bytes, 0);
  ASSERT_TRUE(b_.agent->finish_incoming(kVm, 10s).ok());
  auto on_source = ticks_in(a_.serial_log());
  ASSERT_FALSE(on_source.empty());
  expect_ticking_on(b_, on_source.back());
  EXPECT_TRUE(fs::exists(spec.disk_path));  // the source's disk stays, for the caller to delete

  // Stopped, B's overlay holds the boot marker and every tick the guest
  // wrote on A, the last ones right before the switchover included.
  ASSERT_TRUE(b_.agent->kill_vm(kVm).ok());
  std::string raw = dir_ + "/target.raw";
  auto converted = runner_.run({"qemu-img", "convert", "-O", "raw", target_disk, raw}, {.timeout = 60s});
  ASSERT_TRUE(converted.ok() && converted->exit_code == 0);
  std::string disk = read_file(raw);
  ASSERT_EQ(disk.size(), 16u << 20);
  EXPECT_EQ(disk.substr(0, 12), "ORIEL-MARKER");
  int missing = 0;
  for (const auto& t : on_source) {
    std::string expected = "ORIEL-TICK " + t.boot + " " + std::to_string(t.n) + "\n";
    if (disk.compare(512 * (8 + t.n % 16384), expected.size(), expected) != 0) ++missing;
  }
  EXPECT_EQ(missing, 0) << "of " << on_source.size() << " ticks written on the source";
}

}  // namespace
}  // namespace oriel::testing
