// Desktop disks are users' data: on shared storage, another local user
// reads neither a desktop's overlay nor a golden image. Checked for real,
// as the unprivileged user nobody (setpriv), with the storage's parent
// world-traversable as a mount point is.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "harness.h"
#include "oriel/common/process.h"

namespace oriel::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

// What `nobody` gets from reading the first bytes of `file`: its exit code.
int read_as_nobody(const std::string& file) {
  SystemProcessRunner runner;
  return runner.run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "head", "-c", "4", file}, {})
      .value()
      .exit_code;
}

TEST(FileModesTest, AnotherLocalUserReadsNoDiskOnSharedStorage) {
  std::string parent = make_temp_dir("modes");
  ::chmod(parent.c_str(), 0755);  // a mount point: anyone may pass through it
  std::string shared = parent + "/shared";
  // What an older orield left: a world-readable overlay in a 0755 directory.
  fs::create_directories(shared + "/disks");
  ::chmod(shared.c_str(), 0755);
  ::chmod((shared + "/disks").c_str(), 0755);
  std::ofstream(shared + "/disks/d-old.qcow2") << "QFI\xfb old overlay";
  ::chmod((shared + "/disks/d-old.qcow2").c_str(), 0644);
  ASSERT_EQ(read_as_nobody(shared + "/disks/d-old.qcow2"), 0) << "the test's own setup must be readable at first";

  Orield orield({"--shared-dir", shared});
  orield.start();
  auto admin = orield.admin();
  std::string image = import_test_guest(admin, "guest");
  auto d = admin.post("/api/v1/desktops", {{"name", "private"}, {"image_id", image}, {"vcpus", 1}, {"memory_mb", 128}});
  ASSERT_TRUE(d.ok());
  std::string id = (*d)["id"];
  ASSERT_EQ(wait_for_state(admin, "/api/v1/desktops/" + id, {"running", "failed"}, 60s)["state"], "running");

  std::string overlay = shared + "/disks/" + id + ".qcow2";
  std::string golden = shared + "/images/" + image + "/disk.qcow2";
  ASSERT_TRUE(fs::exists(overlay) && fs::exists(golden));
  EXPECT_EQ(mode_of(overlay), 0600u);
  EXPECT_EQ(mode_of(golden), 0400u);
  EXPECT_EQ(mode_of(shared + "/disks/d-old.qcow2"), 0600u) << "what was there is tightened at start";
  for (const auto& entry : fs::recursive_directory_iterator(shared)) {
    mode_t m = mode_of(entry.path());
    EXPECT_EQ(m & 077, 0u) << entry.path() << " is " << std::oct << m;
    if (entry.is_directory()) {
      EXPECT_EQ(m, 0700u) << entry.path();
    }
  }
  EXPECT_NE(read_as_nobody(overlay), 0) << "nobody read a desktop's disk";
  EXPECT_NE(read_as_nobody(golden), 0) << "nobody read a golden image";
  EXPECT_NE(read_as_nobody(shared + "/disks/d-old.qcow2"), 0);
  orield.stop();
  fs::remove_all(parent);
}

}  // namespace
}  // namespace oriel::testing
