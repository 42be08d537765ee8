// A background thread that runs one function when poked and at least once
// per interval, with runs at least min_gap apart (pokes during a run
// coalesce into one more run). Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

#include "oriel/common/mutex.h"

namespace oriel::controller {

class Ticker {
 public:
  Ticker(std::function<void()> fn, std::chrono::milliseconds interval, std::chrono::milliseconds min_gap)
      : fn_(std::move(fn)), interval_(interval), min_gap_(min_gap) {}
  ~Ticker() { stop(); }

  void start() {
    {
      MutexLock lock(mu_);
      stopping_ = false;
    }
    thread_ = std::thread([this] { loop(); });
  }
  void stop() {
    {
      MutexLock lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void poke() {
    {
      MutexLock lock(mu_);
      poked_ = true;
    }
    cv_.notify_all();
  }

 private:
  void loop() {
    UniqueMutexLock lock(mu_);
    while (!stopping_) {
      poked_ = false;
      lock.unlock();
      auto ran = std::chrono::steady_clock::now();
      fn_();
      lock.lock();
      cv_.wait_for(lock, interval_, [this]() ORIEL_REQUIRES(mu_) { return poked_ || stopping_; });
      cv_.wait_until(lock, ran + min_gap_, [this]() ORIEL_REQUIRES(mu_) { return stopping_; });
    }
  }

  std::function<void()> fn_;
  std::chrono::milliseconds interval_;
  std::chrono::milliseconds min_gap_;
  Mutex mu_;
  CondVar cv_;
  bool poked_ ORIEL_GUARDED_BY(mu_) = false;
  bool stopping_ ORIEL_GUARDED_BY(mu_) = true;
  std::thread thread_;
};

}  // namespace oriel::controller
