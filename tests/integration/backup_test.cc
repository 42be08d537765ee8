// orield backup and orield restore, with the real binary: a backup taken
// while a desktop runs and a session is open, restored into a new data
// directory, gives a controller that manages that desktop and knows whose
// it is; a damaged or foreign archive is refused and changes nothing.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "harness.h"
#include "oriel/common/process.h"

namespace oriel::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kOrield = std::string(ORIEL_BINARY_DIR) + "/bin/orield";

ProcessResult orield_command(std::vector<std::string> args) {
  args.insert(args.begin(), kOrield);
  SystemProcessRunner runner;
  auto result = runner.run(args, {});
  if (!result.ok()) throw std::runtime_error(result.error().message());
  return *result;
}

std::string only_backup_in(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(dir)) found.push_back(entry.path().string());
  return found.size() == 1 ? found[0] : "";
}

TEST(BackupTest, ARestoredControllerManagesTheRunningDesktopAndItsSession) {
  std::string shared = make_temp_dir("shared");
  Orield first({"--shared-dir", shared});
  first.start();
  auto admin = first.admin();
  std::string image = import_test_guest(admin, "guest");
  std::string tenant = create_tenant(admin, "Backed Up Ltd");
  std::string pool = create_pool(admin, tenant, image, "Desks", "persistent", 1, 0);
  TestUser ana = create_user(first, admin, tenant, "ana");
  entitle(admin, pool, ana.id);
  Reply session = call(ana.client, "POST", "/api/v1/sessions", {{"pool_id", pool}});
  ASSERT_EQ(session.status, 201) << session.body;
  std::string sid = session.json["id"], desktop = session.json["desktop_id"];
  ASSERT_EQ(wait_for_state(admin, "/api/v1/desktops/" + desktop, {"running", "failed"}, 60s)["state"], "running");
  pid_t qemu = first.qemu_pid(desktop);
  ASSERT_GT(qemu, 0);

  // Taken while orield serves.
  std::string backups = make_temp_dir("backups");
  auto backup =
      orield_command({"backup", "--data-dir", first.data_dir(), "--shared-dir", shared, "--to", backups + "/"});
  ASSERT_EQ(backup.exit_code, 0) << backup.out << backup.err;
  EXPECT_NE(backup.out.find("1 golden images catalogued"), std::string::npos) << backup.out;
  std::string file = only_backup_in(backups);
  ASSERT_FALSE(file.empty());
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "a backup holds keys: its owner's alone";
  EXPECT_EQ(first.status(), "running");

  // The controller's disk is lost; its desktops run on.
  first.kill9();
  ASSERT_EQ(::kill(qemu, 0), 0);
  Orield second({"--shared-dir", shared, "--run-dir", first.data_dir() + "/run"});
  auto restore = orield_command({"restore", "--from", file, "--data-dir", second.data_dir(), "--shared-dir", shared});
  ASSERT_EQ(restore.exit_code, 0) << restore.out << restore.err;
  EXPECT_EQ(restore.out.find("warning"), std::string::npos) << restore.out;
  second.start();

  // Its own CA came back: the client trusts the restored ca.pem.
  auto again = second.admin();
  Json d = again.get("/api/v1/desktops/" + desktop).value();
  EXPECT_EQ(d["state"], "running") << d.dump();
  EXPECT_EQ(d["assigned_user"], ana.id);
  auto ana_again = second.client();
  ASSERT_TRUE(ana_again.login("ana", ana.password).ok());
  Json mine = ana_again.get("/api/v1/sessions/" + sid).value();
  EXPECT_EQ(mine["desktop_id"], desktop) << mine.dump();
  EXPECT_NE(mine["state"], "ended");
  // Managed: the same QEMU (re-attached, not a second one), and stop reaches it.
  EXPECT_EQ(::kill(qemu, 0), 0);
  ASSERT_TRUE(again.post("/api/v1/desktops/" + desktop + "/actions/stop").ok());
  EXPECT_EQ(wait_for_state(again, "/api/v1/desktops/" + desktop, {"stopped", "failed"}, 30s)["state"], "stopped");
  EXPECT_TRUE(wait_until([&] { return ::kill(qemu, 0) != 0; }, 10s));
  fs::remove_all(backups);
  fs::remove_all(shared);
}

class BadBackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("bad-backup");
    orield_.start();
    auto made = orield_command({"backup", "--data-dir", orield_.data_dir(), "--to", dir_ + "/good.tar.zst"});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    good_ = dir_ + "/good.tar.zst";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Restores `file` into a new data directory: the exit code and the error.
  std::pair<int, std::string> restore(const std::string& file, const std::string& target) {
    auto r = orield_command({"restore", "--from", file, "--data-dir", target});
    return {r.exit_code, r.err};
  }
  // An archive of `members` (files made under a scratch dir).
  std::string archive(const std::string& name, const std::vector<std::pair<std::string, std::string>>& members) {
    std::string src = dir_ + "/src-" + name;
    std::vector<std::string> args = {"tar", "--zstd", "-cf", dir_ + "/" + name, "-C", src};
    for (const auto& [path, text] : members) {
      fs::path file = fs::path(src) / path;
      fs::create_directories(file.parent_path());
      std::ofstream(file) << text;
      args.push_back(path);
    }
    SystemProcessRunner runner;
    EXPECT_EQ(runner.run(args, {}).value().exit_code, 0);
    return dir_ + "/" + name;
  }

  Orield orield_;
  std::string dir_, good_;
};

