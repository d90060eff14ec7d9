#pragma once
// The cancel flag of the running engine job, shared by the UI thread (which
// raises it) and the engine thread (which polls it and clears it).
//
// Why more than an atomic bool: Engine::load and Engine::generate clear the
// engine's own stop flag when they start, so an Engine::stop() that lands in
// the moment between a job being posted and the engine call starting would be
// lost. The controller therefore re-asserts the stop (reassert(), from a UI
// timer) for as long as the job runs and the flag is up; the mutex makes a
// re-assertion and a clear() by the worker (before it starts a follow-up step
// that must not be cancelled by a stale stop) mutually exclusive.
#include <atomic>
#include <mutex>

#include "core/engine/engine.h"

namespace ql::ui {

class StopSignal {
 public:
  explicit StopSignal(engine::Engine& engine) : engine_(engine) {}

  // UI thread: stop the running job.
  void request() {
    std::lock_guard lock(mutex_);
    flag_.store(true);
    engine_.stop();
  }
  // UI thread (timer): say it again while the flag is up.
  void reassert() {
    std::lock_guard lock(mutex_);
    if (flag_.load()) engine_.stop();
  }
  // Either thread: a new job (or a step that must run) starts unstopped.
  void clear() {
    std::lock_guard lock(mutex_);
    flag_.store(false);
  }
  bool requested() const { return flag_.load(); }
  // For APIs that poll a flag themselves (compare, export).
  const std::atomic<bool>* flag() const { return &flag_; }

 private:
  engine::Engine& engine_;
  std::mutex mutex_;
  std::atomic<bool> flag_{false};
};

}  // namespace ql::ui
