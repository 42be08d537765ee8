// The QEMU command line: what its arguments do, and whole command lines
// against golden files in golden/, one argument per line, for each way the
// agent starts a QEMU (any change to an argument shows up as a diff there).
//
// After an intended change, run the test with ORIEL_UPDATE_GOLDEN=1 in the
// environment: it rewrites the golden files from the code (and passes), and
// the diff of golden/ is what to review.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "oriel/agent/host_agent.h"
#include "oriel/agent/qemu_process.h"

namespace oriel::agent {
namespace {

// Fixed paths, so the files are the same on every machine.
constexpr const char* kRunDir = "/run/oriel";
constexpr const char* kTargetDisksDir = "/var/lib/oriel-target/disks";
constexpr const char* kId = "d-0123456789abcdef";

VmSpec desktop() {
  VmSpec s;
  s.id = kId;
  s.name = "alice's desktop";
  s.vcpus = 2;
  s.memory_mb = 2048;
  s.disk_path = std::string("/var/lib/oriel/disks/") + kId + ".qcow2";
  return s;
}

VmSpec with_boot(VmSpec s, const char* boot_json) {
  s.boot = BootSpec::from_json(parse_json(boot_json).value()).value();
  return s;
}

// The value after the first `flag` whose value contains `part`.
std::optional<std::string> value_of(const std::vector<std::string>& argv, const std::string& flag,
                                    const std::string& part) {
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == flag && argv[i + 1].find(part) != std::string::npos) return argv[i + 1];
  }
  return std::nullopt;
}

bool has(const std::vector<std::string>& argv, const std::string& flag, const std::string& value) {
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == flag && argv[i + 1] == value) return true;
  }
  return false;
}

bool has_containing(const std::vector<std::string>& argv, const std::string& flag, const std::string& part) {
  return value_of(argv, flag, part).has_value();
}

TEST(QemuCommandLineTest, CommandLineIsDetachedWithPrivateSocketsAndTheChosenAccelerator) {
  auto paths = VmPaths::in("/run/oriel", "d-0123456789abcdef");
  auto tcg = qemu_command_line(desktop(), paths, Accelerator::kTcg);
  EXPECT_TRUE(has(tcg, "-accel", "tcg,thread=multi"));
  EXPECT_FALSE(has(tcg, "-cpu", "host"));
  EXPECT_TRUE(has(tcg, "-smp", "2"));
  EXPECT_TRUE(has(tcg, "-m", "2048"));
  EXPECT_TRUE(has(tcg, "-vnc", "unix:/run/oriel/vms/d-0123456789abcdef/vnc.sock"));
  EXPECT_TRUE(has(tcg, "-qmp", "unix:/run/oriel/vms/d-0123456789abcdef/qmp.sock,server=on,wait=off"));
  EXPECT_TRUE(has(tcg, "-pidfile", paths.pidfile));
  EXPECT_TRUE(has(tcg, "-serial", "file:" + paths.serial_log));
  EXPECT_TRUE(has_containing(tcg, "-drive", "file=/var/lib/oriel/disks/d-0123456789abcdef.qcow2,"));
  EXPECT_TRUE(has_containing(tcg, "-netdev", "user,"));
  EXPECT_NE(std::find(tcg.begin(), tcg.end(), "-daemonize"), tcg.end());
  EXPECT_EQ(std::find(tcg.begin(), tcg.end(), "-no-shutdown"), tcg.end()) << "a guest power-off must end QEMU";

  auto kvm = qemu_command_line(desktop(), paths, Accelerator::kKvm);
  EXPECT_TRUE(has(kvm, "-accel", "kvm"));
  EXPECT_TRUE(has(kvm, "-cpu", "host"));
}

