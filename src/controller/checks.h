// Input checks shared by the controller's commands (internal).
#pragma once

#include <string>
#include <string_view>

#include "oriel/common/result.h"

namespace oriel::controller {

// An object's display name: 1 to 200 bytes, no NUL; anything else is kept verbatim.
Result<void> check_name(std::string_view what, const std::string& name);

// The id of the host named `host_name`: the same on every controller and
// across restarts, so a host's desktops stay its own.
std::string host_id_for(std::string_view host_name);

}  // namespace oriel::controller
