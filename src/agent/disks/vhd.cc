// VHD structural validation, after Microsoft's "Virtual Hard Disk Image
// Format Specification" (version 1.0, October 2006): sections "Hard Disk
// Footer Format", "Dynamic Disk Header Format" and "Block Allocation Table
// and Data Blocks". All fields are big-endian.
//
// Why not just qemu: `qemu-img check` does not support vpc; QEMU reads a
// fixed VHD whose footer was cut off as a raw disk, and it accepts a dynamic
// VHD without its end footer. Every offset below comes from the file, so all
// arithmetic is done in 64 bits on values bounded by the file size, and the
// BAT is read in chunks whatever its claimed size.
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include "disk_files.h"
#include "oriel/agent/disks.h"

namespace oriel::agent {
namespace {

constexpr size_t kFooterSize = 512;
constexpr size_t kHeaderSize = 1024;
constexpr uint32_t kUnallocated = 0xFFFFFFFF;
constexpr uint64_t kBatChunkEntries = 16384;  // 64 KiB per read

// Field offsets, from the spec's tables.
constexpr size_t kFooterDataOffset = 16, kFooterCurrentSize = 48, kFooterDiskType = 60, kFooterChecksum = 64;
constexpr size_t kHeaderTableOffset = 16, kHeaderMaxEntries = 28, kHeaderBlockSize = 32, kHeaderChecksum = 36;

uint32_t be32(std::string_view b, size_t at) {
  auto u = [&](size_t i) { return uint32_t{static_cast<unsigned char>(b[at + i])}; };
  return (u(0) << 24) | (u(1) << 16) | (u(2) << 8) | u(3);
}

uint64_t be64(std::string_view b, size_t at) { return (uint64_t{be32(b, at)} << 32) | be32(b, at + 4); }

// "Checksum": the one's complement of the sum of all bytes, the checksum
// field itself counted as zero.
uint32_t vhd_checksum(std::string_view block, size_t field) {
  uint32_t sum = 0;
  for (size_t i = 0; i < block.size(); ++i) {
    if (i < field || i >= field + 4) sum += static_cast<unsigned char>(block[i]);
  }
  return ~sum;
}

bool fits(uint64_t offset, uint64_t length, uint64_t limit) { return offset <= limit && length <= limit - offset; }

Error invalid(std::string message) { return Error::InvalidArgument(std::move(message)); }

// The reader's contract is exact lengths; a reader that breaks it must not
// make us index past a buffer.
Result<std::string> read_exact(const VhdReader& read, uint64_t offset, size_t length) {
  auto bytes = TRY(read(offset, length));
  if (bytes.size() != length) {
    return invalid(fmt::format("short read: {} of {} bytes at offset {}", bytes.size(), length, offset));
  }
  return bytes;
}

struct Region {
  uint64_t offset = 0;
  uint64_t length = 0;
  std::string_view what;
};

// What the BAT check needs to know about the file.
struct DynamicLayout {
  uint64_t file_size = 0;
  uint64_t data_end = 0;  // where the end footer starts, or file_size if it is missing

