// A VmSpec's own JSON (kept for re-attaching), and the run directory's limit.
#include "oriel/agent/vm_spec.h"

#include <gtest/gtest.h>

namespace oriel::agent {
namespace {

VmSpec spec() {
  VmSpec s;
  s.id = "d-0123456789abcdef";
  s.name = "alice's desktop";
  s.vcpus = 2;
  s.memory_mb = 2048;
  s.disk_path = "/var/lib/oriel/disks/d-0123456789abcdef.qcow2";
  return s;
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
