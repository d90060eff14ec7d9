#include "ui/model/model_panel.h"

#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QMenu>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>
#include <cmath>

#include "core/vision/preprocess_config.h"
#include "ui/model/precision_editor.h"
#include "ui/model/sampling_editor.h"
#include "core/backend/backend_registry.h"
#include "ui/model/system_memory.h"

namespace ql::ui {
namespace {

// Used when /proc/meminfo cannot be read: a common size, said to be a guess.
constexpr double kFallbackBudgetGib = 16.0;

QString folder_name(const QString& dir) { return QFileInfo(QDir::cleanPath(dir)).fileName(); }

}  // namespace

ModelPanel::ModelPanel(EngineController* engine, AppSettings* settings, QWidget* parent)
    : QWidget(parent), engine_(engine), settings_(settings) {
  setObjectName("modelPanel");
  machine_ram_gib_ = machine_ram_gib().value_or(0.0);
  // A usable GPU (the CUDA backend registered by the app, and its probe
  // passing): the default budget is its free memory.
  if (const auto* cuda = backend::find_backend_provider("cuda")) {
    if (auto probe = cuda->probe(); probe.ok() && cuda->free_memory) {
      gpu_free_gib_ = static_cast<double>(cuda->free_memory()) / (1024.0 * 1024.0 * 1024.0);
      gpu_description_ = QString::fromStdString(*probe);
    }
  }

  auto* content = new QWidget;
  // Wide enough for the form's labels and values side by side (the scroll
  // area would otherwise let the dock squeeze them).
  setMinimumWidth(340);
  auto* layout = new QVBoxLayout(content);
  layout->addWidget(buildModelBox());
  layout->addWidget(buildPrecisionBox());
  layout->addWidget(buildSamplingBox());
  layout->addWidget(buildSystemPromptBox());
  layout->addStretch(1);

  // The panel is taller than a small window: it scrolls rather than squeezing.
  auto* scroll = new QScrollArea(this);
  scroll->setWidget(content);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(0, 0, 0, 0);
  outer->addWidget(scroll);

  restoreSettings();

  connect(engine_, &EngineController::busyChanged, this, [this] { updateLoadButton(); });
  connect(engine_, &EngineController::loadFinished, this, &ModelPanel::onLoadFinished);
  showLoadedModel();
}

QWidget* ModelPanel::buildModelBox() {
  auto* box = new QGroupBox(tr("Model"));
  auto* layout = new QVBoxLayout(box);
  folder_label_ = new QLabel(tr("No folder chosen."), box);
  folder_label_->setObjectName("modelFolder");
  folder_label_->setWordWrap(true);
  folder_label_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(folder_label_);

  auto* buttons = new QHBoxLayout;
  auto* open = new QPushButton(tr("Open folder..."), box);
  open->setObjectName("openFolderButton");
  open->setToolTip(tr("Choose a Hugging Face checkpoint folder (config.json, *.safetensors) (Ctrl+O). "
                      "You can also drop the folder on the window."));
  connect(open, &QPushButton::clicked, this, &ModelPanel::chooseFolder);
  buttons->addWidget(open);
  recent_menu_ = new QMenu(tr("Recent models"), this);
  recent_button_ = new QToolButton(box);
  recent_button_->setText(tr("Recent"));
  recent_button_->setToolTip(tr("Model folders loaded before"));
  recent_button_->setMenu(recent_menu_);
  recent_button_->setPopupMode(QToolButton::InstantPopup);
  buttons->addWidget(recent_button_);
  buttons->addStretch(1);
  layout->addLayout(buttons);

  loaded_label_ = new QLabel(box);
  loaded_label_->setObjectName("loadedModel");
  loaded_label_->setWordWrap(true);
  layout->addWidget(loaded_label_);
  return box;
}

QWidget* ModelPanel::buildPrecisionBox() {
  auto* box = new QGroupBox(tr("Precision and memory"));
  auto* form = new QFormLayout(box);
  precision_ = new PrecisionEditor(box);
  form->addRow(tr("Precision"), precision_);

  budget_ = new QDoubleSpinBox(box);
  budget_->setObjectName("memoryBudget");
  budget_->setRange(0.5, 4096);
  budget_->setDecimals(1);
  budget_->setSingleStep(1);
  budget_->setSuffix(tr(" GiB"));
  budget_->setToolTip(tr("The memory the model may use. The CPU backend has no GPU: the model lives in RAM, so "
                         "the default is this machine's RAM. With the CUDA backend this is the GPU's memory."));
  auto* ram = new QToolButton(box);
  ram->setText(tr("RAM"));
  ram->setToolTip(tr("Set the budget to this machine's RAM"));
  connect(ram, &QToolButton::clicked, this, [this] {
    budget_->setValue(machine_ram_gib_ > 0 ? machine_ram_gib_ : kFallbackBudgetGib);
  });
  auto* budget_row = new QHBoxLayout;
  budget_row->addWidget(budget_, 1);
  budget_row->addWidget(ram);
  form->addRow(tr("Memory budget"), budget_row);
  budget_note_ = new QLabel(box);
  budget_note_->setWordWrap(true);
  if (gpu_free_gib_ > 0) {
    budget_note_->setText(tr("GPU: %1. The default budget is its free memory.").arg(gpu_description_));
  } else {
    budget_note_->setText(machine_ram_gib_ > 0
                              ? tr("This machine's RAM: %1 GiB (/proc/meminfo). CPU backend: no GPU, so the "
                                   "budget is RAM.")
                                    .arg(machine_ram_gib_, 0, 'f', 1)
                              : tr("This machine's RAM could not be read (/proc/meminfo); %1 GiB is a guess.")
                                    .arg(kFallbackBudgetGib));
  }
  form->addRow(budget_note_);

  context_ = new QSpinBox(box);
  context_->setObjectName("contextTokens");
  context_->setRange(256, 262144);
  context_->setSingleStep(1024);
  context_->setSuffix(tr(" tokens"));
  context_->setToolTip(tr("The KV cache's size: the longest conversation (images count as many tokens). "
                          "Longer costs memory (see the estimate)."));
  form->addRow(tr("Context"), context_);

  batch_ = new QSpinBox(box);
  batch_->setObjectName("batchSize");
  batch_->setRange(1, engine::kMaxParallel);
  batch_->setToolTip(tr("Requests decoded together (one KV cache each, counted in the memory plan): the local "
                        "server answers this many clients at once; the chat uses one."));
  form->addRow(tr("Parallel requests"), batch_);

  estimate_label_ = new QLabel(box);
  estimate_label_->setObjectName("planEstimate");
  estimate_label_->setWordWrap(true);
  estimate_label_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  form->addRow(estimate_label_);

  load_ = new QPushButton(tr("Load"), box);
  load_->setObjectName("loadButton");
  connect(load_, &QPushButton::clicked, this, [this] { loadSelected(); });
  form->addRow(load_);

  auto persist_and_estimate = [this] {
    settings_->setPrecision(precision_->precision());
    settings_->setMemoryBudgetGib(budget_->value());
    settings_->setContextTokens(context_->value());
    settings_->setBatch(batch_->value());
    updateEstimate();
  };
  connect(precision_, &PrecisionEditor::precisionChanged, this, persist_and_estimate);
  connect(budget_, &QDoubleSpinBox::valueChanged, this, persist_and_estimate);
  connect(context_, &QSpinBox::valueChanged, this, persist_and_estimate);
  connect(batch_, &QSpinBox::valueChanged, this, persist_and_estimate);
  return box;
}

QWidget* ModelPanel::buildSamplingBox() {
  auto* box = new QGroupBox(tr("Sampling"));
  auto* layout = new QVBoxLayout(box);
  sampling_ = new SamplingEditor(box);
  layout->addWidget(sampling_);
  connect(sampling_, &SamplingEditor::settingsChanged, this, [this](const SamplingSettings& s) {
    settings_->setSampling(s);
    emit samplingChanged(s.toOptions());
    emit maxNewTokensChanged(s.max_new_tokens);
  });
  return box;
}

QWidget* ModelPanel::buildSystemPromptBox() {
  auto* box = new QGroupBox(tr("System prompt"));
  auto* layout = new QVBoxLayout(box);
  system_prompt_ = new QPlainTextEdit(box);
  system_prompt_->setObjectName("systemPrompt");
  system_prompt_->setPlaceholderText(tr("Instructions for every answer, e.g. \"Answer in one short paragraph.\""));
  system_prompt_->setToolTip(tr("Sent first in every conversation. Changing it applies from the next question."));
  system_prompt_->setMaximumHeight(110);
  layout->addWidget(system_prompt_);
  // Saved and passed on once typing pauses, not at every key.
  system_prompt_timer_ = new QTimer(this);
  system_prompt_timer_->setSingleShot(true);
  system_prompt_timer_->setInterval(300);
  connect(system_prompt_, &QPlainTextEdit::textChanged, system_prompt_timer_, qOverload<>(&QTimer::start));
  connect(system_prompt_timer_, &QTimer::timeout, this, [this] {
    settings_->setSystemPrompt(system_prompt_->toPlainText());
    emit systemPromptChanged(system_prompt_->toPlainText());
  });
  return box;
}

double ModelPanel::defaultBudgetGib() const {
  if (gpu_free_gib_ > 0) return gpu_free_gib_;
  return machine_ram_gib_ > 0 ? machine_ram_gib_ : kFallbackBudgetGib;
}

void ModelPanel::restoreSettings() {
  const QSignalBlocker b1(precision_), b2(budget_), b3(context_), b4(batch_);
  if (!precision_->setPrecision(settings_->precision())) precision_->setPrecision("bf16");
  const double budget = settings_->memoryBudgetGib();
  budget_->setValue(budget > 0 ? budget : defaultBudgetGib());
  context_->setValue(settings_->contextTokens());
  batch_->setValue(settings_->batch());
  sampling_->setSettings(settings_->sampling());
  {
    const QSignalBlocker b5(system_prompt_);
    system_prompt_->setPlainText(settings_->systemPrompt());
  }
  rebuildRecentMenu();
  updateEstimate();
}

bool ModelPanel::openFolder(const QString& path) {
  const QString dir = QDir::cleanPath(QFileInfo(path).absoluteFilePath());
  const QString name = folder_name(dir);
  if (!QFileInfo(dir).isDir()) {
    emit errorRaised(tr("%1 is not a folder").arg(name), tr("%1: no such folder").arg(dir));
    return false;
  }
  if (!QFileInfo::exists(QDir(dir).filePath("config.json"))) {
    emit errorRaised(tr("%1 is not a model folder").arg(name),
                     tr("%1 has no config.json. A model folder is a Hugging Face checkpoint: config.json, "
                        "*.safetensors (and model.safetensors.index.json when sharded), generation_config.json, "
                        "preprocessor_config.json, tokenizer.json.")
                         .arg(dir));
    return false;
  }
  auto config = model::load_model_config(dir.toStdString());
  if (!config) {
    emit errorRaised(tr("%1: config.json cannot be used").arg(name), QString::fromStdString(config.message()));
    return false;
  }
  auto pre = vision::load_preprocess_config(dir.toStdString());
  max_image_pixels_ = pre ? pre->max_pixels : vision::PreprocessConfig{}.max_pixels;
  config_ = std::move(config).value();
  dir_ = dir;
  folder_label_->setText(tr("<b>%1</b><br><small>%2</small>").arg(name.toHtmlEscaped(), dir.toHtmlEscaped()));
  folder_label_->setToolTip(dir);
  updateEstimate();
  emit folderOpened(dir_);
  return true;
}

void ModelPanel::chooseFolder() {
  const QString start = dir_.isEmpty() ? QDir::homePath() : QFileInfo(dir_).absolutePath();
  const QString dir = QFileDialog::getExistingDirectory(this, tr("Open a model folder"), start);
  if (!dir.isEmpty()) openFolder(dir);
}

LoadSettings ModelPanel::loadSettings() const {
  LoadSettings s;
  s.model_dir = dir_;
  s.precision = precision_->precision();
  s.context_tokens = context_->value();
  s.batch = batch_->value();
  s.memory_budget_gib = budget_->value();
  return s;
}

void ModelPanel::updateEstimate() {
  if (!config_) {
    estimate_ = {};
    estimate_label_->setText(tr("Open a model folder to see what it needs before loading."));
    estimate_label_->setToolTip({});
    estimate_label_->setStyleSheet({});
    updateLoadButton();
    return;
  }
  PlanInput in;
  in.precision = precision_->precision();
  in.context_tokens = context_->value();
  in.batch = batch_->value();
  in.budget_gib = budget_->value();
  in.max_image_pixels = max_image_pixels_;
  estimate_ = estimate_plan(*config_, in);
  estimate_label_->setText(estimate_.summary());
  estimate_label_->setToolTip(estimate_.breakdown());
  const bool bad = !estimate_.ok() || !estimate_.fits;
  // Red for "does not fit": the one thing on this panel that must not be missed.
  estimate_label_->setStyleSheet(bad ? "QLabel { color: #d0342c; font-weight: bold; }" : "");
  updateLoadButton();
}

void ModelPanel::updateLoadButton() {
  QString why;
  if (dir_.isEmpty()) why = tr("Open a model folder first.");
  else if (!estimate_.ok()) why = estimate_.summary();
  else if (!estimate_.fits) why = estimate_.summary();
  else if (engine_->busy()) why = tr("The engine is busy (%1).").arg(engine_->currentJob());
  load_->setEnabled(why.isEmpty());
  load_->setToolTip(why.isEmpty() ? tr("Load %1 as %2 (Ctrl+L)").arg(folder_name(dir_), estimate_.resolved_precision)
                                  : why);
}

bool ModelPanel::loadSelected() {
  if (dir_.isEmpty() || !estimate_.ok() || !estimate_.fits) return false;
  if (!engine_->loadModel(loadSettings())) return false;
  loading_dir_ = dir_;
  return true;
}

void ModelPanel::onLoadFinished(bool ok, bool cancelled, const QString& error) {
  const QString dir = std::exchange(loading_dir_, QString());
  showLoadedModel();
  if (dir.isEmpty()) return;  // a comparison's reload, not ours
  if (ok) {
    settings_->setLastModelDir(dir);
    settings_->addRecentModel(dir);
    rebuildRecentMenu();
    emit modelLoaded(dir);
    return;
  }
  if (!cancelled) emit errorRaised(tr("Loading %1 failed").arg(folder_name(dir)), error);
}

void ModelPanel::showLoadedModel() {
  const auto info = engine_->modelInfo();
  if (!info) {
    loaded_label_->setText(tr("No model loaded."));
    return;
  }
  const QString dir = QString::fromStdString(info->dir);
  loaded_label_->setText(tr("Loaded: <b>%1</b>, %2, weights %3, context %4 tokens, %5 backend")
                             .arg(folder_name(dir).toHtmlEscaped(), QString::fromStdString(info->precision).toHtmlEscaped(),
                                  human_bytes(info->weight_bytes))
                             .arg(info->context_tokens)
                             .arg(QString::fromStdString(info->backend_name)));
  loaded_label_->setToolTip(dir);
  sampling_->showModelDefaults(info->generation);
}

void ModelPanel::rebuildRecentMenu() {
  recent_menu_->clear();
  const QStringList recent = settings_->recentModels();
  for (const QString& dir : recent) {
    QAction* a = recent_menu_->addAction(folder_name(dir));
    a->setToolTip(dir);
    a->setData(dir);
    connect(a, &QAction::triggered, this, [this, dir] {
      if (!QFileInfo(dir).isDir()) {
        settings_->removeRecentModel(dir);
        // Not now: this action is in the menu that a rebuild deletes.
        QMetaObject::invokeMethod(this, [this] { rebuildRecentMenu(); }, Qt::QueuedConnection);
      }
      openFolder(dir);
    });
  }
  if (recent.isEmpty()) recent_menu_->addAction(tr("(none yet)"))->setEnabled(false);
  recent_menu_->addSeparator();
  QAction* clear = recent_menu_->addAction(tr("Clear the list"));
  clear->setEnabled(!recent.isEmpty());
  connect(clear, &QAction::triggered, this, [this] {
    for (const QString& d : settings_->recentModels()) settings_->removeRecentModel(d);
    QMetaObject::invokeMethod(this, [this] { rebuildRecentMenu(); }, Qt::QueuedConnection);
  });
  recent_button_->setEnabled(true);
}

}  // namespace ql::ui