  uint64_t bitmap_size = 0;  // the sector bitmap in front of each block
  uint32_t block_size = 0;
  std::array<Region, 3> metadata;
};

// "Block Allocation Table and Data Blocks": one bit per sector, padded to a
// 512-byte boundary.
uint64_t bitmap_size(uint32_t block_size) {
  uint64_t bytes = (uint64_t{block_size} / 512 + 7) / 8;
  return (bytes + 511) / 512 * 512;
}

Result<void> check_block(uint64_t index, uint32_t sector, const DynamicLayout& l) {
  uint64_t start = uint64_t{sector} * 512;
  uint64_t end = start + l.bitmap_size + l.block_size;
  if (end > l.file_size) {
    return invalid(fmt::format("VHD is truncated: block {} at offset {} lies beyond the end of the file ({} bytes)",
                               index, start, l.file_size));
  }
  if (end > l.data_end) {
    return invalid(
        fmt::format("VHD is corrupt: block {} at offset {} overlaps the footer at the end of the file", index, start));
  }
  for (const Region& r : l.metadata) {
    if (start < r.offset + r.length && r.offset < end) {
      return invalid(fmt::format("VHD is corrupt: block {} at offset {} overlaps the {}", index, start, r.what));
    }
  }
  return Ok();
}

Result<uint64_t> check_bat(const VhdReader& read, const VhdDynamicHeader& h, const DynamicLayout& l) {
  uint64_t allocated = 0;
  for (uint64_t first = 0; first < h.max_table_entries; first += kBatChunkEntries) {
    uint64_t count = std::min<uint64_t>(kBatChunkEntries, h.max_table_entries - first);
    std::string chunk = TRY(read_exact(read, h.table_offset + first * 4, static_cast<size_t>(count * 4)));
    for (uint64_t k = 0; k < count; ++k) {
      uint32_t sector = be32(chunk, static_cast<size_t>(k * 4));
      if (sector == kUnallocated) continue;
      TRY(check_block(first + k, sector, l));
      ++allocated;
    }
  }
  return allocated;
}

// A dynamic disk ends with the same footer it copies at offset 0.
Result<void> check_end_footer(std::string_view tail, const VhdFooter& first, uint64_t file_size) {
  if (!has_vhd_cookie(tail)) {
    return invalid(fmt::format("VHD is truncated: the footer at the end of the file ({} bytes) is missing", file_size));
  }
  auto end = parse_vhd_footer(tail);
  if (!end.ok()) return end.error().context("the VHD footer at the end of the file");
  if (end->type != first.type || end->current_size != first.current_size) {
    return invalid("VHD is corrupt: its two footer copies (offset 0 and end of file) disagree");
  }
  return Ok();
}

Result<VhdDynamicHeader> read_dynamic_header(const VhdReader& read, const VhdFooter& footer, uint64_t file_size) {
  if (!fits(footer.data_offset, kHeaderSize, file_size)) {
    return invalid(fmt::format("VHD is truncated or corrupt: its dynamic header at offset {} lies beyond the end of "
                               "the file ({} bytes)",
                               footer.data_offset, file_size));
  }
  return parse_vhd_dynamic_header(TRY(read_exact(read, footer.data_offset, kHeaderSize)));
}

Result<VhdSummary> validate_dynamic(const VhdReader& read, uint64_t file_size, const VhdFooter& footer,
                                    std::string_view tail) {
  VhdDynamicHeader h = TRY(read_dynamic_header(read, footer, file_size));
  uint64_t bat_length = uint64_t{h.max_table_entries} * 4;
  if (!fits(h.table_offset, bat_length, file_size)) {
    return invalid(fmt::format(
        "VHD is truncated: its block allocation table ({} entries at offset {}) lies beyond the end of the file "
        "({} bytes)",
        h.max_table_entries, h.table_offset, file_size));
  }
  // Without its end footer the file was cut: a block past the end says where.
  uint64_t data_end = has_vhd_cookie(tail) ? file_size - kFooterSize : file_size;
  DynamicLayout layout{
      file_size,
      data_end,
      bitmap_size(h.block_size),
      h.block_size,
      {Region{0, kFooterSize, "footer copy at offset 0"}, Region{footer.data_offset, kHeaderSize, "dynamic header"},
       Region{h.table_offset, bat_length, "block allocation table"}}};
  uint64_t allocated = TRY(check_bat(read, h, layout));
  TRY(check_end_footer(tail, footer, file_size));
  return VhdSummary{footer.type, footer.current_size, h.block_size, allocated};
}

// A fixed disk is its data followed by the footer: nothing more, nothing less.
Result<VhdSummary> validate_fixed(const VhdFooter& footer, uint64_t file_size) {
  uint64_t data = file_size - kFooterSize;
  if (data < footer.current_size) {
    return invalid(fmt::format(
        "VHD is truncated: a fixed disk of {} bytes needs that much data plus a 512-byte footer, the file has {} "
        "bytes",
        footer.current_size, file_size));
  }
  if (data > footer.current_size) {
    return invalid(fmt::format("VHD is corrupt: its footer says the fixed disk is {} bytes but the file holds {}",
                               footer.current_size, data));
  }
  return VhdSummary{VhdType::kFixed, footer.current_size, 0, 0};
}

Error differencing_error() {
  return invalid("this is a differencing VHD: it needs its parent disk; merge it into the parent and import that");
}

}  // namespace

bool has_vhd_cookie(std::string_view sector) { return sector.starts_with("conectix"); }

Result<VhdFooter> parse_vhd_footer(std::string_view bytes) {
  if (bytes.size() < kFooterSize) return invalid(fmt::format("a VHD footer is 512 bytes, got {}", bytes.size()));
  bytes = bytes.substr(0, kFooterSize);
  if (!has_vhd_cookie(bytes)) return invalid("not a VHD footer: the cookie 'conectix' is missing");
  uint32_t stored = be32(bytes, kFooterChecksum), computed = vhd_checksum(bytes, kFooterChecksum);
  if (stored != computed) {
    return invalid(fmt::format(
        "VHD footer checksum mismatch (stored {:#010x}, computed {:#010x}): the footer is corrupt", stored, computed));
  }
  uint32_t type = be32(bytes, kFooterDiskType);
  if (type < 2 || type > 4) {
    return invalid(fmt::format("VHD disk type {} is not fixed (2), dynamic (3) or differencing (4)", type));
  }
  return VhdFooter{static_cast<VhdType>(type), be64(bytes, kFooterCurrentSize), be64(bytes, kFooterDataOffset)};
}

Result<VhdDynamicHeader> parse_vhd_dynamic_header(std::string_view bytes) {
  if (bytes.size() < kHeaderSize)
    return invalid(fmt::format("a VHD dynamic header is 1024 bytes, got {}", bytes.size()));
  bytes = bytes.substr(0, kHeaderSize);
  if (!bytes.starts_with("cxsparse"))
    return invalid("VHD is corrupt: the dynamic header's cookie 'cxsparse' is missing");
  uint32_t stored = be32(bytes, kHeaderChecksum), computed = vhd_checksum(bytes, kHeaderChecksum);
  if (stored != computed) {
    return invalid(
        fmt::format("VHD dynamic header checksum mismatch (stored {:#010x}, computed {:#010x}): the header is corrupt",
                    stored, computed));
  }
  uint32_t block_size = be32(bytes, kHeaderBlockSize);
  if (block_size < 512 || (block_size & (block_size - 1)) != 0) {
    return invalid(fmt::format("VHD is corrupt: block size {} is not a power of two of at least 512", block_size));
  }
  return VhdDynamicHeader{be64(bytes, kHeaderTableOffset), be32(bytes, kHeaderMaxEntries), block_size};
}

Result<VhdSummary> validate_vhd(const VhdReader& read, uint64_t file_size) {
  if (file_size < kFooterSize) {
    return invalid(fmt::format("not a VHD: the file ({} bytes) is smaller than a VHD footer (512 bytes)", file_size));
  }
  std::string head = TRY(read_exact(read, 0, kFooterSize));
  std::string tail = TRY(read_exact(read, file_size - kFooterSize, kFooterSize));
  if (has_vhd_cookie(head)) {
    auto first = parse_vhd_footer(head);
    if (first.ok() && first->type == VhdType::kDifferencing) return differencing_error();
    if (first.ok() && first->type == VhdType::kDynamic) return validate_dynamic(read, file_size, *first, tail);
    if (!first.ok() && !has_vhd_cookie(tail)) return first.error().context("the VHD footer copy at offset 0");
  }
  if (!has_vhd_cookie(tail)) {
    return invalid(fmt::format(
        "not a VHD: no footer ('conectix') at the start or the end of the file ({} bytes); a fixed VHD whose end "
        "was cut off (truncated) looks like this",
        file_size));
  }
  auto footer = parse_vhd_footer(tail);
  if (!footer.ok()) return footer.error().context("the VHD footer at the end of the file");
  if (footer->type == VhdType::kDifferencing) return differencing_error();
  if (footer->type == VhdType::kDynamic) {
    return invalid("VHD is corrupt: the dynamic disk's footer copy at offset 0 is missing or damaged");
  }
  return validate_fixed(*footer, file_size);
}

Result<VhdSummary> validate_vhd_file(const std::string& path) {
  auto fd = TRY(disk_files::open_for_reading(path));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return invalid(fmt::format("cannot stat '{}': {}", path, disk_files::errno_text(errno)));
  }
  VhdReader reader = [&fd](uint64_t offset, size_t length) { return disk_files::read_at(fd.get(), offset, length); };
  auto summary = validate_vhd(reader, static_cast<uint64_t>(st.st_size));
  if (!summary.ok()) return summary.error().context(fmt::format("'{}'", path));
  return summary;
}

}  // namespace oriel::agent
