// The transport's types by the short names the route files use (internal to
// src/api).
#pragma once

#include "oriel/net/http.h"

namespace oriel::api {

using net::Handler;
using net::http_error;
using net::Request;
using net::Response;
using net::Router;
using net::WebSocket;

}  // namespace oriel::api
