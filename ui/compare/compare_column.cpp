#include "ui/compare/compare_column.h"

#include <QFormLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QTextCursor>
#include <QVBoxLayout>

#include "ui/compare/compare_markdown.h"

namespace ql::ui {
namespace {

constexpr const char* kPending = "…";

}  // namespace

CompareColumn::CompareColumn(const QString& precision, bool reference, bool added, QWidget* parent)
    : QFrame(parent), reference_(reference) {
  setFrameShape(QFrame::StyledPanel);
  setMinimumWidth(220);
  auto* layout = new QVBoxLayout(this);
  auto* title = new QLabel(QStringLiteral("<b>%1</b>").arg(precision.toHtmlEscaped()), this);
  title->setObjectName("title");
  title->setWordWrap(true);
  title->setToolTip(precision);
  layout->addWidget(title);
  if (reference) {
    auto* note = new QLabel(added ? tr("reference (added: the list had no 16-bit precision)")
                                  : tr("reference: the others are measured against it"),
                            this);
    note->setWordWrap(true);
    layout->addWidget(note);
  }
  status_ = new QLabel(tr("waiting"), this);
  status_->setObjectName("status");
  layout->addWidget(status_);

  auto* form = new QFormLayout;
  form_ = form;
  ttft_ = addFigure(form, tr("time to first token"), "ttft");
  speed_ = addFigure(form, tr("decode speed"), "tokensPerSecond");
  weights_ = addFigure(form, tr("weight memory"), "weights");
  kl_mean_ = addFigure(form, tr("KL mean (nats)"), "klMean");
  kl_p99_ = addFigure(form, tr("KL p99 (nats)"), "klP99");
  top1_ = addFigure(form, tr("top-1 agreement"), "top1");
  layout->addLayout(form);

  answer_ = new QPlainTextEdit(this);
  answer_->setObjectName("answer");
  answer_->setReadOnly(true);
  answer_->setPlaceholderText(tr("The answer streams in here."));
  layout->addWidget(answer_, 1);
}

void CompareColumn::showAccuracy(const engine::EvalRow& row) {
  if (!accuracy_) accuracy_ = addFigure(form_, tr("task accuracy"), "accuracy");
  QString text = tr("%1% (%2 of %3)")
                     .arg(100 * row.overall.accuracy(), 0, 'f', 1)
                     .arg(row.overall.right)
                     .arg(row.overall.total);
  if (!reference_) text += tr(", %1% of the reference's").arg(100 * row.retention, 0, 'f', 0);
  if (row.boxes > 0) text += tr("; box IoU %1").arg(row.mean_iou, 0, 'f', 2);
  QStringList types;
  for (const auto& [type, score] : row.by_type)
    types << QStringLiteral("%1 %2/%3").arg(QString::fromStdString(type)).arg(score.right).arg(score.total);
  accuracy_->setText(text);
  accuracy_->setToolTip(types.join('\n'));
}

QLabel* CompareColumn::addFigure(QFormLayout* form, const QString& label, const char* object_name) {
  auto* value = new QLabel(QString::fromUtf8(kPending), this);
  value->setObjectName(object_name);
  value->setTextInteractionFlags(Qt::TextSelectableByMouse);
  value->setWordWrap(true);  // four columns side by side can be narrow
  form->addRow(label, value);
  return value;
}

void CompareColumn::setStatus(const QString& status) { status_->setText(status); }

void CompareColumn::appendAnswer(const QString& text) {
  // insertPlainText at the end: appendPlainText would start a paragraph per token.
  QTextCursor cursor = answer_->textCursor();
  cursor.movePosition(QTextCursor::End);
  cursor.insertText(text);
  answer_->setTextCursor(cursor);
}

void CompareColumn::setAnswer(const QString& text) { answer_->setPlainText(text); }

QString CompareColumn::answer() const { return answer_->toPlainText(); }

void CompareColumn::showOutcome(const engine::PrecisionRow& row, size_t prompt) {
  ttft_->setText(tr("%1 ms").arg(row.ttft_ms, 0, 'f', 0));
  speed_->setText(tr("%1 tokens/s").arg(row.decode_tok_s, 0, 'f', 1));
  weights_->setText(QString::fromStdString(format_bytes(row.weight_bytes)));
  if (reference_) {
    // Measured against itself by definition: 0 and 100% would say nothing.
    for (QLabel* l : {kl_mean_, kl_p99_, top1_}) l->setText(tr("reference"));
  } else {
    kl_mean_->setText(QString::number(row.fidelity.kl_mean, 'g', 4));
    kl_p99_->setText(QString::number(row.fidelity.kl_p99, 'g', 4));
    top1_->setText(tr("%1% of %2 positions")
                       .arg(100.0 * row.fidelity.top1_agreement, 0, 'f', 1)
                       .arg(row.fidelity.positions));
  }
  if (prompt < row.prompts.size()) setAnswer(QString::fromStdString(row.prompts[prompt].answer));
  setStatus(tr("done (loaded as %1)").arg(QString::fromStdString(row.loaded_precision)));
}

}  // namespace ql::ui
