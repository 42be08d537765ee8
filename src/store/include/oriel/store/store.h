// The Store: everything the controller decides is written here before it
// acts. Split by entity so each interface stays narrow; one object
// implements all of them per backend (SQLite now, PostgreSQL for HA).
// Implementations are thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "oriel/common/result.h"
#include "oriel/store/records.h"

namespace oriel::store {

class UserStore {
 public:
  virtual ~UserStore() = default;
  virtual Result<void> insert_user(const UserRecord& user) = 0;  // Conflict on duplicate username
  virtual Result<UserRecord> user_by_name(std::string_view username) = 0;
  virtual Result<UserRecord> user_by_id(std::string_view id) = 0;
  virtual Result<void> set_password_hash(std::string_view user_id, std::string_view hash) = 0;
  virtual Result<void> insert_token(const TokenRecord& token) = 0;
  virtual Result<TokenRecord> token_by_hash(std::string_view token_hash) = 0;
  virtual Result<void> delete_token(std::string_view token_hash) = 0;
  virtual Result<void> delete_expired_tokens(WallTime now) = 0;
};

class HostStore {
 public:
  virtual ~HostStore() = default;
  virtual Result<void> upsert_host(const HostRecord& host) = 0;  // by id
  virtual Result<HostRecord> host(std::string_view id) = 0;
  virtual Result<std::vector<HostRecord>> hosts() = 0;
};

class ImageStore {
 public:
  virtual ~ImageStore() = default;
  virtual Result<void> insert_image(const ImageRecord& image) = 0;
  virtual Result<void> update_image(const ImageRecord& image) = 0;  // NotFound if gone
  virtual Result<ImageRecord> image(std::string_view id) = 0;
  virtual Result<std::vector<ImageRecord>> images() = 0;
  // Deletes the image unless a desktop uses it (Conflict naming how many do).
  virtual Result<void> delete_unused_image(std::string_view id) = 0;
};

struct DesktopFilter {
  std::string pool_id;  // empty: any
  std::string host_id;  // empty: any
};

class DesktopStore {
 public:
  virtual ~DesktopStore() = default;
  virtual Result<void> insert_desktop(const DesktopRecord& desktop) = 0;  // Conflict on duplicate name
  // Compare-and-swap on `version`: succeeds only if the stored version equals
  // desktop.version, then stores version + 1 and returns the new record.
  // A concurrent change gives Conflict; re-read and decide again.
  virtual Result<DesktopRecord> update_desktop(const DesktopRecord& desktop) = 0;
  virtual Result<DesktopRecord> desktop(std::string_view id) = 0;
  virtual Result<std::vector<DesktopRecord>> desktops(const DesktopFilter& filter) = 0;
  virtual Result<void> delete_desktop(std::string_view id, int64_t version) = 0;  // CAS like update
};

class Store : public UserStore, public HostStore, public ImageStore, public DesktopStore {
 public:
  virtual int schema_version() = 0;
};

// Opens (creating if needed) a SQLite store at path and brings its schema up
// to date. WAL journal; safe against a crash at any point.
Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path);

}  // namespace oriel::store
