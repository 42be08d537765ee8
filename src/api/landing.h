// The administrator's status page (see landing.cc).
#pragma once

#include "oriel/api/http.h"

namespace oriel::api {

void add_landing_page(Router& router, std::string_view path);

}  // namespace oriel::api
