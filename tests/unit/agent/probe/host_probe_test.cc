// The accelerator probe: KVM only when a guest kernel really boots under it.
// The real runner is wrapped so that the KVM attempt hangs or aborts, as it
// does on nested or paravirtual KVM.
#include "oriel/agent/host_probe.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace oriel::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Replaces the KVM boot with `replacement`; everything else runs for real.
class BrokenKvmRunner final : public ProcessRunner {
 public:
  explicit BrokenKvmRunner(std::vector<std::string> replacement) : replacement_(std::move(replacement)) {}
  Result<ProcessResult> run(const std::vector<std::string>& argv, const ProcessOptions& options) override {
    bool kvm = std::find(argv.begin(), argv.end(), "kvm") != argv.end();
    if (kvm) ++kvm_attempts;
    return real_.run(kvm ? replacement_ : argv, options);
  }
  int kvm_attempts = 0;

 private:
  std::vector<std::string> replacement_;
  SystemProcessRunner real_;
};

class HostProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/dev/kvm", R_OK | W_OK) != 0) GTEST_SKIP() << "no /dev/kvm: the probe answers tcg at once";
    cache_ = fs::temp_directory_path() / ("oriel-probe-" + std::to_string(::getpid()));
    fs::remove(cache_);
    kernel_ = std::string(ORIEL_BINARY_DIR) + "/images/test-guest/vmlinuz";
  }
  void TearDown() override { fs::remove(cache_); }
  fs::path cache_;
  std::string kernel_;
};

TEST_F(HostProbeTest, AHangingKvmGuestFallsBackToTcgWithinTheTimeout) {
  BrokenKvmRunner runner({"sleep", "30"});
  auto t = std::chrono::steady_clock::now();
  auto r = probe_accelerator(runner, {kernel_, "", 500ms});
  EXPECT_LT(std::chrono::steady_clock::now() - t, 5s);
  EXPECT_EQ(r.accelerator, Accelerator::kTcg);
  EXPECT_NE(r.reason.find("did not finish booting"), std::string::npos) << r.reason;
}

TEST_F(HostProbeTest, AnAbortingQemuFallsBackToTcgAndSaysWhy) {
  BrokenKvmRunner runner({"sh", "-c", "echo 'kvm run failed: Function not implemented' >&2; exit 1"});
  auto r = probe_accelerator(runner, {kernel_, "", 5s});
  EXPECT_EQ(r.accelerator, Accelerator::kTcg);
  EXPECT_NE(r.reason.find("Function not implemented"), std::string::npos) << r.reason;
}

TEST_F(HostProbeTest, AGuestThatReachesItsKernelPanicMeansKvmWorks) {
  // Stands in for a working KVM: the same kernel booted under TCG reaches
  // the panic line the probe looks for.
  BrokenKvmRunner runner({"qemu-system-x86_64", "-accel", "tcg", "-machine", "q35", "-m", "256", "-nodefaults",
                          "-display", "none", "-serial", "stdio", "-no-reboot", "-kernel", kernel_, "-append",
                          "console=ttyS0 panic=-1 root=/dev/oriel-probe-none"});
  auto r = probe_accelerator(runner, {kernel_, cache_.string(), 30s});
  EXPECT_EQ(r.accelerator, Accelerator::kKvm) << r.reason;
  EXPECT_EQ(runner.kvm_attempts, 1);

  // The verdict is cached: a second probe does not boot anything.
  BrokenKvmRunner never({"false"});
  auto cached = probe_accelerator(never, {kernel_, cache_.string(), 30s});
  EXPECT_EQ(cached.accelerator, Accelerator::kKvm);
  EXPECT_EQ(never.kvm_attempts, 0);
  EXPECT_NE(cached.reason.find("cached"), std::string::npos);
}

TEST_F(HostProbeTest, WithoutAKernelTheProbeSaysSo) {
  BrokenKvmRunner runner({"false"});
  auto r = probe_accelerator(runner, {"/nonexistent/vmlinuz", "", 1s});
  // Falls back to the other kernels it knows; if none exists it says so.
  if (find_probe_kernel("/nonexistent/vmlinuz").empty()) {
    EXPECT_NE(r.reason.find("no guest kernel"), std::string::npos);
  }
  EXPECT_EQ(r.accelerator, Accelerator::kTcg);
}

}  // namespace
}  // namespace oriel::agent
