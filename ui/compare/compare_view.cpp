#include "ui/compare/compare_view.h"

#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSaveFile>
#include <QScrollArea>
#include <QSpinBox>
#include <QVBoxLayout>

#include "core/engine/compare_plan.h"
#include "core/quant/precision_policy.h"
#include "ui/charts/proc_memory.h"
#include "ui/compare/compare_column.h"
#include "ui/compare/compare_markdown.h"
#include "ui/engine/engine_controller.h"

namespace ql::ui {
namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }
QString size_text(uint64_t bytes) { return qs(format_bytes(bytes)); }

// "run one after another: ..." -> "Run one after another: ...".
QString sentence(const std::string& line) {
  QString s = qs(line);
  if (!s.isEmpty()) s[0] = s[0].toUpper();
  return s;
}

// What the slots hold when the view opens: the reference, the 8-bit preset
// and our recommended mix; the fourth is left free.
constexpr const char* kDefaultPrecisions[CompareView::kPrecisionSlots] = {"bf16", "int8", "nf4-mixed", ""};

}  // namespace

CompareView::CompareView(EngineController* engine, QWidget* parent) : QWidget(parent), engine_(engine) {
  auto* layout = new QVBoxLayout(this);
  auto* form = new QFormLayout;
  model_label_ = new QLabel(this);
  model_label_->setObjectName("modelLabel");
  model_label_->setWordWrap(true);
  form->addRow(tr("Model"), model_label_);

  question_ = new QPlainTextEdit(this);
  question_->setObjectName("questionEdit");
  question_->setPlaceholderText(tr("The question every precision answers"));
  question_->setFixedHeight(question_->fontMetrics().lineSpacing() * 4);
  form->addRow(tr("Question"), question_);

  auto* images_row = new QHBoxLayout;
  images_label_ = new QLabel(this);
  images_label_->setObjectName("imagesLabel");
  images_label_->setWordWrap(true);
  auto* add_images = new QPushButton(tr("Add images..."), this);
  auto* clear_images = new QPushButton(tr("No images"), this);
  images_row->addWidget(images_label_, 1);
  images_row->addWidget(add_images);
  images_row->addWidget(clear_images);
  form->addRow(tr("Images"), images_row);

  auto* eval_row = new QHBoxLayout;
  eval_label_ = new QLabel(tr("none: the question above runs"), this);
  eval_label_->setObjectName("evalSetLabel");
  eval_label_->setWordWrap(true);
  auto* choose_set = new QPushButton(tr("Choose set..."), this);
  choose_set->setObjectName("evalSetButton");
  choose_set->setToolTip(tr("A JSON file of questions with expected answers (quantlens-cli eval's format): each "
                            "precision answers them all and its task accuracy is shown beside KL"));
  auto* clear_set = new QPushButton(tr("No set"), this);
  clear_set->setObjectName("evalSetClear");
  eval_row->addWidget(eval_label_, 1);
  eval_row->addWidget(choose_set);
  eval_row->addWidget(clear_set);
  form->addRow(tr("Evaluation set"), eval_row);
  connect(choose_set, &QPushButton::clicked, this, &CompareView::chooseEvalSet);
  connect(clear_set, &QPushButton::clicked, this, [this] { setEvalSet({}); });

  auto* precisions_row = new QHBoxLayout;
  QStringList presets;
  for (const quant::PrecisionPreset& p : quant::precision_presets()) presets << qs(std::string(p.name));
  for (int i = 0; i < kPrecisionSlots; ++i) {
    auto* combo = new QComboBox(this);
    combo->setObjectName(QStringLiteral("precision%1").arg(i));
    combo->setEditable(true);  // a per-component policy can be typed too
    combo->setInsertPolicy(QComboBox::NoInsert);
    if (i >= 2) combo->addItem(QString());  // the optional slots can be empty
    combo->addItems(presets);
    combo->setCurrentText(QString::fromLatin1(kDefaultPrecisions[i]));
    combo->lineEdit()->setPlaceholderText(i >= 2 ? tr("(none)") : QString());
    combo->setToolTip(tr("A preset, or a policy such as experts=nf4,attention=int8"));
    combo->setMinimumContentsLength(10);
    precisions_[i] = combo;
    precisions_row->addWidget(combo, 1);
    connect(combo, &QComboBox::currentTextChanged, this, &CompareView::updatePlan);
  }
  tokens_ = new QSpinBox(this);
  tokens_->setObjectName("tokensSpin");
  tokens_->setRange(1, 512);
  tokens_->setValue(static_cast<int>(engine::kDefaultCompareTokens));
  tokens_->setSuffix(tr(" tokens"));
  tokens_->setToolTip(tr("Length of each greedy answer, and of the reference continuation fidelity is measured on"));
  precisions_row->addWidget(new QLabel(tr("answer length"), this));
  precisions_row->addWidget(tokens_);
  form->addRow(tr("Precisions"), precisions_row);
  layout->addLayout(form);

  plan_notice_ = new QLabel(this);
  plan_notice_->setObjectName("planNotice");
  plan_notice_->setWordWrap(true);
  plan_notice_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(plan_notice_);

  auto* buttons = new QHBoxLayout;
  run_button_ = new QPushButton(tr("Compare"), this);
  run_button_->setObjectName("runButton");
  stop_button_ = new QPushButton(tr("Stop"), this);
  stop_button_->setObjectName("stopButton");
  save_button_ = new QPushButton(tr("Save as Markdown..."), this);
  save_button_->setObjectName("saveMarkdownButton");
  status_ = new QLabel(this);
  status_->setObjectName("compareStatus");
  status_->setWordWrap(true);
  buttons->addWidget(run_button_);
  buttons->addWidget(stop_button_);
  buttons->addWidget(save_button_);
  buttons->addWidget(status_, 1);
  layout->addLayout(buttons);

  error_ = new QLabel(this);
  error_->setObjectName("compareError");
  error_->setWordWrap(true);
  error_->setStyleSheet("color: #b00020;");
  error_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  error_->hide();
  layout->addWidget(error_);

  auto* scroll = new QScrollArea(this);
  scroll->setWidgetResizable(true);
  auto* columns = new QWidget(scroll);
  columns_layout_ = new QHBoxLayout(columns);
  scroll->setWidget(columns);
  layout->addWidget(scroll, 1);

  connect(add_images, &QPushButton::clicked, this, &CompareView::addImages);
  connect(clear_images, &QPushButton::clicked, this, &CompareView::clearImages);
  connect(question_, &QPlainTextEdit::textChanged, this, &CompareView::updateButtons);
  connect(run_button_, &QPushButton::clicked, this, &CompareView::run);
  connect(stop_button_, &QPushButton::clicked, this, &CompareView::stop);
  connect(save_button_, &QPushButton::clicked, this, &CompareView::chooseAndSaveMarkdown);
  if (engine_) {
    connect(engine_, &EngineController::compareProgress, this, &CompareView::onProgress);
    connect(engine_, &EngineController::compareToken, this, &CompareView::onToken);
    connect(engine_, &EngineController::compareFinished, this, &CompareView::onFinished);
    connect(engine_, &EngineController::loadProgress, this, &CompareView::onLoadProgress);
    connect(engine_, &EngineController::busyChanged, this, &CompareView::onBusyChanged);
  }
  showImages();
  setModelDir({});
}

