// The credentials file: where it lives, private modes, atomic replacement.
#include "credentials.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>

#include <gtest/gtest.h>

#include "temp_dir.h"

namespace oriel::cli {
namespace {

namespace fs = std::filesystem;

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    ::setenv("XDG_CONFIG_HOME", (dir_.path() / "config").c_str(), 1);
  }
  void TearDown() override { ::unsetenv("XDG_CONFIG_HOME"); }
  testing::TempDir dir_;
};

TEST_F(CredentialsTest, PathFollowsXdgConfigHomeAndIgnoresARelativeOne) {
  EXPECT_EQ(*credentials_path(), dir_.path() / "config" / "oriel" / "credentials.json");
  std::string old_home = std::getenv("HOME") ? std::getenv("HOME") : "";
  ::setenv("XDG_CONFIG_HOME", "relative/dir", 1);
  ::setenv("HOME", dir_.path().c_str(), 1);
  EXPECT_EQ(*credentials_path(), dir_.path() / ".config" / "oriel" / "credentials.json");
  ::setenv("HOME", old_home.c_str(), 1);
}

TEST_F(CredentialsTest, SaveCreatesPrivateDirectoryAndFileThatLoadReads) {
  fs::path file = *credentials_path();
  EXPECT_FALSE(load_credentials(file)->has_value());
  ::umask(022);
  ASSERT_TRUE(save_credentials(file, {"http://127.0.0.1:8080", "tok-1"}).ok());
  EXPECT_EQ(mode_of(file), 0600u);
  EXPECT_EQ(mode_of(file.parent_path()), 0700u);
  EXPECT_EQ(mode_of(file.parent_path().parent_path()), 0700u);
  auto loaded = load_credentials(file);
  ASSERT_TRUE(loaded.ok() && loaded->has_value());
  EXPECT_EQ((*loaded)->server, "http://127.0.0.1:8080");
  EXPECT_EQ((*loaded)->token, "tok-1");
  EXPECT_EQ((*loaded)->fingerprint, "");
}

TEST_F(CredentialsTest, APinnedFingerprintIsKeptWithTheToken) {
  fs::path file = *credentials_path();
  std::string pin = "sha256:" + std::string(64, 'a');
  ASSERT_TRUE(save_credentials(file, {"https://h:1", "tok", pin}).ok());
  EXPECT_EQ((*load_credentials(file))->fingerprint, pin);
}

TEST_F(CredentialsTest, SaveReplacesTheFileAndTightensAnExistingDirectory) {
  fs::path file = *credentials_path();
  fs::create_directories(file.parent_path());
  fs::permissions(file.parent_path(), fs::perms::all);
  { std::ofstream(file) << "old"; }
  fs::permissions(file, fs::perms::all);
  ASSERT_TRUE(save_credentials(file, {"http://h:1", "tok-2"}).ok());
  EXPECT_EQ(mode_of(file), 0600u);
  EXPECT_EQ(mode_of(file.parent_path()), 0700u);
  EXPECT_EQ((*load_credentials(file))->token, "tok-2");
  int files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(file.parent_path())) ++files;
  EXPECT_EQ(files, 1);  // no temporary file left behind
}

TEST_F(CredentialsTest, MalformedFileIsAClearError) {
  fs::path file = *credentials_path();
  fs::create_directories(file.parent_path());
  for (const char* text : {"{not json", "[]", R"({"server":"http://h:1"})", R"({"server":1,"token":"t"})"}) {
    { std::ofstream(file) << text; }
    auto r = load_credentials(file);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.error().message().find("oriel login"), std::string::npos) << r.error().message();
  }
}

TEST_F(CredentialsTest, RemoveSaysWhetherThereWasAFile) {
  fs::path file = *credentials_path();
  ASSERT_TRUE(save_credentials(file, {"http://h:1", "t"}).ok());
  EXPECT_TRUE(*remove_credentials(file));
  EXPECT_FALSE(*remove_credentials(file));
  EXPECT_FALSE(load_credentials(file)->has_value());
}

}  // namespace
}  // namespace oriel::cli
