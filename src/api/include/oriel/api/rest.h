// The REST API of /api/v1 (../shared/docs/API-CONTRACT.md): routes that parse
// requests into controller commands and render controller records as JSON.
#pragma once

#include "oriel/api/http.h"
#include "oriel/controller/controller.h"

namespace oriel::api {

// Registers every /api/v1 route and /healthz on the router. The controller
// must outlive the router.
void add_rest_routes(Router& router, controller::Controller& controller);

}  // namespace oriel::api
