// Helpers shared by the REST route files (internal to src/api).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "http_types.h"
#include "oriel/controller/controller.h"

namespace oriel::api {

using AuthedHandler = std::function<Result<Response>(const controller::Principal&, const Request&)>;

// A handler for a logged-in caller.
Handler authed(controller::Controller& c, AuthedHandler fn);

// A handler for a logged-in caller that changes something: every call, its
// refusals included, is appended to the audit log as `action` with the
// caller, the client's address, the target (the {id} of the path, else the id
// of the object answered) and the result.
Handler audited(controller::Controller& c, std::string action, AuthedHandler fn);

// Records one audit event for a request answered with `response`.
void record_audit(controller::Controller& c, std::string_view action, const Request& req,
                  const controller::Principal* who, const Response& response, std::string_view target = {});

template <typename T, typename F>
Json json_list(const std::vector<T>& items, F render) {
  Json out = Json::array();
  for (const auto& item : items) out.push_back(render(item));
  return out;
}

void add_broker_routes(Router& router, controller::Controller& c);

}  // namespace oriel::api
