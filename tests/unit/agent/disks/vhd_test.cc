// The disk layer's pure parts, without qemu-img: VHD structure (on VHDs
// built in memory, including random damage), progress lines, the raw-disk
// plausibility check and qemu-img info's JSON.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "oriel/agent/disks.h"

namespace oriel::agent {
namespace {

void put_be32(std::string& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<char>(v >> (24 - 8 * i));
}
void put_be64(std::string& b, size_t at, uint64_t v) {
  put_be32(b, at, static_cast<uint32_t>(v >> 32));
  put_be32(b, at + 4, static_cast<uint32_t>(v));
}
void seal_checksum(std::string& b, size_t at) {
  put_be32(b, at, 0);
  uint32_t sum = 0;
  for (char c : b) sum += static_cast<unsigned char>(c);
  put_be32(b, at, ~sum);
}

std::string footer(VhdType type, uint64_t size, uint64_t data_offset) {
  std::string f(512, '\0');
  std::memcpy(f.data(), "conectix", 8);
  put_be32(f, 12, 0x00010000);
  put_be64(f, 16, data_offset);
  put_be64(f, 40, size);
  put_be64(f, 48, size);
  put_be32(f, 60, static_cast<uint32_t>(type));
  seal_checksum(f, 64);
  return f;
}

constexpr uint32_t kBlock = 4096;                // small blocks keep the test VHDs tiny
constexpr uint64_t kBlockStride = 512 + kBlock;  // sector bitmap + data
constexpr uint64_t kFirstBlock = 1536 + 512;     // footer copy, header, one BAT sector

// A dynamic VHD of `entries` blocks with the listed ones allocated, laid out
// as Microsoft's tools and qemu do: footer copy, header, BAT, blocks, footer.
std::string dynamic_vhd(uint32_t entries, const std::vector<uint32_t>& allocated) {
  std::string header(1024, '\0');
  std::memcpy(header.data(), "cxsparse", 8);
  put_be64(header, 8, ~uint64_t{0});
  put_be64(header, 16, 1536);
  put_be32(header, 24, 0x00010000);
  put_be32(header, 28, entries);
  put_be32(header, 32, kBlock);
  seal_checksum(header, 36);
  std::string bat(512, '\xff');
  std::string blocks;
  for (size_t i = 0; i < allocated.size(); ++i) {
    put_be32(bat, allocated[i] * 4, static_cast<uint32_t>((kFirstBlock + i * kBlockStride) / 512));
    blocks += std::string(512, '\xff') + std::string(kBlock, static_cast<char>('a' + i));
  }
  std::string f = footer(VhdType::kDynamic, uint64_t{entries} * kBlock, 512);
  return f + header + bat + blocks + f;
}

std::string fixed_vhd(uint64_t size) { return std::string(size, 'x') + footer(VhdType::kFixed, size, ~uint64_t{0}); }

Result<VhdSummary> validate(const std::string& bytes) {
  VhdReader read = [&](uint64_t offset, size_t length) -> Result<std::string> {
    if (offset > bytes.size() || length > bytes.size() - offset) return Error::InvalidArgument("read past the end");
    return bytes.substr(offset, length);
  };
  return validate_vhd(read, bytes.size());
}

std::string error_of(const Result<VhdSummary>& r) { return r.ok() ? "(ok)" : r.error().message(); }

TEST(VhdTest, WellFormedDynamicAndFixedDisksPass) {
  auto dynamic = validate(dynamic_vhd(8, {0, 3, 7}));
  ASSERT_TRUE(dynamic.ok()) << error_of(dynamic);
  EXPECT_EQ(dynamic->type, VhdType::kDynamic);
  EXPECT_EQ(dynamic->current_size, 8 * kBlock);
  EXPECT_EQ(dynamic->allocated_blocks, 3u);
  auto fixed = validate(fixed_vhd(64 * 1024));
  ASSERT_TRUE(fixed.ok()) << error_of(fixed);
  EXPECT_EQ(fixed->type, VhdType::kFixed);
}

TEST(VhdTest, TruncatedDynamicDiskNamesTheFirstBlockBeyondTheEnd) {
  std::string vhd = dynamic_vhd(8, {0, 3, 7});
  vhd.resize(kFirstBlock + kBlockStride + 100);  // block 3 (the second allocated) is cut
  EXPECT_EQ(error_of(validate(vhd)),
            fmt::format("VHD is truncated: block 3 at offset {} lies beyond the end of the file ({} bytes)",
                        kFirstBlock + kBlockStride, vhd.size()));
}

TEST(VhdTest, DynamicDiskWithoutItsEndFooterIsTruncated) {
  std::string vhd = dynamic_vhd(8, {0});
  vhd.resize(vhd.size() - 512);
  vhd += std::string(512, '\0');  // the blocks fit, the footer is gone
  EXPECT_NE(error_of(validate(vhd)).find("VHD is truncated: the footer at the end"), std::string::npos);
}

TEST(VhdTest, BlockTableBeyondTheEndIsTruncatedWithoutAllocatingIt) {
  std::string vhd = dynamic_vhd(8, {0});
  std::string header = vhd.substr(512, 1024);
  put_be32(header, 28, 0xFFFFFFFF);  // 16 GiB of BAT claimed
  seal_checksum(header, 36);
  vhd.replace(512, 1024, header);
  EXPECT_NE(error_of(validate(vhd)).find("its block allocation table (4294967295 entries"), std::string::npos)
      << error_of(validate(vhd));
}

TEST(VhdTest, DamagedStructuresAreCorrupt) {
  std::string bad_sum = dynamic_vhd(8, {0});
  bad_sum[512 + 40] ^= 1;  // inside the dynamic header, checksum not updated
  EXPECT_NE(error_of(validate(bad_sum)).find("dynamic header checksum mismatch"), std::string::npos);

  std::string overlap = dynamic_vhd(8, {0});
  put_be32(overlap, 1536, 1);  // block 0 at sector 1: on top of the dynamic header
  EXPECT_NE(error_of(validate(overlap)).find("block 0 at offset 512 overlaps the dynamic header"), std::string::npos);

  std::string bad_type = footer(VhdType::kFixed, 4096, ~uint64_t{0});
  put_be32(bad_type, 60, 7);
  seal_checksum(bad_type, 64);
  EXPECT_NE(error_of(validate(std::string(4096, 'x') + bad_type)).find("disk type 7"), std::string::npos);
}

TEST(VhdTest, DifferencingDisksAreRejected) {
  std::string vhd = dynamic_vhd(8, {0});
  std::string f = footer(VhdType::kDifferencing, 8 * kBlock, 512);
  vhd.replace(0, 512, f).replace(vhd.size() - 512, 512, f);
  EXPECT_NE(error_of(validate(vhd)).find("differencing VHD"), std::string::npos);
}

TEST(VhdTest, FixedDiskMissingDataOrFooterIsTruncated) {
  std::string vhd = fixed_vhd(64 * 1024);
  std::string short_data = vhd.substr(0, 32 * 1024) + vhd.substr(vhd.size() - 512);
  EXPECT_NE(error_of(validate(short_data)).find("VHD is truncated: a fixed disk of 65536 bytes"), std::string::npos);
  std::string cut = vhd.substr(0, vhd.size() / 2);
  EXPECT_NE(error_of(validate(cut)).find("truncated"), std::string::npos) << error_of(validate(cut));
  EXPECT_NE(error_of(validate("tiny")).find("smaller than a VHD footer"), std::string::npos);
}

// Image files are untrusted: random damage (with checksums recomputed, so it
// gets past them) must give an answer, never a crash or a sanitizer report.
TEST(VhdTest, RandomDamageNeverCrashes) {
  std::mt19937 rng(20240611);
  const std::string good = dynamic_vhd(8, {0, 2, 5});
  int rejected = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string vhd = good;
    for (int k = rng() % 6 + 1; k > 0; --k) vhd[rng() % 2048] = static_cast<char>(rng());
    if (round % 3 == 0) vhd.resize(rng() % (vhd.size() + 1));
    if (vhd.size() >= 1536 && round % 2 == 0) {
      std::string f = vhd.substr(0, 512), h = vhd.substr(512, 1024);
      seal_checksum(f, 64);
      seal_checksum(h, 36);
      vhd.replace(0, 512, f).replace(512, 1024, h);
    }
    rejected += validate(vhd).ok() ? 0 : 1;
  }
  EXPECT_GT(rejected, 2000);
}

TEST(QemuImgProgressTest, ParsesQemuImgProgressLines) {
  EXPECT_EQ(parse_progress_line("    (45.12/100%)").value(), 45.12);
  EXPECT_EQ(parse_progress_line("    (0.00/100%)").value(), 0);
  EXPECT_EQ(parse_progress_line("(100.00/100%)").value(), 100);
  for (std::string_view bad : {"", "garbage", "(/100%)", "(nan/100%)", "(inf/100%)", "(-1.00/100%)", "(100.01/100%)",
                               "(12.5x/100%)", "(12.5/100", "(1e2/100%)", "(45.12/50%)"}) {
    EXPECT_FALSE(parse_progress_line(bad).has_value()) << bad;
  }
}

TEST(RawPlausibilityTest, TextAndOddSizesAreNotDisks) {
  EXPECT_TRUE(looks_like_text("hello, world\n\tindented\r\n"));
  EXPECT_TRUE(looks_like_text("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));  // é € 😀
  EXPECT_TRUE(looks_like_text("cut at the end: \xe2\x82"));
  EXPECT_FALSE(looks_like_text(std::string_view("MBR\0\0\0", 6)));
  EXPECT_FALSE(looks_like_text("\xff\xfe not UTF-8"));
  EXPECT_FALSE(looks_like_text("\xc0\xaf overlong"));
  EXPECT_FALSE(looks_like_text("\x01\x02 control"));
  EXPECT_FALSE(looks_like_text(""));

  std::string sector(512, '\0');
  EXPECT_TRUE(check_plausible_raw("/d.img", 1 << 20, sector).ok());
  EXPECT_NE(check_plausible_raw("/d.img", 0, "").error().message().find("empty"), std::string::npos);
  EXPECT_NE(check_plausible_raw("/d.img", 1000, sector).error().message().find("512-byte sectors"), std::string::npos);
  EXPECT_NE(check_plausible_raw("/d.img", 1024, "#!/bin/sh\n").error().message().find("plain text"), std::string::npos);
}

TEST(DiskInfoTest, ParsesQemuImgInfoJson) {
  auto info = parse_disk_info(R"({"virtual-size": 8388608, "filename": "o.qcow2", "cluster-size": 65536,
      "format": "qcow2", "actual-size": 200704, "backing-filename": "/g/disk.qcow2",
      "backing-filename-format": "qcow2", "dirty-flag": true,
      "format-specific": {"type": "qcow2", "data": {"compat": "1.1", "corrupt": true}}})");
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->format, "qcow2");
  EXPECT_EQ(info->virtual_size, 8388608u);
  EXPECT_EQ(info->actual_size, 200704u);
  EXPECT_EQ(info->cluster_size, 65536u);
  EXPECT_EQ(info->backing_file, "/g/disk.qcow2");
  EXPECT_EQ(info->backing_format, "qcow2");
  EXPECT_TRUE(info->dirty);
  EXPECT_TRUE(info->corrupt);
  EXPECT_FALSE(info->encrypted);

  EXPECT_FALSE(parse_disk_info("qemu-img: oops").ok());
  EXPECT_FALSE(parse_disk_info("[]").ok());
  EXPECT_FALSE(parse_disk_info(R"({"format": "raw", "virtual-size": "big"})").ok());
  EXPECT_FALSE(parse_disk_info(R"({"format": "raw", "virtual-size": -1})").ok());
  EXPECT_FALSE(
      parse_disk_info(R"({"format": "raw", "virtual-size": 1, "format-specific": {"data": {"corrupt": 1}}})").ok());
}

}  // namespace
}  // namespace oriel::agent
