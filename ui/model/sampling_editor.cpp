#include "ui/model/sampling_editor.h"

#include <QCheckBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLabel>
#include <QSpinBox>
#include <limits>

namespace ql::ui {
namespace {

QDoubleSpinBox* double_spin(QWidget* parent, double lo, double hi, double step, int decimals, const QString& tip) {
  auto* s = new QDoubleSpinBox(parent);
  s->setRange(lo, hi);
  s->setSingleStep(step);
  s->setDecimals(decimals);
  s->setToolTip(tip);
  return s;
}

}  // namespace

SamplingEditor::SamplingEditor(QWidget* parent) : QWidget(parent) {
  auto* form = new QFormLayout(this);
  form->setContentsMargins(0, 0, 0, 0);

  use_defaults_ = new QCheckBox(tr("Use the model's defaults"), this);
  use_defaults_->setObjectName("samplingModelDefaults");
  use_defaults_->setToolTip(tr("Sample as the model's generation_config.json says (for Qwen3-VL Instruct: "
                               "temperature 0.7, top-k 20, top-p 0.8)."));
  form->addRow(use_defaults_);
  defaults_note_ = new QLabel(this);
  defaults_note_->setWordWrap(true);
  defaults_note_->setEnabled(false);  // drawn greyed: an explanation, not a control
  form->addRow(defaults_note_);

  temperature_ = double_spin(this, 0, 2, 0.05, 2, tr("Randomness of sampling; 0 = greedy (always the most likely token)."));
  temperature_->setObjectName("samplingTemperature");
  form->addRow(tr("Temperature"), temperature_);
  top_k_ = new QSpinBox(this);
  top_k_->setRange(0, 100000);
  top_k_->setToolTip(tr("Sample among the k most likely tokens only; 0 = off."));
  top_k_->setObjectName("samplingTopK");
  form->addRow(tr("Top-k"), top_k_);
  top_p_ = double_spin(this, 0.01, 1, 0.05, 2, tr("Sample among the most likely tokens whose probabilities add up to p; 1 = off."));
  form->addRow(tr("Top-p"), top_p_);
  min_p_ = double_spin(this, 0, 1, 0.01, 2, tr("Drop tokens less likely than min-p x the most likely one; 0 = off."));
  form->addRow(tr("Min-p"), min_p_);
  repetition_ = double_spin(this, 0.5, 2, 0.05, 2, tr("Penalises tokens already in the conversation (multiplicative); 1 = off."));
  form->addRow(tr("Repetition penalty"), repetition_);
  presence_ = double_spin(this, -2, 2, 0.1, 2, tr("Subtracted from the logit of every token already generated; 0 = off."));
  form->addRow(tr("Presence penalty"), presence_);

  random_seed_ = new QCheckBox(tr("Random seed"), this);
  random_seed_->setToolTip(tr("A fresh seed for every answer (the seed used is shown with the answer); "
                              "untick to repeat answers exactly."));
  seed_ = new QSpinBox(this);
  seed_->setRange(0, std::numeric_limits<int>::max());
  seed_->setToolTip(tr("The seed used when Random seed is off: the same seed and settings give the same answer."));
  form->addRow(random_seed_, seed_);

  max_tokens_ = new QSpinBox(this);
  max_tokens_->setObjectName("samplingMaxTokens");
  max_tokens_->setRange(1, 32768);
  max_tokens_->setToolTip(tr("The longest answer, in tokens; an answer also ends at the model's end-of-turn token."));
  form->addRow(tr("Max answer tokens"), max_tokens_);

  for (QDoubleSpinBox* s : {temperature_, top_p_, min_p_, repetition_, presence_})
    connect(s, &QDoubleSpinBox::valueChanged, this, &SamplingEditor::changed);
  for (QSpinBox* s : {top_k_, seed_, max_tokens_}) connect(s, &QSpinBox::valueChanged, this, &SamplingEditor::changed);
  for (QCheckBox* c : {use_defaults_, random_seed_}) connect(c, &QCheckBox::toggled, this, &SamplingEditor::changed);

  showModelDefaults(model::published_generation_defaults());
  setSettings(SamplingSettings{});
}

SamplingSettings SamplingEditor::settings() const {
  SamplingSettings s;
  s.use_model_defaults = use_defaults_->isChecked();
  s.temperature = temperature_->value();
  s.top_k = top_k_->value();
  s.top_p = top_p_->value();
  s.min_p = min_p_->value();
  s.repetition_penalty = repetition_->value();
  s.presence_penalty = presence_->value();
  s.random_seed = random_seed_->isChecked();
  s.seed = static_cast<qulonglong>(seed_->value());
  s.max_new_tokens = max_tokens_->value();
  return s;
}

void SamplingEditor::setSettings(const SamplingSettings& s) {
  updating_ = true;
  use_defaults_->setChecked(s.use_model_defaults);
  temperature_->setValue(s.temperature);
  top_k_->setValue(s.top_k);
  top_p_->setValue(s.top_p);
  min_p_->setValue(s.min_p);
  repetition_->setValue(s.repetition_penalty);
  presence_->setValue(s.presence_penalty);
  random_seed_->setChecked(s.random_seed);
  seed_->setValue(static_cast<int>(std::min<qulonglong>(s.seed, std::numeric_limits<int>::max())));
  max_tokens_->setValue(s.max_new_tokens);
  updating_ = false;
  updateEnabled();
  emit settingsChanged(settings());
}

void SamplingEditor::showModelDefaults(const model::GenerationConfig& g) {
  const QString how = g.do_sample ? tr("temperature %1, top-k %2, top-p %3, repetition penalty %4")
                                        .arg(g.temperature)
                                        .arg(g.top_k)
                                        .arg(g.top_p)
                                        .arg(g.repetition_penalty)
                                  : tr("greedy (do_sample is false)");
  defaults_note_->setText(tr("Model defaults: %1.").arg(how));
}

void SamplingEditor::updateEnabled() {
  const bool own = !use_defaults_->isChecked();
  for (QWidget* w : std::initializer_list<QWidget*>{temperature_, top_k_, top_p_, min_p_, repetition_, presence_})
    w->setEnabled(own);
  defaults_note_->setVisible(!own);
  seed_->setEnabled(!random_seed_->isChecked());
}

void SamplingEditor::changed() {
  updateEnabled();
  if (!updating_) emit settingsChanged(settings());
}

}  // namespace ql::ui
