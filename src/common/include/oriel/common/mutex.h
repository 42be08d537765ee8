// The annotated mutex: std::mutex and std::condition_variable behind thin
// wrappers that Clang's thread-safety analysis understands.
//
// Why: a field declared `int n_ ORIEL_GUARDED_BY(mu_);` may only be touched
// while `mu_` is held. Built with clang and -Wthread-safety (scripts/build
// clang, CMake option ORIEL_THREAD_SAFETY), that contract is checked at
// compile time: reading `n_` without `MutexLock lock(mu_);` in scope is an
// error. With GCC the macros are empty and the wrappers cost nothing.
// See https://clang.llvm.org/docs/ThreadSafetyAnalysis.html.
//
// Thread-safety: Mutex and CondVar are shared between threads like their std
// counterparts; a MutexLock or UniqueMutexLock belongs to the one thread that
// made it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define ORIEL_THREAD_ANNOTATION_(x) __attribute__((x))
#else
#define ORIEL_THREAD_ANNOTATION_(x)
#endif

// On a class: its objects are capabilities (locks) the analysis tracks.
#define ORIEL_CAPABILITY(x) ORIEL_THREAD_ANNOTATION_(capability(x))
// On a class: an RAII object that holds a capability for its lifetime.
#define ORIEL_SCOPED_CAPABILITY ORIEL_THREAD_ANNOTATION_(scoped_lockable)
// On a field: read or written only with the given mutex held.
#define ORIEL_GUARDED_BY(x) ORIEL_THREAD_ANNOTATION_(guarded_by(x))
// On a function: the caller must hold the given mutex(es).
#define ORIEL_REQUIRES(...) ORIEL_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))
// On a function: it takes (or releases) the given mutex, or `this` if none is named.
#define ORIEL_ACQUIRE(...) ORIEL_THREAD_ANNOTATION_(acquire_capability(__VA_ARGS__))
#define ORIEL_RELEASE(...) ORIEL_THREAD_ANNOTATION_(release_capability(__VA_ARGS__))

namespace oriel {

// A std::mutex the analysis knows about. Prefer MutexLock to lock()/unlock().
class ORIEL_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() ORIEL_ACQUIRE() { mu_.lock(); }
  void unlock() ORIEL_RELEASE() { mu_.unlock(); }

 private:
  friend class CondVar;  // waits on the std::mutex itself
  std::mutex mu_;
};

// Holds a Mutex for its scope, like std::lock_guard.
class ORIEL_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ORIEL_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() ORIEL_RELEASE() { mu_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

// Holds a Mutex for its scope, like std::unique_lock: it can be released and
// taken again in the middle, and a CondVar waits on it.
class ORIEL_SCOPED_CAPABILITY UniqueMutexLock {
 public:
  explicit UniqueMutexLock(Mutex& mu) ORIEL_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~UniqueMutexLock() ORIEL_RELEASE() {
    if (held_) mu_.unlock();
  }
  UniqueMutexLock(const UniqueMutexLock&) = delete;
  UniqueMutexLock& operator=(const UniqueMutexLock&) = delete;

  void lock() ORIEL_ACQUIRE() {
    mu_.lock();
    held_ = true;
  }
  void unlock() ORIEL_RELEASE() {
    held_ = false;
    mu_.unlock();
  }

 private:
  friend class CondVar;
  Mutex& mu_;
  bool held_ = true;
};

// A std::condition_variable waited on with a UniqueMutexLock. As with the std
// one, the mutex is released while waiting and held again on return, so for
// the analysis the lock stays held throughout. A predicate that reads guarded
// fields says so: `[&]() ORIEL_REQUIRES(mu_) { return stopping_; }` (it runs
// with the mutex held). Only the waits Oriel uses are here; add others alike.
class CondVar {
 public:
  void notify_one() noexcept { cv_.notify_one(); }
  void notify_all() noexcept { cv_.notify_all(); }

  template <typename Pred>
  void wait(UniqueMutexLock& lock, Pred pred) {
    Adopted adopted(lock);
    cv_.wait(adopted.lock, std::move(pred));
  }
  template <typename Rep, typename Period, typename Pred>
  bool wait_for(UniqueMutexLock& lock, const std::chrono::duration<Rep, Period>& timeout, Pred pred) {
    Adopted adopted(lock);
    return cv_.wait_for(adopted.lock, timeout, std::move(pred));
  }
  template <typename Clock, typename Duration, typename Pred>
  bool wait_until(UniqueMutexLock& lock, const std::chrono::time_point<Clock, Duration>& deadline, Pred pred) {
    Adopted adopted(lock);
    return cv_.wait_until(adopted.lock, deadline, std::move(pred));
  }

 private:
  // The held std::mutex as the std::unique_lock std::condition_variable
  // wants. It adopts the lock and gives it up again (release(), not unlock())
  // when the wait returns, so the UniqueMutexLock still holds it.
  struct Adopted {
    explicit Adopted(UniqueMutexLock& l) : lock(l.mu_.mu_, std::adopt_lock) {}
    ~Adopted() { lock.release(); }
    std::unique_lock<std::mutex> lock;
  };
  std::condition_variable cv_;
};

}  // namespace oriel
