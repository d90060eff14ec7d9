#pragma once
// GET /metrics in Prometheus' text exposition format (docs/server.md): the
// scheduler's counters and gauges, the answers by HTTP status, and the
// device memory the engine last reported.
#include <cstdint>
#include <map>
#include <string>

#include "core/engine/metrics.h"
#include "core/engine/scheduler.h"

namespace ql::server {

std::string prometheus_text(const engine::SchedulerStats& s, const std::map<int, int64_t>& responses_by_status,
                            const engine::Metrics& engine_metrics);

}  // namespace ql::server
