// Golden-image import and linked clones with the real qemu-img.
#include "oriel/agent/disks.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

namespace oriel::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class DisksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("oriel-disks-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "src");
    fs::create_directories(dir_ / "golden");
    // 8 MiB raw disk with recognisable data at the start and the end.
    raw_ = path("src/disk.raw");
    sh("qemu-img create -q -f raw " + raw_ + " 8M && printf 'ORIEL-GOLDEN' | dd of=" + raw_ +
       " conv=notrunc status=none && printf 'TAIL' | dd of=" + raw_ + " bs=1 seek=8000000 conv=notrunc status=none");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& rel) const { return (dir_ / rel).string(); }
  static void sh(const std::string& cmd) { ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd; }
  std::string convert(const std::string& to, const std::string& opts = "") {
    std::string ext = to == "vpc" ? "vhd" : to;
    std::string out = path("src/disk" + (opts.empty() ? "" : std::to_string(opts.size())) + "." + ext);
    sh("qemu-img convert -q -f raw -O " + to + " " + opts + " " + raw_ + " " + out);
    return out;
  }
  Result<ImportedDisk> import(const std::string& source, const std::string& format = "auto") {
    return import_disk(runner_, {source, format, path("golden/g.qcow2"), nullptr});
  }
  bool golden_dir_empty() const { return fs::is_empty(dir_ / "golden"); }
  // Compares guest-visible content; -f matters: a fixed VHD probes as raw.
  bool same_content(const std::string& a, const std::string& b, const std::string& a_format = "qcow2") {
    return std::system(("qemu-img compare -q -f " + a_format + " -F qcow2 " + a + " " + b).c_str()) == 0;
  }

  SystemProcessRunner runner_;
  fs::path dir_;
  std::string raw_;
};

TEST_F(DisksTest, ImportsEveryFormatWithTheSameContent) {
  struct Case {
    std::string source, format;
  };
  std::vector<Case> cases = {{raw_, "raw"},
                             {convert("qcow2"), "qcow2"},
                             {convert("vpc", "-o subformat=dynamic"), "vpc"},
                             {convert("vpc", "-o subformat=fixed"), "vpc"},
                             {convert("vhdx"), "vhdx"}};
  for (const auto& c : cases) {
    for (std::string requested : {"auto", c.format.c_str()}) {
      fs::remove(path("golden/g.qcow2"));
      auto r = import(c.source, requested);
      ASSERT_TRUE(r.ok()) << c.source << " as " << requested << ": " << r.error().message();
      EXPECT_EQ(r->source_format, c.format);
      EXPECT_GE(r->virtual_size, 8u << 20);
      EXPECT_TRUE(same_content(c.source, path("golden/g.qcow2"), c.format)) << c.source;
      EXPECT_EQ(fs::status(path("golden/g.qcow2")).permissions() & fs::perms::owner_write, fs::perms::none);
      fs::permissions(path("golden/g.qcow2"), fs::perms::owner_write, fs::perm_options::add);
    }
  }
}

TEST_F(DisksTest, TruncatedVhdsAreRejectedWithAReason) {
  for (std::string sub : {"dynamic", "fixed"}) {
    std::string vhd = convert("vpc", "-o subformat=" + sub);
    fs::resize_file(vhd, fs::file_size(vhd) / 2);
    auto r = import(vhd);
    ASSERT_FALSE(r.ok()) << sub;
    EXPECT_NE(r.error().message().find("truncated"), std::string::npos) << r.error().message();
    EXPECT_TRUE(golden_dir_empty());
  }
}

TEST_F(DisksTest, NonImagesAndWrongFormatsAreRejectedAndLeaveNothing) {
  std::ofstream(path("src/notes.txt")) << "hello, this is text\n";
  std::ofstream(path("src/empty.img"));
  std::string qcow2 = convert("qcow2");
  std::string corrupt = path("src/corrupt.qcow2");
  fs::copy_file(qcow2, corrupt);
  sh("printf '\\377\\377\\377\\377\\377\\377\\377\\377' | dd of=" + corrupt +
     " bs=1 seek=40 conv=notrunc status=none");  // L1 table offset → garbage
  struct Case {
    std::string path, format, expect;
  };
  std::vector<Case> cases = {{path("src/notes.txt"), "auto", "not a disk image"},
                             {path("src/empty.img"), "auto", "not a disk image"},
                             {path("src/missing.vhd"), "auto", "does not exist"},
                             {path("src"), "auto", "not a regular file"},
                             {qcow2, "vhdx", "is not vhdx"},
                             {raw_, "vpc", "is not vpc"},
                             {corrupt, "auto", ""}};
  for (const auto& c : cases) {
    auto r = import(c.path, c.format);
    ASSERT_FALSE(r.ok()) << c.path;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << r.error().message();
    EXPECT_NE(r.error().message().find(c.expect), std::string::npos) << r.error().message();
    EXPECT_TRUE(golden_dir_empty()) << c.path;
  }
}

TEST_F(DisksTest, ProgressRisesToOneHundred) {
  std::string big = path("src/big.raw");
  sh("qemu-img create -q -f raw " + big + " 256M && dd if=/dev/urandom of=" + big +
     " bs=1M count=48 conv=notrunc status=none");
  std::vector<double> seen;
  auto r = import_disk(runner_, {big, "raw", path("golden/g.qcow2"), [&](double p) { seen.push_back(p); }});
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_GE(seen.size(), 2u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(seen.back(), 100);
  EXPECT_EQ(parse_progress_line("    (45.12/100%)").value(), 45.12);
  EXPECT_FALSE(parse_progress_line("(nan/100%)").has_value());
  EXPECT_FALSE(parse_progress_line("garbage").has_value());
}

// The real runner, with a conversion deadline short enough to kill qemu-img midway.
class ImpatientRunner final : public ProcessRunner {
 public:
  Result<ProcessResult> run(const std::vector<std::string>& argv, const ProcessOptions& options) override {
    ProcessOptions o = options;
    if (argv.size() > 1 && argv[1] == "convert") o.timeout = 1ms;
    return real_.run(argv, o);
  }
  SystemProcessRunner real_;
};

TEST_F(DisksTest, AConversionKilledMidwayLeavesNoFile) {
  ImpatientRunner impatient;
  auto r = import_disk(impatient, {raw_, "raw", path("golden/g.qcow2"), nullptr});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kTimeout);
  EXPECT_TRUE(golden_dir_empty());
}

TEST_F(DisksTest, ResetDiscardsWhatTheCloneWrote) {
  ASSERT_TRUE(import(raw_).ok());
  std::string golden = path("golden/g.qcow2"), overlay = path("clone.qcow2");
  auto t = std::chrono::steady_clock::now();
  ASSERT_TRUE(create_linked_clone(runner_, golden, overlay).ok());
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
  EXPECT_LT(ms, 1000);
  EXPECT_EQ(inspect_disk(runner_, overlay)->backing_file, golden);
  sh("qemu-io -f qcow2 -c 'write -P 0xab 0 4k' " + overlay + " >/dev/null");
  EXPECT_FALSE(same_content(golden, overlay));
  ASSERT_TRUE(reset_linked_clone(runner_, golden, overlay).ok());
  EXPECT_TRUE(same_content(golden, overlay));
  EXPECT_FALSE(fs::exists(overlay + ".new"));
  EXPECT_FALSE(create_linked_clone(runner_, "relative.qcow2", overlay).ok());
}

}  // namespace
}  // namespace oriel::agent