void CompareView::setModelDir(const QString& dir) {
  model_dir_ = dir;
  model_label_->setText(dir.isEmpty() ? tr("none: open a model first") : QDir::toNativeSeparators(dir));
  updatePlan();
}

void CompareView::setQuestion(const QString& text, const QStringList& image_paths) {
  question_->setPlainText(text);
  images_ = image_paths;
  showImages();
}

void CompareView::setMemoryBudgetGiB(double gib) {
  budget_gib_ = gib;
  updatePlan();
}

std::vector<std::string> CompareView::chosenPrecisions() const {
  std::vector<std::string> out;
  for (const QComboBox* combo : precisions_) {
    const QString text = combo->currentText().trimmed();
    if (!text.isEmpty()) out.push_back(text.toStdString());
  }
  return out;
}

double CompareView::budgetGiB(QString* source) const {
  if (budget_gib_ > 0) {
    *source = tr("the memory budget of %1 GiB from the settings").arg(budget_gib_);
    return budget_gib_;
  }
  // The CPU backend holds the weights in RAM: the machine's memory is the limit.
  if (auto ram = read_machine_memory()) {
    *source = tr("this machine's RAM, %1 (CPU backend)").arg(size_text(ram->total_bytes));
    return static_cast<double>(ram->total_bytes) / static_cast<double>(quant::kGiB);
  }
  *source = tr("no budget (the machine's RAM could not be read)");
  return 0;
}

