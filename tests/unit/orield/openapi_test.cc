// docs/openapi.json against the routers orield really builds (routes.h):
// every route is documented, every documented route exists, WebSockets are
// marked as such, every {param} is declared, and GET /api/v1/openapi.json
// serves the document as it is in the tree. A route added without its
// documentation, or documentation of a route that went, fails here.
#include "routes.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "oriel/agent/host.h"
#include "oriel/common/process.h"
#include "oriel/common/random.h"

namespace oriel {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// (METHOD, path) pairs.
using Routes = std::set<std::pair<std::string, std::string>>;

class OpenApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("oriel-openapi-{}", ::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "run");
    fs::create_directories(dir_ / "web");
    // With a web build, the web client's own routes exist too.
    std::ofstream(dir_ / "web" / "index.html") << "<!doctype html>";
    store_ = store::open_sqlite_store((dir_ / "oriel.db").string()).value();
    agent_ = std::make_unique<agent::Host>(
        runner_, agent::LocalAgentOptions{
                     "host-1", (dir_ / "run").string(), (dir_ / "disks").string(), {agent::Accelerator::kTcg, "test"}});
    controller::ControllerOptions options;
    options.data_dir = dir_.string();
    controller_ = std::make_unique<controller::Controller>(*store_, agent_->agent(), clock_, random_, options);
    gateway_ = std::make_unique<display::Gateway>(display::GatewayHooks{}, 1);
    console_ = add_controller_routes(controller_router_, *controller_, *gateway_, (dir_ / "web").string(),
                                     (dir_ / "uploads").string(), "", "");
    add_agent_role_routes(agent_router_, *agent_, "token", "test");
    document_ = read_file(fs::path(ORIEL_SOURCE_DIR) / "docs" / "openapi.json");
    auto parsed = parse_json(document_);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    spec_ = std::move(*parsed);
  }
  void TearDown() override {
    console_.reset();
    gateway_.reset();
    controller_.reset();
    agent_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  // Every route of both routers; WebSockets count as GET.
  Routes served(bool websockets_only = false) const {
    Routes out;
    for (const net::Router* r : {&controller_router_, &agent_router_}) {
      for (const auto& route : r->routes()) {
        if (!websockets_only || route.websocket) out.emplace(route.method, route.pattern);
      }
    }
    return out;
  }
  Routes documented(bool websockets_only = false) const {
    Routes out;
    for (const auto& [path, item] : spec_["paths"].items()) {
      for (const auto& [method, op] : item.items()) {
        if (method == "parameters" || !op.is_object()) continue;
        if (websockets_only && !op.value("x-websocket", false)) continue;
        std::string upper = method;
        for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        out.emplace(upper, path);
      }
    }
    return out;
  }

  // A "#/components/..." reference within the document.
  const Json& resolve(const std::string& ref) const {
    const Json* at = &spec_;
    std::string rest = ref.substr(2);  // after "#/"
    for (size_t slash; (slash = rest.find('/')) != std::string::npos; rest = rest.substr(slash + 1)) {
      at = &(*at)[rest.substr(0, slash)];
    }
    return (*at)[rest];
  }

  fs::path dir_;
  SystemProcessRunner runner_;
  SystemClock clock_;
  SecureRandom random_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<agent::Host> agent_;
  std::unique_ptr<controller::Controller> controller_;
  std::unique_ptr<display::Gateway> gateway_;
  std::unique_ptr<api::ConsoleBackend> console_;
  net::Router controller_router_, agent_router_;
  std::string document_;
  Json spec_;
};

std::string listing(const Routes& routes) {
  std::string out;
  for (const auto& [method, path] : routes) out.append("\n  ").append(method).append(" ").append(path);
  return out;
}

TEST_F(OpenApiTest, EveryRouteIsDocumentedAndEveryDocumentedRouteIsServed) {
  Routes routes = served(), docs = documented();
  ASSERT_GT(routes.size(), 50u);
  Routes undocumented, gone;
  std::set_difference(routes.begin(), routes.end(), docs.begin(), docs.end(),
                      std::inserter(undocumented, undocumented.end()));
  std::set_difference(docs.begin(), docs.end(), routes.begin(), routes.end(), std::inserter(gone, gone.end()));
  EXPECT_TRUE(undocumented.empty()) << "served but not in docs/openapi.json:" << listing(undocumented);
  EXPECT_TRUE(gone.empty()) << "in docs/openapi.json but not served:" << listing(gone);
}

TEST_F(OpenApiTest, WebSocketsAreMarkedAsSuch) {
  EXPECT_EQ(documented(true), served(true))
      << "x-websocket marks" << listing(documented(true)) << "\nWebSocket routes" << listing(served(true));
}

TEST_F(OpenApiTest, EveryPathParameterIsDeclared) {
  for (const auto& [path, item] : spec_["paths"].items()) {
    std::set<std::string> in_path;
    for (size_t at = path.find('{'); at != std::string::npos; at = path.find('{', at + 1)) {
      in_path.insert(path.substr(at + 1, path.find('}', at) - at - 1));
    }
    for (const auto& [method, op] : item.items()) {
      if (!op.is_object() || method == "parameters") continue;
      std::set<std::string> declared;
      for (const Json* params : {&item, &op}) {
        if (!params->contains("parameters")) continue;
        for (const auto& p : (*params)["parameters"]) {
          const Json& param = p.contains("$ref") ? resolve(p["$ref"]) : p;
          if (param.value("in", "") == "path") declared.insert(param.value("name", ""));
        }
      }
      EXPECT_EQ(declared, in_path) << method << " " << path;
    }
  }
}

TEST_F(OpenApiTest, OrieldServesTheDocumentAsItIsInTheTree) {
  net::Request request;
  request.method = "GET";
  request.path = "/api/v1/openapi.json";
  auto response = controller_router_.dispatch(request);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(response.body, document_) << "rebuild: the compiled-in document is stale";
  EXPECT_EQ(spec_["openapi"], "3.0.3");
}

}  // namespace
}  // namespace oriel
