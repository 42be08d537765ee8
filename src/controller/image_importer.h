// Imports golden images one at a time on its own thread: qemu-img conversion
// through the agent, progress written to the store (at most every 250 ms),
// boot files copied beside the golden image. Images found "importing" at
// start (orield was killed mid-import) are imported again from scratch.
#pragma once

#include <deque>
#include <thread>

#include "oriel/agent/host_agent.h"
#include "oriel/common/clock.h"
#include "oriel/common/mutex.h"
#include "oriel/store/store.h"

namespace oriel::controller {

class ImageImporter {
 public:
  ImageImporter(store::ImageStore& images, agent::HostAgent& agent, Clock& clock, std::string images_dir);
  ~ImageImporter();

  void start();
  void stop();
  void enqueue(const std::string& image_id);
  std::string image_dir(const std::string& image_id) const;

 private:
  void loop();
  void import(const std::string& image_id);
  Result<void> run_import(store::ImageRecord& image);

  store::ImageStore& images_;
  agent::HostAgent& agent_;
  Clock& clock_;
  std::string images_dir_;

  Mutex mu_;
  CondVar cv_;
  std::deque<std::string> queue_ ORIEL_GUARDED_BY(mu_);
  bool stopping_ ORIEL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace oriel::controller
