// Pools of desktops for a tenant's users, and who is entitled to them. A
// pool converges on its definition in the background: desktops provisioned,
// spares running, outdated free desktops rebuilt.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "oriel/common/result.h"
#include "oriel/controller/principal.h"
#include "oriel/store/records.h"

namespace oriel::controller {

struct Core;

struct CreatePool {
  std::string name;
  std::string tenant_id;  // a tenant-admin's own when empty
  std::string image_id;
  std::string type;  // pooled | persistent
  int64_t size = 0;
  int64_t spare = 0;
  int64_t vcpus = 1;
  int64_t memory_mb = 1024;
  int64_t idle_timeout_s = 0;
  std::string provisioning = "on-demand";  // on-demand | up-front
  std::string clipboard = "both";          // both | to-desktop | to-client | none
  std::string network = "isolated";        // none | isolated | bridge:NAME (a bridge: admins only)
};

// PATCH: only the fields present change.
struct UpdatePool {
  std::optional<std::string> name;
  std::optional<std::string> image_id;
  std::optional<int64_t> size;
  std::optional<int64_t> spare;
  std::optional<int64_t> vcpus;
  std::optional<int64_t> memory_mb;
  std::optional<int64_t> idle_timeout_s;
  std::optional<std::string> provisioning;
  std::optional<std::string> clipboard;
  std::optional<std::string> network;
};

struct PoolView {
  store::PoolRecord pool;
  int64_t desktops = 0;  // not being deleted
  int64_t assigned = 0;
  int64_t free = 0;
  int64_t running_free = 0;  // free and running: a logon needs no boot
  int64_t sessions = 0;      // open
};

// Admins manage every pool, tenant-admins their tenant's; a user sees the
// pools they are entitled to. Thread-safe.
class Pools {
 public:
  explicit Pools(Core& core) : core_(core) {}
  Pools(const Pools&) = delete;
  Pools& operator=(const Pools&) = delete;

  Result<PoolView> create(const Principal& who, CreatePool cmd);
  Result<std::vector<PoolView>> list(const Principal& who, std::string_view tenant_id);
  Result<PoolView> get(const Principal& who, std::string_view id);
  Result<PoolView> update(const Principal& who, std::string_view id, UpdatePool cmd);
  // Marks it deleting; its desktops go, then the pool. Conflict while sessions are open.
  Result<PoolView> remove(const Principal& who, std::string_view id);
  // The user must be in the pool's tenant (Unprocessable otherwise).
  Result<store::UserRecord> entitle(const Principal& who, std::string_view pool_id, std::string_view user_id);
  Result<void> unentitle(const Principal& who, std::string_view pool_id, std::string_view user_id);
  Result<std::vector<store::UserRecord>> entitlements(const Principal& who, std::string_view pool_id);

 private:
  Result<PoolView> view(const Principal& who, store::PoolRecord pool);
  Result<void> check_image(const Principal& who, const store::PoolRecord& pool);
  // `before`: the pool's network until now ("" for a new pool).
  Result<void> check_network(const Principal& who, const store::PoolRecord& pool, const std::string& before);
  Result<PoolView> change(const Principal& who, std::string_view id,
                          const std::function<Result<void>(store::PoolRecord&)>& edit);

  Core& core_;
};

}  // namespace oriel::controller
