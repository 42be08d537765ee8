// The status page served at "/" (see landing.cc).
#pragma once

#include "oriel/api/http.h"

namespace oriel::api {

void add_landing_page(Router& router);

}  // namespace oriel::api
