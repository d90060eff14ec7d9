#pragma once
// The compare view (issue 7, part 4): one question, with its images, asked at
// two to four precisions the person picks (presets or per-component
// policies). The answers stream side by side, one column per precision in
// run order (the 16-bit reference first), and each column ends with its time
// to first token, tokens/s, weight memory and fidelity against the reference
// from the engine's compare call (core/engine/compare.h). Before running, the
// memory planner's figures against the budget are shown with what the engine
// will decide (held together or one after another: the same decision
// function, core/engine/compare_memory.h); afterwards, what the run did (the
// report's `placement`).
// The comparison can be saved as Markdown.
//
// Everything goes through EngineController: the window never waits on the engine.
#include <QString>
#include <QStringList>
#include <QWidget>
#include <optional>
#include <vector>

#include "core/engine/compare.h"
#include "core/engine/compare_memory.h"
#include "core/engine/compare_report.h"
#include "core/engine/eval_score.h"
#include "core/engine/eval_set.h"
#include "ui/compare/compare_memory_estimate.h"

class QComboBox;
class QHBoxLayout;
class QLabel;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;

namespace ql::ui {

class CompareColumn;
class EngineController;

class CompareView : public QWidget {
  Q_OBJECT
 public:
  static constexpr int kPrecisionSlots = 4;

  explicit CompareView(EngineController* engine, QWidget* parent = nullptr);

  // The last finished comparison as Markdown ("" before one finished).
  QString markdown() const;
  bool hasReport() const { return report_.has_value(); }
  bool isRunning() const { return running_; }

 public slots:
  void setModelDir(const QString& dir);
  void setQuestion(const QString& text, const QStringList& image_paths);
  // The memory budget (GiB) the plan is checked against and the loads are
  // held to; 0 (the default) = this machine's RAM.
  void setMemoryBudgetGiB(double gib);
  // Starts the comparison with what the inputs say; false (and says why) when it cannot.
  bool run();
  void stop();
  bool saveMarkdown(const QString& path);
  // An evaluation set (docs/evaluation.md) replaces the question: its
  // questions run at every precision and each column adds its task accuracy
  // beside KL. false (and says why) for a set that does not load; an empty
  // path goes back to the question.
  bool setEvalSet(const QString& path);
  // The last run's scores (with a set).
  const std::optional<engine::EvalReport>& evalReport() const { return eval_report_; }

 signals:
  void comparisonFinished(bool ok);

 private slots:
  void updatePlan();
  void onProgress(const ql::engine::CompareStep& step);
  void onToken(int row, int prompt, const QString& text);
  void onFinished(bool ok, bool cancelled, const ql::engine::CompareReport& report, const QString& error);
  void onLoadProgress(double fraction, const QString& stage);
  void onBusyChanged(bool busy);
  void addImages();
  void clearImages();
  void chooseAndSaveMarkdown();
  void chooseEvalSet();

 private:
  std::vector<std::string> chosenPrecisions() const;
  double budgetGiB(QString* source) const;
  QString planNotice(const CompareMemoryEstimate& e, const engine::CompareMemory& placement,
                     const QString& budget_source) const;
  QString reportNotice(const engine::CompareReport& report) const;
  void showError(const QString& text);
  void clearColumns();
  void updateButtons();
  void showImages();

  EngineController* engine_;
  QString model_dir_;
  QStringList images_;
  double budget_gib_ = 0;

  QLabel* model_label_;
  QPlainTextEdit* question_;
  QLabel* images_label_;
  QComboBox* precisions_[kPrecisionSlots];
  QSpinBox* tokens_;
  QLabel* plan_notice_;
  QPushButton* run_button_;
  QPushButton* stop_button_;
  QPushButton* save_button_;
  QLabel* status_;
  QLabel* error_;
  QHBoxLayout* columns_layout_;
  std::vector<CompareColumn*> columns_;

  bool running_ = false;
  std::optional<CompareMemoryEstimate> estimate_;  // for the current inputs, when they plan
  std::optional<engine::CompareMemory> placement_;  // what the engine will decide for them
  double run_budget_gib_ = 0;  // the budget the plan was made with, which the request carries
  bool run_together_ = false;  // the running comparison holds its precisions together
  QString budget_source_;
  // What the last run asked, for its Markdown.
  QString run_question_;
  QStringList run_images_;
  std::optional<engine::CompareReport> report_;
  QString eval_path_;                       // the chosen evaluation set ("" : the question)
  std::optional<engine::EvalSet> eval_set_;
  std::optional<engine::EvalSet> run_eval_set_;  // the set of the running or last run
  std::optional<engine::EvalReport> eval_report_;
  QLabel* eval_label_ = nullptr;
  QString report_notice_;
};

}  // namespace ql::ui
