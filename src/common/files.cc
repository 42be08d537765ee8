#include "oriel/common/files.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace oriel {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Result<void> write_private_file(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    ::chmod(tmp.c_str(), 0600);
    out << text;
    if (!out.flush()) return Error::Unavailable(fmt::format("cannot write {}", tmp));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Error::Unavailable(fmt::format("cannot write {}: {}", path, ec.message()));
  return Ok();
}

std::string resolved_path(const std::string& path) {
  std::error_code ec;
  auto real = std::filesystem::weakly_canonical(std::filesystem::absolute(path, ec), ec);
  return ec ? std::string() : real.string();
}

bool path_within(const std::string& dir, const std::string& path) {
  std::string d = resolved_path(dir), p = resolved_path(path);
  if (d.empty() || p.empty() || p.compare(0, d.size(), d) != 0) return false;
  return p.size() == d.size() || d.back() == '/' || p[d.size()] == '/';
}

}  // namespace oriel
