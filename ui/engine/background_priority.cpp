#include "ui/engine/background_priority.h"

#if defined(__linux__)
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace ql::ui {

bool make_current_thread_background() {
#if defined(__linux__)
  // Linux applies both per thread: pid 0 / the thread's own id is this thread.
  sched_param param{};
  param.sched_priority = 0;
  const bool batch = sched_setscheduler(0, SCHED_BATCH, &param) == 0;
  const auto tid = static_cast<id_t>(syscall(SYS_gettid));
  const int current = getpriority(PRIO_PROCESS, tid);
  const bool nice = setpriority(PRIO_PROCESS, tid, current + kEngineNice) == 0;
  return batch && nice;
#else
  return false;
#endif
}

}  // namespace ql::ui
