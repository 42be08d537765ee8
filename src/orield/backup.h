// `orield backup` and `orield restore`: the controller's state in one
// tarball (zstd), taken while orield runs.
//
//   manifest.json   what the backup holds: schema version, where it came
//                   from, the golden-image catalogue (docs/operations.md)
//   oriel.db        a consistent copy of the SQLite database (online backup)
//   tls/            the data directory's keys and certificates: orield's CA
//                   and server certificate, an agent's cluster certificate
//   config/         the --config file, if one was given
//   images/         the golden image files, with --with-images
//
// A PostgreSQL controller's database is left to pg_dump; the rest is kept.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "oriel/common/process.h"
#include "oriel/common/result.h"

namespace oriel {

using Progress = std::function<void(const std::string& line)>;

struct BackupOptions {
  std::string data_dir;
  std::string database;     // "" or "sqlite": DATA/oriel.db; else a PostgreSQL connection string
  std::string shared_dir;   // where the golden images are, if not under data_dir
  std::string config_file;  // the --config orield runs with, kept beside the data
  std::string host_name;    // this host's, for the manifest
  // A file, or a directory (an existing one, or a path ending in '/') that
  // gets oriel-backup-YYYYmmddTHHMMSSZ.tar.zst.
  std::string to;
  bool with_images = false;
  int keep = 0;  // with a directory: how many backups to keep there (0: all)
  std::chrono::system_clock::time_point now;
};

struct BackupSummary {
  std::string file;
  uint64_t bytes = 0;
  int schema_version = 0;            // 0: PostgreSQL (not in the backup)
  size_t images = 0;                 // in the catalogue
  std::vector<std::string> removed;  // older backups --keep removed
};

Result<BackupSummary> make_backup(const BackupOptions& options, ProcessRunner& runner, const Progress& progress);

struct RestoreOptions {
  std::string from;
  std::string data_dir;
  std::string shared_dir;  // where the golden images go (with a backup --with-images)
  bool force = false;      // replace a database already in data_dir
};

struct RestoreSummary {
  int schema_version = 0;
  std::string config_file;            // where the backed-up --config was put, if any
  std::vector<std::string> warnings;  // golden images missing, the database left to pg_restore
};

// Unpacks a backup into data_dir. Refuses a damaged archive, one from a
// newer schema, and (without `force`) a data_dir that has a database; on
// any failure data_dir is as it was.
Result<RestoreSummary> restore_backup(const RestoreOptions& options, ProcessRunner& runner, const Progress& progress);

}  // namespace oriel
