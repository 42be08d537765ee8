// The administrator's status page (see landing.cc).
#pragma once

#include "http_types.h"

namespace oriel::api {

void add_landing_page(Router& router, std::string_view path);

}  // namespace oriel::api
