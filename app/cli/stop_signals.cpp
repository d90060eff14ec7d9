#include "app/cli/stop_signals.h"

#include <cassert>

namespace ql::cli {
namespace {

// What the handler touches: lock-free atomics only (Engine::stop() is one
// atomic store), so it is safe in a signal handler.
std::atomic<engine::Engine*> g_engine{nullptr};
std::atomic<std::atomic<bool>*> g_cancel{nullptr};
std::atomic<int> g_received{0};
static_assert(std::atomic<engine::Engine*>::is_always_lock_free);
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void stop_on_signal(int sig) {
  g_received.store(sig);
  if (std::atomic<bool>* c = g_cancel.load()) c->store(true);
  if (engine::Engine* e = g_engine.load()) e->stop();
}

}  // namespace

StopSignals::StopSignals(engine::Engine& engine, std::initializer_list<int> signals, std::atomic<bool>* cancel) {
  assert(signals.size() <= kMaxSignals);
  g_received.store(0);
  g_cancel.store(cancel);
  g_engine.store(&engine);
  struct sigaction sa {};
  sa.sa_handler = stop_on_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : signals) {
    if (count_ == kMaxSignals) break;
    signals_[count_] = s;
    sigaction(s, &sa, &previous_[count_]);
    ++count_;
  }
}

StopSignals::~StopSignals() {
  for (int i = 0; i < count_; ++i) sigaction(signals_[i], &previous_[i], nullptr);
  g_engine.store(nullptr);
  g_cancel.store(nullptr);
}

int StopSignals::received() { return g_received.load(); }

const char* signal_name(int signal) {
  switch (signal) {
    case SIGINT:
      return "SIGINT (Ctrl+C)";
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
    default:
      return "a signal";
  }
}

}  // namespace ql::cli
