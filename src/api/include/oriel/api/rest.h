// The REST API of /api/v1 (../shared/docs/API-CONTRACT.md): routes that parse
// requests into controller commands and render controller records as JSON.
#pragma once

#include "oriel/api/http.h"
#include "oriel/controller/controller.h"

namespace oriel::api {

// Registers every /api/v1 route and /healthz on the router. The controller
// must outlive the router.
void add_rest_routes(Router& router, controller::Controller& controller);

// Serves the built web client and portal in `web_dir` at / (index.html,
// desktop.html, their scripts and styles) and the status page at /admin;
// without a web build, / is the status page too.
void add_web_files(Router& router, const std::string& web_dir);

}  // namespace oriel::api
