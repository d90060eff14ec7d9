#pragma once
// Makes the calling thread a background one for the scheduler, so that the
// engine's compute never delays the UI thread (docs/architecture.md §7; the ui
// tests hold the event loop to 50 ms). Threads it starts afterwards inherit
// the setting: the engine thread calls this first, so the CPU backend's
// thread pool, created when a model loads, runs in the background too.
//
// On Linux: SCHED_BATCH (CPU-bound, no wake-up preference) and a nice value
// of kEngineNice. With the UI idle the engine still gets every core; only
// when the UI thread wakes does the scheduler prefer it. Elsewhere: nothing.
namespace ql::ui {

inline constexpr int kEngineNice = 5;

// False when the system refused (the engine then just runs at normal priority).
bool make_current_thread_background();

}  // namespace ql::ui
