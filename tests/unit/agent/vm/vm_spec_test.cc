// VmSpec → QEMU command line, and the spec's own JSON (kept for re-attaching).
#include "oriel/agent/vm_spec.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace oriel::agent {
namespace {

bool has(const std::vector<std::string>& argv, const std::string& flag, const std::string& value) {
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == flag && argv[i + 1] == value) return true;
  }
  return false;
}

bool has_containing(const std::vector<std::string>& argv, const std::string& flag, const std::string& part) {
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == flag && argv[i + 1].find(part) != std::string::npos) return true;
  }
  return false;
}

VmSpec spec() {
  VmSpec s;
  s.id = "d-0123456789abcdef";
  s.name = "alice's desktop";
  s.vcpus = 2;
  s.memory_mb = 2048;
  s.disk_path = "/var/lib/oriel/disks/d-0123456789abcdef.qcow2";
  return s;
}

TEST(VmSpecTest, CommandLineIsDetachedWithPrivateSocketsAndTheChosenAccelerator) {
  auto paths = VmPaths::in("/run/oriel", "d-0123456789abcdef");
  auto tcg = qemu_command_line(spec(), paths, Accelerator::kTcg);
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

  auto kvm = qemu_command_line(spec(), paths, Accelerator::kKvm);
  EXPECT_TRUE(has(kvm, "-accel", "kvm"));
  EXPECT_TRUE(has(kvm, "-cpu", "host"));
}

TEST(VmSpecTest, BootModesMapToKernelOrFirmware) {
  auto paths = VmPaths::in("/run/oriel", "d-1");
  auto s = spec();
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

TEST(VmSpecTest, SpecSurvivesItsJsonAndBadSpecsAreErrors) {
  auto s = spec();
  s.boot.kind = BootSpec::Kind::kUefi;
  auto back = VmSpec::from_json(s.to_json()).value();
  EXPECT_EQ(back.name, s.name);
  EXPECT_EQ(back.memory_mb, 2048);
  EXPECT_EQ(back.boot.kind, BootSpec::Kind::kUefi);
  auto j = s.to_json();
  j["vcpus"] = "many";
  EXPECT_FALSE(VmSpec::from_json(j).ok());
  EXPECT_FALSE(BootSpec::from_json(parse_json(R"({"kernel":""})").value()).ok());
}

TEST(VmSpecTest, ARunDirTooDeepForUnixSocketsIsRefusedUpFront) {
  EXPECT_TRUE(check_run_dir("/var/lib/oriel/run").ok());
  auto deep = check_run_dir("/" + std::string(90, 'x'));
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.error().message().find("--run-dir"), std::string::npos);
}

}  // namespace
}  // namespace oriel::agent
