#pragma once
// The model panel (issue 7, part 1): which checkpoint folder to load and how.
// Opening a folder (button, Ctrl+O, a drop on the window, a recent entry)
// reads only its config.json and shows the memory planner's estimate for the
// chosen precision, context, parallel requests and memory budget — including
// a plain "does not fit" with the numbers — before anything loads; Load
// starts the load on the engine thread. Sampling settings and the system
// prompt live here too and are passed on to the chat. Every choice persists
// (AppSettings).
#include <QString>
#include <QWidget>
#include <optional>

#include "core/model/model_config.h"
#include "ui/engine/engine_controller.h"
#include "ui/model/plan_estimate.h"
#include "ui/settings/app_settings.h"

class QDoubleSpinBox;
class QLabel;
class QMenu;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;
class QTimer;
class QToolButton;

namespace ql::ui {

class PrecisionEditor;
class SamplingEditor;

class ModelPanel : public QWidget {
  Q_OBJECT
 public:
  ModelPanel(EngineController* engine, AppSettings* settings, QWidget* parent = nullptr);

  // Selects a checkpoint folder and shows its estimate; false (and
  // errorRaised) when it is not a model folder.
  bool openFolder(const QString& dir);
  // Starts loading the selected folder; false when there is none, it does not
  // fit, or the engine refused (busy).
  bool loadSelected();

  QString selectedDir() const { return dir_; }
  LoadSettings loadSettings() const;
  const PlanEstimate& estimate() const { return estimate_; }
  double machineRamGib() const { return machine_ram_gib_; }
  // The GPU's free memory when one is usable, else the machine's RAM.
  double defaultBudgetGib() const;

  QMenu* recentMenu() const { return recent_menu_; }
  PrecisionEditor* precisionEditor() const { return precision_; }
  SamplingEditor* samplingEditor() const { return sampling_; }
  QDoubleSpinBox* budgetSpin() const { return budget_; }
  QSpinBox* batchSpin() const { return batch_; }
  QSpinBox* contextSpin() const { return context_; }
  QLabel* estimateLabel() const { return estimate_label_; }
  QPushButton* loadButton() const { return load_; }
  QPlainTextEdit* systemPromptEdit() const { return system_prompt_; }
  QLabel* loadedLabel() const { return loaded_label_; }

 public slots:
  void chooseFolder();  // a folder dialog, then openFolder()

 signals:
  void folderOpened(const QString& dir);
  void modelLoaded(const QString& dir);
  void samplingChanged(const ql::engine::SamplingOptions& sampling);
  void maxNewTokensChanged(int tokens);
  void systemPromptChanged(const QString& prompt);
  void errorRaised(const QString& summary, const QString& details);

 private:
  QWidget* buildModelBox();
  QWidget* buildPrecisionBox();
  QWidget* buildSamplingBox();
  QWidget* buildSystemPromptBox();
  void restoreSettings();
  void updateEstimate();
  void updateLoadButton();
  void rebuildRecentMenu();
  void showLoadedModel();
  void onLoadFinished(bool ok, bool cancelled, const QString& error);

  EngineController* engine_;
  AppSettings* settings_;
  QString dir_;
  std::optional<model::ModelConfig> config_;
  int64_t max_image_pixels_ = 16777216;
  PlanEstimate estimate_;
  double machine_ram_gib_ = 0;
  double gpu_free_gib_ = 0;  // > 0: a usable GPU with this much free memory
  QString gpu_description_;
  QString loading_dir_;  // the load this panel started, while it runs

  QLabel* folder_label_ = nullptr;
  QLabel* loaded_label_ = nullptr;
  QToolButton* recent_button_ = nullptr;
  QMenu* recent_menu_ = nullptr;
  PrecisionEditor* precision_ = nullptr;
  QDoubleSpinBox* budget_ = nullptr;
  QLabel* budget_note_ = nullptr;
  QSpinBox* context_ = nullptr;
  QSpinBox* batch_ = nullptr;
  QLabel* estimate_label_ = nullptr;
  QPushButton* load_ = nullptr;
  SamplingEditor* sampling_ = nullptr;
  QPlainTextEdit* system_prompt_ = nullptr;
  QTimer* system_prompt_timer_ = nullptr;
};

}  // namespace ql::ui
