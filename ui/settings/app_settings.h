#pragma once
// Everything the app remembers between runs, in one place: typed accessors
// over QSettings (the platform's native store, ~/.config/QuantLens/QuantLens.conf
// on Linux, named by the application's organization and name). Keys live only
// here, so a renamed setting cannot silently split into two.
#include <QByteArray>
#include <QSettings>
#include <QString>
#include <QStringList>

#include "core/engine/request.h"

namespace ql::ui {

enum class ThemeMode { kSystem, kLight, kDark };

// The sampling panel's state: "model defaults" sends nothing (the model's
// generation_config.json decides); otherwise the values below are sent.
struct SamplingSettings {
  bool use_model_defaults = true;
  double temperature = 0.7;
  int top_k = 20;
  double top_p = 0.8;
  double min_p = 0.0;
  double repetition_penalty = 1.0;
  double presence_penalty = 0.0;
  bool random_seed = true;
  qulonglong seed = 0;
  int max_new_tokens = 1024;

  engine::SamplingOptions toOptions() const;
  friend bool operator==(const SamplingSettings&, const SamplingSettings&) = default;
};

class AppSettings {
 public:
  static constexpr int kMaxRecentModels = 8;

  AppSettings() = default;

  // The model panel.
  QString lastModelDir() const;
  void setLastModelDir(const QString& dir);
  QStringList recentModels() const;
  // Puts `dir` first (removing an older entry), keeping at most kMaxRecentModels.
  void addRecentModel(const QString& dir);
  void removeRecentModel(const QString& dir);
  QString precision() const;  // a preset, "auto" or a per-component list
  void setPrecision(const QString& precision);
  double memoryBudgetGib() const;  // 0: not set (the panel uses the machine's RAM)
  void setMemoryBudgetGib(double gib);
  int batch() const;
  void setBatch(int batch);
  QString serverHost() const;  // the local server's address (127.0.0.1 by default)
  void setServerHost(const QString& host);
  int serverPort() const;  // 8080 by default
  void setServerPort(int port);
  int contextTokens() const;
  void setContextTokens(int tokens);
  bool loadLastModelAtStart() const;
  void setLoadLastModelAtStart(bool on);

  SamplingSettings sampling() const;
  void setSampling(const SamplingSettings& s);
  QString systemPrompt() const;
  void setSystemPrompt(const QString& prompt);

  // The window.
  ThemeMode theme() const;
  void setTheme(ThemeMode mode);
  QByteArray windowGeometry() const;
  void setWindowGeometry(const QByteArray& geometry);
  QByteArray windowState() const;
  void setWindowState(const QByteArray& state);
  // False until the first start has opened the demo model.
  bool firstStartDone() const;
  void setFirstStartDone(bool done);

  void sync() { settings_.sync(); }

 private:
  QSettings settings_;
};

QString theme_mode_name(ThemeMode mode);  // "system", "light", "dark"

}  // namespace ql::ui
