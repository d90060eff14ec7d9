#pragma once
// While a StopSignals lives, the signals it names stop the engine's current
// job (and set an optional cancel flag) instead of ending the program: Ctrl+C
// stops an answer in chat; SIGINT, SIGTERM (timeout, a service manager) and
// SIGHUP (the terminal closed) cancel an export or a comparison, which then
// takes back what it wrote (issue 12, point 4). One guard at a time.
#include <signal.h>

#include <atomic>
#include <initializer_list>

#include "core/engine/engine.h"

namespace ql::cli {

class StopSignals {
 public:
  StopSignals(engine::Engine& engine, std::initializer_list<int> signals, std::atomic<bool>* cancel = nullptr);
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // The last signal that arrived while the guard lived (0: none).
  static int received();

 private:
  static constexpr int kMaxSignals = 4;
  int signals_[kMaxSignals] = {};
  struct sigaction previous_[kMaxSignals] = {};
  int count_ = 0;
};

// "SIGTERM" for the signals StopSignals is used with, else "signal N".
const char* signal_name(int signal);

}  // namespace ql::cli
