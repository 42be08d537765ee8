// Controller records → the JSON the API contract promises.
#pragma once

#include "oriel/common/json.h"
#include "oriel/controller/controller.h"

namespace oriel::api {

Json image_json(const store::ImageRecord& image);
Json desktop_json(const store::DesktopRecord& desktop);
Json host_json(const controller::HostView& view);

}  // namespace oriel::api
