#pragma once
// One precision's column in the compare view: its name, what it is doing
// (waiting, loading, answering, done), its answer as it streams in, and once
// measured its figures: time to first token, tokens/s, weight memory, and
// fidelity against the 16-bit reference (KL mean and p99, top-1 agreement),
// and with an evaluation set its task accuracy.
#include <QFrame>
#include <QString>

#include "core/engine/compare_report.h"
#include "core/engine/eval_score.h"

class QFormLayout;
class QLabel;
class QPlainTextEdit;

namespace ql::ui {

class CompareColumn : public QFrame {
  Q_OBJECT
 public:
  CompareColumn(const QString& precision, bool reference, bool added, QWidget* parent = nullptr);

  void setStatus(const QString& status);
  void appendAnswer(const QString& text);  // a streamed piece
  void setAnswer(const QString& text);     // the whole answer (the report's)
  QString answer() const;
  // The row's figures (prompt `prompt`'s answer is shown; the row's means in the figures).
  void showOutcome(const engine::PrecisionRow& row, size_t prompt);
  // With an evaluation set: task accuracy beside the fidelity (shown from then on).
  void showAccuracy(const engine::EvalRow& row);

 private:
  QLabel* addFigure(QFormLayout* form, const QString& label, const char* object_name);

  bool reference_;
  QLabel* status_;
  QLabel *ttft_, *speed_, *weights_, *kl_mean_, *kl_p99_, *top1_;
  QLabel* accuracy_ = nullptr;  // with an evaluation set only
  QFormLayout* form_ = nullptr;
  QPlainTextEdit* answer_;
};

}  // namespace ql::ui
