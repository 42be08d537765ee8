// Who makes a request, once their token is checked: every part of the
// controller decides what they may see and do from this alone.
#pragma once

#include <string>

namespace oriel::controller {

struct Principal {
  std::string user_id;
  std::string username;
  std::string role;  // admin | tenant-admin | user
  std::string tenant_id;
  bool admin() const { return role == "admin"; }
  bool tenant_admin() const { return role == "tenant-admin"; }
};

}  // namespace oriel::controller
