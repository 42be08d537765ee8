// The built web client (web/, built into --web-dir): the portal at the site
// root and the admin console at /admin. Files are read per request (they are
// small and rebuilt during development); only plain names in the directory
// and its assets/ folder are served, never a path outside it.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "landing.h"
#include "oriel/api/rest.h"

namespace oriel::api {
namespace {

namespace fs = std::filesystem;

std::string_view content_type(const fs::path& file) {
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".map", "application/json"},
      {".png", "image/png"},
      {".svg", "image/svg+xml"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".json", "application/json"},
  };
  std::string ext = file.extension().string();
  for (const auto& [e, type] : kTypes) {
    if (e == ext) return type;
  }
  return "application/octet-stream";
}

Response serve(const fs::path& dir, const std::string& name) {
  bool plain = !name.empty() && name[0] != '.' && name.find_first_of("/\\") == std::string::npos;
  fs::path file = dir / name;
  std::error_code ec;
  if (!plain || !fs::is_regular_file(file, ec)) return Response::error(Error::NotFound("file", name));
  std::ifstream in(file, std::ios::binary);
  std::ostringstream body;
  body << in.rdbuf();
  return Response::bytes(200, std::string(content_type(file)), body.str());
}

}  // namespace

void add_web_files(Router& router, const std::string& web_dir) {
  std::error_code ec;
  if (web_dir.empty() || !fs::is_regular_file(fs::path(web_dir) / "index.html", ec)) {
    // No web build: the status page is all there is.
    add_landing_page(router, "/");
    add_landing_page(router, "/admin");
    return;
  }
  fs::path dir(web_dir);
  if (fs::is_regular_file(dir / "console.html", ec)) {
    router.add("GET", "/admin", [dir](const Request&) { return serve(dir, "console.html"); });
  } else {
    add_landing_page(router, "/admin");  // a web build from before the console
  }
  router.add("GET", "/", [dir](const Request&) { return serve(dir, "index.html"); });
  router.add("GET", "/{file}", [dir](const Request& r) { return serve(dir, r.params.at("file")); });
  router.add("GET", "/assets/{file}", [dir](const Request& r) { return serve(dir / "assets", r.params.at("file")); });
}

}  // namespace oriel::api
