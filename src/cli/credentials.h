// The token `oriel login` saves for later commands, in
// $XDG_CONFIG_HOME/oriel/credentials.json (default ~/.config/oriel/), as
// {"server": URL, "token": TOKEN, "fingerprint"?: PIN}. The directory is created 0700 and the
// file is written 0600, atomically (a temporary file renamed over it), so a
// crash never leaves half a token and no other user can read it.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "oriel/common/result.h"

namespace oriel::cli {

struct Credentials {
  std::string server;  // canonical server URL the token belongs to
  std::string token;
  // The certificate trusted on first use for an https server without a CA
  // this machine knows ("sha256:..."); empty otherwise.
  std::string fingerprint;
};

// The credentials file for this user, from XDG_CONFIG_HOME or HOME.
Result<std::filesystem::path> credentials_path();

// A missing file is std::nullopt; a malformed one is an InvalidArgument error.
Result<std::optional<Credentials>> load_credentials(const std::filesystem::path& file);
Result<void> save_credentials(const std::filesystem::path& file, const Credentials& credentials);
// Returns whether there was a file to remove.
Result<bool> remove_credentials(const std::filesystem::path& file);

}  // namespace oriel::cli