QString CompareView::planNotice(const CompareMemoryEstimate& e, const engine::CompareMemory& placement,
                                const QString& budget_source) const {
  QStringList rows;
  for (const PrecisionMemory& row : e.rows) {
    rows << tr("%1 %2 (weights %3)%4")
                .arg(qs(row.name), size_text(row.total_bytes), size_text(row.weights_bytes),
                     row.added ? tr(" (reference, added)") : "");
  }
  QString text = tr("The planner, for these %1 precisions each loaded alone: %2; ").arg(e.rows.size()).arg(rows.join(", "));
  text += e.budget ? tr("against %1 usable of %2. ").arg(size_text(e.budget->usable_bytes()), budget_source)
                   : tr("%1. ").arg(budget_source);
  text += tr("The comparison will be %1.").arg(qs(placement.reason));
  if (e.budget && !e.one_at_a_time_fits) {
    text += tr(" Even the largest alone (%1) does not fit the budget: its load will be refused.")
                .arg(size_text(e.one_at_a_time_bytes));
  }
  return text;
}

QString CompareView::reportNotice(const engine::CompareReport& report) const {
  return sentence(report.placement) + QStringLiteral(".");
}

void CompareView::updatePlan() {
  estimate_.reset();
  placement_.reset();
  if (model_dir_.isEmpty()) {
    plan_notice_->setText(tr("Open a model to compare its precisions."));
  } else {
    // What run() will send: the engine's default context and this budget.
    engine::LoadOptions load;
    load.memory_budget_gib = budgetGiB(&budget_source_);
    run_budget_gib_ = load.memory_budget_gib;
    std::optional<quant::MemoryBudget> budget;
    if (load.memory_budget_gib > 0) {
      if (auto b = quant::budget_from_gib(load.memory_budget_gib)) budget = *b;
    }
    const std::vector<std::string> chosen = chosenPrecisions();
    auto e = estimate_compare_memory(model_dir_.toStdString(), chosen, load.context_tokens, budget);
    auto plan = engine::plan_compare_precisions(chosen);
    auto placement = e && plan ? engine::decide_compare_memory(model_dir_.toStdString(), *plan, load)
                               : Result<engine::CompareMemory>(e ? plan.error() : e.error());
    if (placement) {
      estimate_ = std::move(e).value();
      placement_ = std::move(placement).value();
      plan_notice_->setText(planNotice(*estimate_, *placement_, budget_source_));
    } else {
      plan_notice_->setText(tr("Cannot plan: %1").arg(qs(placement.message())));
    }
  }
  updateButtons();
}

void CompareView::updateButtons() {
  const bool engine_free = engine_ && !engine_->busy();
  run_button_->setEnabled(!running_ && engine_free && estimate_.has_value() && estimate_->rows.size() >= 2 &&
                          !question_->toPlainText().trimmed().isEmpty());
  stop_button_->setEnabled(running_);
  save_button_->setEnabled(!running_ && report_.has_value());
  for (QComboBox* c : precisions_) c->setEnabled(!running_);
  tokens_->setEnabled(!running_);
}

void CompareView::showImages() {
  QStringList names;
  for (const QString& p : images_) names << QFileInfo(p).fileName();
  images_label_->setText(names.isEmpty() ? tr("none") : names.join(", "));
  images_label_->setToolTip(images_.join('\n'));
}

