#include "ui/settings/app_settings.h"

#include <QDir>

namespace ql::ui {
namespace {

constexpr const char* kLastModel = "model/last_dir";
constexpr const char* kRecent = "model/recent";
constexpr const char* kPrecision = "model/precision";
constexpr const char* kBudget = "model/memory_budget_gib";
constexpr const char* kBatch = "model/batch";
constexpr const char* kServerHost = "server/host";
constexpr const char* kServerPort = "server/port";
constexpr const char* kContext = "model/context_tokens";
constexpr const char* kLoadLast = "model/load_last_at_start";
constexpr const char* kSystemPrompt = "chat/system_prompt";
constexpr const char* kTheme = "view/theme";
constexpr const char* kGeometry = "window/geometry";
constexpr const char* kState = "window/state";
constexpr const char* kFirstStart = "app/first_start_done";

// The engine's default context (core/engine/context_limit.h).
constexpr int kDefaultContext = 4096;

// One spelling per folder, so that "dir/" and "dir" are one recent entry.
QString normalized(const QString& dir) { return QDir::cleanPath(dir); }

}  // namespace

engine::SamplingOptions SamplingSettings::toOptions() const {
  engine::SamplingOptions o;
  if (!random_seed) o.seed = static_cast<uint64_t>(seed);
  if (use_model_defaults) return o;
  o.temperature = temperature;
  o.top_k = top_k;
  o.top_p = top_p;
  o.min_p = min_p;
  o.repetition_penalty = repetition_penalty;
  o.presence_penalty = presence_penalty;
  return o;
}

QString AppSettings::lastModelDir() const { return settings_.value(kLastModel).toString(); }
void AppSettings::setLastModelDir(const QString& dir) { settings_.setValue(kLastModel, normalized(dir)); }

QStringList AppSettings::recentModels() const { return settings_.value(kRecent).toStringList(); }

void AppSettings::addRecentModel(const QString& dir) {
  QStringList list = recentModels();
  const QString d = normalized(dir);
  list.removeAll(d);
  list.prepend(d);
  while (list.size() > kMaxRecentModels) list.removeLast();
  settings_.setValue(kRecent, list);
}

void AppSettings::removeRecentModel(const QString& dir) {
  QStringList list = recentModels();
  list.removeAll(normalized(dir));
  settings_.setValue(kRecent, list);
}

QString AppSettings::precision() const { return settings_.value(kPrecision, "bf16").toString(); }
void AppSettings::setPrecision(const QString& precision) { settings_.setValue(kPrecision, precision); }

double AppSettings::memoryBudgetGib() const { return settings_.value(kBudget, 0.0).toDouble(); }
void AppSettings::setMemoryBudgetGib(double gib) { settings_.setValue(kBudget, gib); }

int AppSettings::batch() const { return settings_.value(kBatch, 1).toInt(); }
void AppSettings::setBatch(int batch) { settings_.setValue(kBatch, batch); }
QString AppSettings::serverHost() const { return settings_.value(kServerHost, "127.0.0.1").toString(); }
void AppSettings::setServerHost(const QString& host) { settings_.setValue(kServerHost, host); }
int AppSettings::serverPort() const { return settings_.value(kServerPort, 8080).toInt(); }
void AppSettings::setServerPort(int port) { settings_.setValue(kServerPort, port); }

int AppSettings::contextTokens() const { return settings_.value(kContext, kDefaultContext).toInt(); }
void AppSettings::setContextTokens(int tokens) { settings_.setValue(kContext, tokens); }

bool AppSettings::loadLastModelAtStart() const { return settings_.value(kLoadLast, true).toBool(); }
void AppSettings::setLoadLastModelAtStart(bool on) { settings_.setValue(kLoadLast, on); }

SamplingSettings AppSettings::sampling() const {
  SamplingSettings d;  // defaults
  SamplingSettings s;
  s.use_model_defaults = settings_.value("sampling/use_model_defaults", d.use_model_defaults).toBool();
  s.temperature = settings_.value("sampling/temperature", d.temperature).toDouble();
  s.top_k = settings_.value("sampling/top_k", d.top_k).toInt();
  s.top_p = settings_.value("sampling/top_p", d.top_p).toDouble();
  s.min_p = settings_.value("sampling/min_p", d.min_p).toDouble();
  s.repetition_penalty = settings_.value("sampling/repetition_penalty", d.repetition_penalty).toDouble();
  s.presence_penalty = settings_.value("sampling/presence_penalty", d.presence_penalty).toDouble();
  s.random_seed = settings_.value("sampling/random_seed", d.random_seed).toBool();
  s.seed = settings_.value("sampling/seed", d.seed).toULongLong();
  s.max_new_tokens = settings_.value("sampling/max_new_tokens", d.max_new_tokens).toInt();
  return s;
}

void AppSettings::setSampling(const SamplingSettings& s) {
  settings_.setValue("sampling/use_model_defaults", s.use_model_defaults);
  settings_.setValue("sampling/temperature", s.temperature);
  settings_.setValue("sampling/top_k", s.top_k);
  settings_.setValue("sampling/top_p", s.top_p);
  settings_.setValue("sampling/min_p", s.min_p);
  settings_.setValue("sampling/repetition_penalty", s.repetition_penalty);
  settings_.setValue("sampling/presence_penalty", s.presence_penalty);
  settings_.setValue("sampling/random_seed", s.random_seed);
  settings_.setValue("sampling/seed", s.seed);
  settings_.setValue("sampling/max_new_tokens", s.max_new_tokens);
}

QString AppSettings::systemPrompt() const { return settings_.value(kSystemPrompt).toString(); }
void AppSettings::setSystemPrompt(const QString& prompt) { settings_.setValue(kSystemPrompt, prompt); }

QString theme_mode_name(ThemeMode mode) {
  switch (mode) {
    case ThemeMode::kLight: return "light";
    case ThemeMode::kDark: return "dark";
    case ThemeMode::kSystem: break;
  }
  return "system";
}

ThemeMode AppSettings::theme() const {
  const QString v = settings_.value(kTheme, "system").toString();
  if (v == "light") return ThemeMode::kLight;
  if (v == "dark") return ThemeMode::kDark;
  return ThemeMode::kSystem;
}
void AppSettings::setTheme(ThemeMode mode) { settings_.setValue(kTheme, theme_mode_name(mode)); }

QByteArray AppSettings::windowGeometry() const { return settings_.value(kGeometry).toByteArray(); }
void AppSettings::setWindowGeometry(const QByteArray& g) { settings_.setValue(kGeometry, g); }
QByteArray AppSettings::windowState() const { return settings_.value(kState).toByteArray(); }
void AppSettings::setWindowState(const QByteArray& s) { settings_.setValue(kState, s); }

bool AppSettings::firstStartDone() const { return settings_.value(kFirstStart, false).toBool(); }
void AppSettings::setFirstStartDone(bool done) { settings_.setValue(kFirstStart, done); }

}  // namespace ql::ui