TEST(QemuCommandLineTest, BootModesMapToKernelOrFirmware) {
  auto paths = VmPaths::in("/run/oriel", "d-1");
  auto s = desktop();
  s.boot = BootSpec::from_json(parse_json(R"({"kernel":"/k","initrd":"/i","cmdline":"quiet"})").value()).value();
  auto direct = qemu_command_line(s, paths, Accelerator::kTcg);
  EXPECT_TRUE(has(direct, "-kernel", "/k"));
  EXPECT_TRUE(has(direct, "-initrd", "/i"));
  EXPECT_TRUE(has(direct, "-append", "quiet"));

  s.boot = BootSpec::from_json(parse_json(R"({"firmware":"uefi"})").value()).value();
  auto uefi = qemu_command_line(s, paths, Accelerator::kTcg);
  EXPECT_TRUE(has_containing(uefi, "-drive", "if=pflash,format=raw,unit=0,readonly=on"));
  EXPECT_TRUE(has_containing(uefi, "-drive", "file=" + paths.uefi_vars));
  EXPECT_FALSE(has_containing(uefi, "-kernel", ""));

  s.boot = BootSpec::from_json(Json::object()).value();
  auto bios = qemu_command_line(s, paths, Accelerator::kTcg);
  EXPECT_FALSE(has_containing(bios, "-kernel", ""));
  EXPECT_FALSE(has_containing(bios, "-drive", "pflash"));
}

// The default network reaches nothing: user-mode networking without
// restrict=on made 10.0.2.2 the host's loopback (security probe #37).
TEST(QemuCommandLineTest, TheDefaultNetworkIsRestricted) {
  auto paths = VmPaths::in("/run/oriel", "d-1");
  auto argv = qemu_command_line(desktop(), paths, Accelerator::kTcg);
  EXPECT_TRUE(has(argv, "-netdev", "user,id=net0,restrict=on"));
  auto none = desktop();
  none.network.mode = NetworkSpec::Mode::kNone;
  EXPECT_FALSE(has_containing(qemu_command_line(none, paths, Accelerator::kTcg), "-netdev", ""));
}

TEST(QemuCommandLineTest, NetworkSpecsParseAndRefuse) {
  EXPECT_EQ(NetworkSpec::parse("none")->mode, NetworkSpec::Mode::kNone);
  EXPECT_EQ(NetworkSpec::parse("isolated")->mode, NetworkSpec::Mode::kIsolated);
  auto bridge = NetworkSpec::parse("bridge:br-t1.100");
  ASSERT_TRUE(bridge.ok());
  EXPECT_EQ(bridge->bridge, "br-t1.100");
  EXPECT_EQ(bridge->text(), "bridge:br-t1.100");
  for (const char* bad : {"", "user", "nat", "bridge:", "bridge:-x", "bridge:a,b", "bridge:a b", "bridge:../x",
                          "bridge:0123456789abcdef", "bridge:br0,script=/tmp/x"}) {
    EXPECT_EQ(NetworkSpec::parse(bad).error().code(), ErrorCode::kInvalidArgument) << bad;
  }
  // A spec written before networks had a mode still reads: true was
  // user-mode networking, which is now the isolated one.
  auto old = parse_json(R"({"id":"d-1","name":"n","vcpus":1,"memory_mb":64,"disk":"/d","network":true})").value();
  EXPECT_EQ(VmSpec::from_json(old)->network.mode, NetworkSpec::Mode::kIsolated);
  auto tap = VmPaths::in("/run/oriel", "d-0123456789abcdef-long-id").tap;
  EXPECT_LE(tap.size(), 15u);
  EXPECT_NE(tap, VmPaths::in("/run/oriel", "d-2").tap);
}

struct Case {
  const char* golden;  // file name under golden/
  VmSpec spec;
  Accelerator accel;
  QemuStart start;
};

std::vector<Case> cases() {
  VmSpec direct = with_boot(desktop(), R"({"kernel":"/boot/vmlinuz","initrd":"/boot/initrd.img",
                                           "cmdline":"console=ttyS0 quiet"})");
  direct.network.mode = NetworkSpec::Mode::kNone;
  // A tenant's bridge: the tap the agent makes, never a script of QEMU's.
  VmSpec bridged = desktop();
  bridged.network = NetworkSpec::parse("bridge:br-acme").value();
  // Shared storage: the target opens the source's overlay, at the same path.
  VmSpec shared = desktop();
  shared.disk_path = std::string("/mnt/shared/oriel/") + kId + ".qcow2";
  // Local disks copied over NBD: prepare_incoming gives the target a new
  // overlay of its own, where this host keeps every overlay; the copy
  // itself is set up over QMP, not on the command line.
  VmSpec copied = desktop();
  copied.disk_path = overlay_path(kTargetDisksDir, kId);
  return {
      {"bios.argv", desktop(), Accelerator::kKvm, QemuStart::kBoot},
      {"uefi.argv", with_boot(desktop(), R"({"firmware":"uefi"})"), Accelerator::kKvm, QemuStart::kBoot},
      {"direct_kernel.argv", direct, Accelerator::kTcg, QemuStart::kBoot},
      {"bridged.argv", bridged, Accelerator::kKvm, QemuStart::kBoot},
      {"migration_target.argv", shared, Accelerator::kKvm, QemuStart::kIncoming},
      {"local_disk_migration_target.argv", copied, Accelerator::kKvm, QemuStart::kIncoming},
  };
}