void CompareView::addImages() {
  const QStringList files = QFileDialog::getOpenFileNames(this, tr("Images for the question"), {},
                                                          tr("Images (*.png *.jpg *.jpeg *.webp *.bmp)"));
  images_ += files;
  showImages();
}

void CompareView::clearImages() {
  images_.clear();
  showImages();
}

void CompareView::showError(const QString& text) {
  error_->setText(text);
  error_->setVisible(!text.isEmpty());
}

void CompareView::clearColumns() {
  for (CompareColumn* c : columns_) c->deleteLater();
  columns_.clear();
}

bool CompareView::run() {
  showError({});
  if (!engine_) return false;
  updatePlan();
  const QString question = question_->toPlainText().trimmed();
  if (question.isEmpty() && !eval_set_) {
    showError(tr("Write the question first, or choose an evaluation set."));
    return false;
  }
  const std::vector<std::string> chosen = chosenPrecisions();
  auto plan = engine::plan_compare_precisions(chosen);
  if (!plan) {
    showError(qs(plan.message()));
    return false;
  }
  if (plan->size() < 2) {
    showError(tr("Choose at least two precisions (or one that is not 16-bit: bf16 is added as its reference)."));
    return false;
  }

  engine::CompareRequest request;
  request.model_dir = model_dir_.toStdString();
  request.precisions = chosen;
  request.tokens = tokens_->value();
  // The budget the plan was shown for: the settings', or this machine's RAM.
  request.load.memory_budget_gib = run_budget_gib_;
  std::vector<engine::ImageInput> images;
  std::string label = question.toStdString();
  for (const QString& path : images_) {
    images.push_back(engine::ImageInput::file(path.toStdString()));
    label += " [" + QFileInfo(path).fileName().toStdString() + "]";
  }
  if (eval_set_) {
    request.prompts = eval_set_->prompts;  // the set's questions replace the question
  } else {
    request.prompts.push_back(
        {label, engine::Conversation{{engine::Message::user(question.toStdString(), std::move(images))}}});
  }

  if (!engine_->compare(request)) {
    showError(tr("The engine is busy (%1): wait until it ends or stop it.").arg(engine_->currentJob()));
    return false;
  }
  running_ = true;
  run_together_ = placement_ && placement_->together;
  report_.reset();
  run_eval_set_ = eval_set_;
  eval_report_.reset();
  report_notice_.clear();
  run_question_ = eval_set_ ? tr("%1 questions of %2").arg(eval_set_->items.size()).arg(eval_path_) : question;
  run_images_ = images_;
  clearColumns();
  for (const engine::ComparePrecision& p : *plan) {
    auto* column = new CompareColumn(qs(p.name), p.reference, p.added, this);
    column->setObjectName(QStringLiteral("column%1").arg(columns_.size()));
    columns_layout_->addWidget(column, 1);
    columns_.push_back(column);
  }
  status_->setText(tr("Comparing %1 precisions...").arg(plan->size()));
  updateButtons();
  return true;
}

void CompareView::stop() {
  if (running_ && engine_) {
    engine_->stop();
    status_->setText(tr("Stopping..."));
  }
}

void CompareView::onProgress(const engine::CompareStep& step) {
  if (!running_) return;
  for (size_t i = 0; i < columns_.size(); ++i) {
    const bool loading = step.prompt >= step.prompt_count;
    if (i < step.precision) {
      // Held together, every precision loads before any is measured.
      columns_[i]->setStatus(loading && run_together_ ? tr("loaded") : tr("measured"));
    } else if (i > step.precision) {
      columns_[i]->setStatus(tr("waiting"));
    } else if (step.prompt >= step.prompt_count) {
      columns_[i]->setStatus(step.load_fraction < 1 ? tr("loading %1%").arg(static_cast<int>(100 * step.load_fraction))
                                                    : tr("loaded"));
    } else {
      columns_[i]->setStatus(tr("answering, then measuring fidelity"));
    }
  }
  status_->setText(tr("Precision %1 of %2").arg(step.precision + 1).arg(step.precision_count));
}

