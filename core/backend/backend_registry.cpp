#include "core/backend/backend_registry.h"

#include <mutex>
#include <vector>

#include "core/backend/cpu_backend.h"

namespace ql::backend {
namespace {

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

std::vector<BackendProvider>& registry() {
  static std::vector<BackendProvider> providers;
  return providers;
}

ResolvedBackend cpu_backend(std::string note) {
  return ResolvedBackend{"cpu", std::move(note), DType::kF32, DType::kF32};
}

}  // namespace

Result<BackendChoice> parse_backend_choice(std::string_view text) {
  if (text == "auto") return BackendChoice::kAuto;
  if (text == "cuda") return BackendChoice::kCuda;
  if (text == "cpu") return BackendChoice::kCpu;
  return err("backend '{}' is not one of auto, cuda, cpu", text);
}

const char* backend_choice_name(BackendChoice c) {
  switch (c) {
    case BackendChoice::kAuto: return "auto";
    case BackendChoice::kCuda: return "cuda";
    case BackendChoice::kCpu: return "cpu";
  }
  return "?";
}

void register_backend_provider(BackendProvider provider) {
  std::lock_guard lock(registry_mutex());
  for (auto& p : registry()) {
    if (p.name == provider.name) {
      p = std::move(provider);
      return;
    }
  }
  registry().push_back(std::move(provider));
}

const BackendProvider* find_backend_provider(std::string_view name) {
  std::lock_guard lock(registry_mutex());
  for (const auto& p : registry())
    if (p.name == name) return &p;
  return nullptr;
}

Result<ResolvedBackend> resolve_backend(BackendChoice choice) {
  if (choice == BackendChoice::kCpu) return cpu_backend("");
  const BackendProvider* cuda = find_backend_provider("cuda");
  if (!cuda) {
    if (choice == BackendChoice::kCuda) return err("backend cuda: this build of QuantLens has no CUDA backend");
    return cpu_backend("this build has no CUDA backend; running on the CPU");
  }
  auto probe = cuda->probe();
  if (!probe) {
    if (choice == BackendChoice::kCuda) return err("backend cuda: {}", probe.error().message);
    return cpu_backend(fmt::format("{}; running on the CPU", probe.error().message));
  }
  return ResolvedBackend{cuda->name, "", cuda->activation_dtype, cuda->kv_cache_dtype};
}

Result<std::unique_ptr<Backend>> make_backend(const ResolvedBackend& which, const BackendOptions& options) {
  if (which.name == "cpu") {
    CpuBackendOptions o;
    o.threads = options.threads;
    o.int8_outlier_threshold = options.int8_outlier_threshold;
    return make_cpu_backend(o);
  }
  const BackendProvider* p = find_backend_provider(which.name);
  if (!p) return err("backend {} is not available in this build", which.name);
  return p->make(options);
}

}  // namespace ql::backend
