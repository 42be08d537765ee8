// VHD structure (Microsoft "Virtual Hard Disk Image Format Specification"):
// a 512-byte footer at the end of every VHD (copied at offset 0 for dynamic
// and differencing disks), a 1024-byte dynamic header, and a Block
// Allocation Table of big-endian sector offsets. All fields big-endian.
#include <fstream>
#include <vector>

#include "oriel/agent/disks.h"

namespace oriel::agent {
namespace {

constexpr uint32_t kFixed = 2, kDynamic = 3, kDifferencing = 4;
constexpr uint32_t kUnallocated = 0xFFFFFFFF;

uint32_t be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint64_t be64(const unsigned char* p) { return (uint64_t{be32(p)} << 32) | be32(p + 4); }

// One's complement of the byte sum, with the checksum field counted as zero.
uint32_t checksum(const std::vector<unsigned char>& block, size_t field) {
  uint32_t sum = 0;
  for (size_t i = 0; i < block.size(); ++i) {
    if (i < field || i >= field + 4) sum += block[i];
  }
  return ~sum;
}

Result<std::vector<unsigned char>> read_at(std::ifstream& in, uint64_t offset, size_t len) {
  std::vector<unsigned char> buf(len);
  in.clear();
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(len));
  if (static_cast<size_t>(in.gcount()) != len) {
    return Error::InvalidArgument(fmt::format("VHD is truncated: cannot read {} bytes at offset {}", len, offset));
  }
  return buf;
}

Result<void> check_footer(const std::vector<unsigned char>& f, std::string_view where) {
  if (std::string_view(reinterpret_cast<const char*>(f.data()), 8) != "conectix") {
    return Error::InvalidArgument(fmt::format("not a VHD: no 'conectix' footer {}", where));
  }
  if (be32(&f[64]) != checksum(f, 64)) {
    return Error::InvalidArgument(fmt::format("VHD footer {} has a bad checksum (corrupt)", where));
  }
  return Ok();
}

Result<void> check_bat(std::ifstream& in, uint64_t file_size, const std::vector<unsigned char>& header) {
  uint64_t table = be64(&header[16]);
  uint32_t entries = be32(&header[28]);
  uint32_t block_size = be32(&header[32]);
  if (block_size == 0 || block_size % 512 != 0) {
    return Error::InvalidArgument(fmt::format("VHD block size {} is invalid", block_size));
  }
  if (table + uint64_t{entries} * 4 > file_size) {
    return Error::InvalidArgument(fmt::format(
        "VHD is truncated: its block table ({} entries at offset {}) lies beyond the end of the file ({} bytes)",
        entries, table, file_size));
  }
  auto bat = TRY(read_at(in, table, size_t{entries} * 4));
  uint64_t bitmap = ((uint64_t{block_size} / 512 / 8) + 511) / 512 * 512;
  for (uint32_t i = 0; i < entries; ++i) {
    uint32_t sector = be32(&bat[size_t{i} * 4]);
    if (sector == kUnallocated) continue;
    uint64_t end = uint64_t{sector} * 512 + bitmap + block_size;
    if (end > file_size - 512) {
      return Error::InvalidArgument(
          fmt::format("VHD is truncated: block {} at offset {} lies beyond the end of the file ({} bytes)", i,
                      uint64_t{sector} * 512, file_size));
    }
  }
  return Ok();
}

}  // namespace

Result<void> validate_vhd(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return Error::InvalidArgument(fmt::format("cannot open {}", path));
  uint64_t size = static_cast<uint64_t>(in.tellg());
  if (size < 512) return Error::InvalidArgument(fmt::format("not a VHD: {} bytes is smaller than a footer", size));
  auto first = TRY(read_at(in, 0, 512));
  bool has_copy = std::string_view(reinterpret_cast<const char*>(first.data()), 8) == "conectix";
  auto footer = has_copy ? first : TRY(read_at(in, size - 512, 512));
  TRY(check_footer(footer, has_copy ? "at the start" : "at the end"));
  uint32_t type = be32(&footer[60]);
  uint64_t current = be64(&footer[48]);
  if (type == kDifferencing) {
    return Error::InvalidArgument("differencing VHDs need their parent: import the merged disk instead");
  }
  if (type == kFixed) {
    if (size < current + 512) {
      return Error::InvalidArgument(fmt::format("VHD is truncated: a fixed disk of {} bytes needs {} bytes, file has {}",
                                                current, current + 512, size));
    }
    return Ok();
  }
  if (type != kDynamic) return Error::InvalidArgument(fmt::format("VHD disk type {} is unknown", type));
  auto end_copy = TRY(read_at(in, size - 512, 512));
  if (end_copy != footer) {
    return Error::InvalidArgument(fmt::format("VHD is truncated: no footer at the end of the file ({} bytes)", size));
  }
  uint64_t header_at = be64(&footer[16]);
  if (header_at + 1024 > size) return Error::InvalidArgument("VHD is truncated: dynamic header beyond the end");
  auto header = TRY(read_at(in, header_at, 1024));
  if (std::string_view(reinterpret_cast<const char*>(header.data()), 8) != "cxsparse") {
    return Error::InvalidArgument("VHD dynamic header is missing (no 'cxsparse')");
  }
  if (be32(&header[36]) != checksum(header, 36)) {
    return Error::InvalidArgument("VHD dynamic header has a bad checksum (corrupt)");
  }
  return check_bat(in, size, header);
}

}  // namespace oriel::agent