void CompareView::onToken(int row, int prompt, const QString& text) {
  if (!running_ || prompt != 0 || row < 0 || static_cast<size_t>(row) >= columns_.size()) return;
  columns_[static_cast<size_t>(row)]->appendAnswer(text);
}

void CompareView::onLoadProgress(double fraction, const QString& stage) {
  // The controller loads the chat's model again after the comparison.
  if (running_) status_->setText(tr("%1 (%2%)").arg(stage).arg(static_cast<int>(100 * fraction)));
}

void CompareView::onFinished(bool ok, bool cancelled, const engine::CompareReport& report, const QString& error) {
  if (!running_) return;
  running_ = false;
  if (ok) {
    report_ = report;
    report_notice_ = reportNotice(report);
    for (size_t i = 0; i < columns_.size() && i < report.precisions.size(); ++i) {
      columns_[i]->showOutcome(report.precisions[i], 0);
    }
    plan_notice_->setText(report_notice_);
    status_->setText(tr("Done."));
    if (run_eval_set_) {
      auto scored = engine::score_eval(*run_eval_set_, report);
      if (scored) {
        eval_report_ = std::move(scored).value();
        for (size_t i = 0; i < columns_.size() && i < eval_report_->rows.size(); ++i)
          columns_[i]->showAccuracy(eval_report_->rows[i]);
        status_->setText(tr("Done: %1 questions; the columns show the first one's answer.")
                             .arg(run_eval_set_->items.size()));
      } else {
        showError(qs(scored.message()));
      }
    }
  } else if (cancelled) {
    for (CompareColumn* c : columns_) c->setStatus(tr("stopped"));
    status_->setText(tr("Stopped: nothing was measured; the columns keep what had streamed."));
  } else {
    status_->setText(tr("Failed."));
    showError(error);
  }
  updateButtons();
  emit comparisonFinished(ok);
}

void CompareView::onBusyChanged(bool) { updateButtons(); }

bool CompareView::setEvalSet(const QString& path) {
  showError({});
  if (path.isEmpty()) {
    eval_path_.clear();
    eval_set_.reset();
    eval_label_->setText(tr("none: the question above runs"));
    return true;
  }
  auto set = engine::load_eval_set(path.toStdString());
  if (!set) {
    showError(qs(set.message()));
    return false;
  }
  eval_path_ = path;
  eval_label_->setText(tr("%1: %2 questions (they replace the question above)")
                           .arg(QDir::toNativeSeparators(path))
                           .arg(set->items.size()));
  eval_set_ = std::move(set).value();
  return true;
}

void CompareView::chooseEvalSet() {
  const QString path = QFileDialog::getOpenFileName(this, tr("Choose an evaluation set"), QString(),
                                                    tr("Evaluation sets (*.json)"));
  if (!path.isEmpty()) setEvalSet(path);
}

QString CompareView::markdown() const {
  if (!report_) return {};
  CompareMarkdownInput in;
  in.model_dir = model_dir_.toStdString();
  in.question = run_question_.toStdString();
  for (const QString& p : run_images_) in.image_paths.push_back(p.toStdString());
  in.run_notice = report_notice_.toStdString();
  in.report = &*report_;
  if (eval_report_) in.accuracy = &*eval_report_;
  return qs(compare_markdown(in));
}

bool CompareView::saveMarkdown(const QString& path) {
  if (!report_) {
    showError(tr("Nothing to save: run a comparison first."));
    return false;
  }
  QSaveFile file(path);
  const QByteArray bytes = markdown().toUtf8();
  if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size() || !file.commit()) {
    showError(tr("Could not write %1: %2").arg(QDir::toNativeSeparators(path), file.errorString()));
    return false;
  }
  status_->setText(tr("Saved %1").arg(QDir::toNativeSeparators(path)));
  return true;
}

void CompareView::chooseAndSaveMarkdown() {
  const QString path = QFileDialog::getSaveFileName(this, tr("Save the comparison"), "comparison.md",
                                                    tr("Markdown (*.md)"));
  if (!path.isEmpty()) saveMarkdown(path);
}

}  // namespace ql::ui