std::vector<std::string> command_line(const Case& c) {
  return qemu_command_line(c.spec, VmPaths::in(kRunDir, c.spec.id), c.accel, c.start);
}

std::string golden_path(const std::string& name) {
  return std::string(ORIEL_SOURCE_DIR) + "/tests/unit/agent/qemu/golden/" + name;
}

std::string one_per_line(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) out += arg + "\n";
  return out;
}

bool updating_golden() {
  const char* v = std::getenv("ORIEL_UPDATE_GOLDEN");
  return v && std::string(v) == "1";
}

TEST(QemuCommandLineTest, EachWayOfStartingMatchesItsGoldenFile) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.golden);
    auto argv = command_line(c);
    for (const auto& arg : argv) ASSERT_EQ(arg.find('\n'), std::string::npos) << "cannot be one per line: " << arg;
    std::string actual = one_per_line(argv);
    if (updating_golden()) {
      std::ofstream(golden_path(c.golden), std::ios::trunc) << actual;
      continue;
    }
    std::ifstream in(golden_path(c.golden));
    ASSERT_TRUE(in) << "no golden file " << golden_path(c.golden) << "; ORIEL_UPDATE_GOLDEN=1 writes it";
    std::stringstream expected;
    expected << in.rdbuf();
    EXPECT_EQ(actual, expected.str());
  }
}

// The value of an option list ("key=value,key=value") as QEMU reads it: a
// single comma ends an option, a doubled one is a comma inside the value.
std::map<std::string, std::string> qemu_options(const std::string& list) {
  std::map<std::string, std::string> out;
  std::string current;
  auto flush = [&] {
    size_t eq = current.find('=');
    out[current.substr(0, eq)] = eq == std::string::npos ? "" : current.substr(eq + 1);
    current.clear();
  };
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i] != ',') {
      current += list[i];
    } else if (i + 1 < list.size() && list[i + 1] == ',') {
      current += ',';
      ++i;
    } else {
      flush();
    }
  }
  flush();
  return out;
}

std::set<std::string> keys(const std::map<std::string, std::string>& options) {
  std::set<std::string> out;
  for (const auto& [k, v] : options) out.insert(k);
  return out;
}

TEST(QemuCommandLineTest, ACommaInTheNameOrDiskPathCannotAddOptions) {
  VmSpec s = desktop();
  s.name = "evil,debug-threads=on,,x";
  s.disk_path = "/var/lib/oriel/disks/a,readonly=on,snapshot=on.qcow2";
  auto argv = qemu_command_line(s, VmPaths::in(kRunDir, s.id), Accelerator::kTcg);

  auto name = qemu_options(value_of(argv, "-name", "guest=").value_or(""));
  EXPECT_EQ(keys(name), (std::set<std::string>{"guest", "process"}));
  EXPECT_EQ(name["guest"], s.name);

  auto drive = qemu_options(value_of(argv, "-drive", "id=disk0").value_or(""));
  EXPECT_EQ(keys(drive), (std::set<std::string>{"file", "if", "id", "format", "cache", "discard"}));
  EXPECT_EQ(drive["file"], s.disk_path);
}

// The agent recognises its QEMU after a restart by /proc/PID/cmdline
// (is_qemu_for): every command line must pass that test, or re-attaching
// would lose the VM.
TEST(QemuCommandLineTest, EveryCommandLineIsRecognisedWhenReattaching) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.golden);
    std::string cmdline;
    for (const auto& arg : command_line(c)) cmdline += arg + '\0';
    EXPECT_TRUE(is_qemu_command_for(cmdline, VmPaths::in(kRunDir, c.spec.id).qmp_socket));
    EXPECT_FALSE(is_qemu_command_for(cmdline, VmPaths::in(kRunDir, "d-other").qmp_socket));
  }
}

}  // namespace
}  // namespace oriel::agent