TEST_F(BadBackupTest, ATruncatedArchiveIsRefusedAndNothingIsWritten) {
  std::string cut = dir_ + "/cut.tar.zst";
  fs::copy_file(good_, cut);
  fs::resize_file(cut, fs::file_size(good_) / 2);
  std::string target = dir_ + "/restored";
  auto [code, err] = restore(cut, target);
  EXPECT_NE(code, 0);
  EXPECT_NE(err.find("tar failed"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(target + "/oriel.db"));
  EXPECT_FALSE(fs::exists(target + "/tls"));
}

TEST_F(BadBackupTest, AMemberOutsideTheBackupsLayoutIsRefused) {
  std::string evil = archive("evil.tar.zst", {{"manifest.json", "{}"}, {"etc/cron.d/x", "* * * * * root sh"}});
  std::string target = dir_ + "/restored";
  auto [code, err] = restore(evil, target);
  EXPECT_NE(code, 0);
  EXPECT_NE(err.find("it holds 'etc/"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(target + "/etc"));
  // A file that is no tarball at all.
  std::ofstream(dir_ + "/junk") << "not a backup";
  EXPECT_NE(restore(dir_ + "/junk", target).first, 0);
}

TEST_F(BadBackupTest, ABackupFromANewerSchemaIsRefusedWithTheVersionToUse) {
  std::string newer =
      archive("newer.tar.zst",
              {{"manifest.json", R"({"format":1,"database":"sqlite","schema_version":9999,"oriel_version":"9.0"})"},
               {"oriel.db", "x"}});
  auto [code, err] = restore(newer, dir_ + "/restored");
  EXPECT_NE(code, 0);
  EXPECT_NE(err.find("schema 9999, newer than this orield"), std::string::npos) << err;
  EXPECT_NE(err.find("Oriel 9.0 or later"), std::string::npos) << err;
}

TEST_F(BadBackupTest, ADamagedDatabaseIsRefused) {
  std::string damaged =
      archive("damaged.tar.zst", {{"manifest.json", R"({"format":1,"database":"sqlite","schema_version":1})"},
                                  {"oriel.db", std::string(8192, 'x')}});
  std::string target = dir_ + "/restored";
  auto [code, err] = restore(damaged, target);
  EXPECT_NE(code, 0);
  EXPECT_FALSE(fs::exists(target + "/oriel.db")) << err;
}

TEST_F(BadBackupTest, AnExistingDatabaseIsKeptUnlessForcedAndThenMovedAside) {
  std::string target = dir_ + "/restored";
  ASSERT_EQ(restore(good_, target).first, 0);
  auto [code, err] = restore(good_, target);
  EXPECT_NE(code, 0);
  EXPECT_NE(err.find("already has a database"), std::string::npos) << err;
  auto forced = orield_command({"restore", "--from", good_, "--data-dir", target, "--force"});
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  int aside = 0;
  for (const auto& entry : fs::directory_iterator(target)) {
    aside += entry.path().filename().string().starts_with("oriel.db.before-restore-");
  }
  EXPECT_EQ(aside, 1) << "the replaced database is kept";
  EXPECT_TRUE(fs::exists(target + "/oriel.db"));
}

TEST_F(BadBackupTest, KeepLeavesTheNewestBackups) {
  std::string many = dir_ + "/many";
  fs::create_directories(many);
  // Older backups, by their names' times.
  for (const char* stamp : {"20200101T000000Z", "20200102T000000Z", "20200103T000000Z"}) {
    std::ofstream(many + "/oriel-backup-" + std::string(stamp) + ".tar.zst") << "old";
  }
  std::ofstream(many + "/notes.txt") << "not a backup: never removed";
  auto r = orield_command({"backup", "--data-dir", orield_.data_dir(), "--to", many, "--keep", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(many)) left.push_back(entry.path().filename().string());
  std::sort(left.begin(), left.end());
  ASSERT_EQ(left.size(), 3u);
  EXPECT_EQ(left[0], "notes.txt");
  EXPECT_EQ(left[1], "oriel-backup-20200103T000000Z.tar.zst");
  EXPECT_GT(left[2], left[1]) << "the new backup is kept";
  EXPECT_EQ(orield_command({"backup", "--data-dir", orield_.data_dir(), "--to", dir_ + "/f.tar.zst", "--keep", "2"})
                .exit_code,
            1)
      << "--keep needs a directory";
}

}  // namespace
}  // namespace oriel::testing
