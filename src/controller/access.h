// Who may see what (internal). One rule throughout: an object outside the
// caller's reach is NotFound, exactly as if it did not exist, so that ids of
// another tenant leak nothing; PermissionDenied is only for what a role may
// never do. Each check reads the one store it needs.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "oriel/common/result.h"
#include "oriel/controller/principal.h"
#include "oriel/store/store.h"

namespace oriel::controller {

Result<void> require_admin(const Principal& who);
Result<store::TenantRecord> visible_tenant(store::TenantStore& tenants, const Principal& who, std::string_view id);
Result<store::UserRecord> visible_user(store::UserStore& users, const Principal& who, std::string_view id);
Result<store::PoolRecord> visible_pool(store::PoolStore& pools, const Principal& who, std::string_view id);
// Visible and the caller's to manage (an admin, or the tenant's admin).
Result<store::PoolRecord> managed_pool(store::PoolStore& pools, const Principal& who, std::string_view id);
Result<store::SessionRecord> visible_session(store::SessionStore& sessions, const Principal& who, std::string_view id);
Result<store::DesktopRecord> visible_desktop(store::DesktopStore& desktops, const Principal& who, std::string_view id);
// Whether `who` sees desktop `d`: admins, its tenant's admins, its user.
bool sees(const Principal& who, const store::DesktopRecord& d);
// Whether the tenant's pools may use `image`: its own, or a shared one of the platform's.
bool image_serves(const store::ImageRecord& image, std::string_view tenant_id);

// Users' names by id, each looked up once: for the lists and reports that
// show who. A user deleted since has an empty name.
class Usernames {
 public:
  explicit Usernames(store::UserStore& users) : users_(users) {}
  const std::string& of(const std::string& user_id);

 private:
  store::UserStore& users_;
  std::map<std::string, std::string> known_;
};

}  // namespace oriel::controller
