#pragma once
// Sampling settings of the model panel: the model's own defaults
// (generation_config.json) or explicit temperature, top-k, top-p, min-p,
// repetition and presence penalties, a fixed or random seed, and the answer
// length. Emits the settings on every change; the window passes them on to
// the chat.
#include <QWidget>

#include "core/model/generation_config.h"
#include "ui/settings/app_settings.h"

class QCheckBox;
class QDoubleSpinBox;
class QLabel;
class QSpinBox;

namespace ql::ui {

class SamplingEditor : public QWidget {
  Q_OBJECT
 public:
  explicit SamplingEditor(QWidget* parent = nullptr);

  SamplingSettings settings() const;
  void setSettings(const SamplingSettings& s);
  // Shows what "the model's defaults" means for the loaded model.
  void showModelDefaults(const model::GenerationConfig& g);

  QCheckBox* modelDefaultsCheck() const { return use_defaults_; }
  QDoubleSpinBox* temperatureSpin() const { return temperature_; }
  QSpinBox* topKSpin() const { return top_k_; }
  QSpinBox* maxTokensSpin() const { return max_tokens_; }

 signals:
  void settingsChanged(const ql::ui::SamplingSettings& settings);

 private:
  void updateEnabled();
  void changed();

  QCheckBox* use_defaults_ = nullptr;
  QLabel* defaults_note_ = nullptr;
  QDoubleSpinBox* temperature_ = nullptr;
  QSpinBox* top_k_ = nullptr;
  QDoubleSpinBox* top_p_ = nullptr;
  QDoubleSpinBox* min_p_ = nullptr;
  QDoubleSpinBox* repetition_ = nullptr;
  QDoubleSpinBox* presence_ = nullptr;
  QCheckBox* random_seed_ = nullptr;
  QSpinBox* seed_ = nullptr;
  QSpinBox* max_tokens_ = nullptr;
  bool updating_ = false;
};

}  // namespace ql::ui
