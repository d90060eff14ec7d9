#include "ui/model/precision_editor.h"

#include <QComboBox>
#include <QFormLayout>
#include <QVBoxLayout>

namespace ql::ui {
namespace {

constexpr const char* kAuto = "auto";
constexpr const char* kCustom = "custom";

QString qsv(std::string_view s) { return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size())); }

QString preset_tooltip(std::string_view name) {
  if (name == "bf16") return QObject::tr("Every weight 16-bit (bfloat16), as the checkpoint stores it: the reference.");
  if (name == "fp16") return QObject::tr("Every weight float16 (values beyond fp16's range are clamped and reported).");
  if (name == "int8")
    return QObject::tr("Row-wise INT8 with LLM.int8 outliers for attention, experts and vision; embeddings, router "
                       "and lm_head stay 16-bit (as bitsandbytes).");
  if (name == "nf4")
    return QObject::tr("NF4 with double quantization (bitsandbytes' layout) for attention, experts and vision; "
                       "embeddings, router and lm_head stay 16-bit.");
  if (name == "nf4-mixed")
    return QObject::tr("Recommended: experts NF4, attention and lm_head INT8, router, vision and norms BF16.");
  return {};
}

}  // namespace

PrecisionEditor::PrecisionEditor(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  preset_ = new QComboBox(this);
  preset_->setObjectName("precisionPreset");
  // Its longest item must not set the panel's width.
  preset_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  preset_->setMinimumContentsLength(12);
  for (const auto& p : quant::precision_presets()) {
    preset_->addItem(qsv(p.name), qsv(p.name));
    preset_->setItemData(preset_->count() - 1, preset_tooltip(p.name), Qt::ToolTipRole);
  }
  preset_->addItem(tr("auto (highest that fits the budget)"), kAuto);
  preset_->setItemData(preset_->count() - 1,
                       tr("The planner picks the highest of bf16, int8, nf4-mixed, nf4 that fits the memory budget."),
                       Qt::ToolTipRole);
  preset_->addItem(tr("Per component..."), kCustom);
  preset_->setItemData(preset_->count() - 1, tr("Choose the format of each part of the model."), Qt::ToolTipRole);
  preset_->setToolTip(tr("How the weights are stored once loaded: they are quantized while loading."));
  layout->addWidget(preset_);

  custom_box_ = new QWidget(this);
  auto* form = new QFormLayout(custom_box_);
  form->setContentsMargins(12, 0, 0, 0);
  for (quant::PolicyKey key : quant::kPolicyKeys) {
    auto* combo = new QComboBox(custom_box_);
    combo->setObjectName(QString("precision_%1").arg(qsv(quant::policy_key_name(key))));
    // Norms (and the other never-quantized tensors) take a 16-bit dtype only.
    QStringList formats = {"bf16", "fp16"};
    if (key != quant::PolicyKey::kNorms) formats << "int8" << "nf4";
    combo->addItems(formats);
    formats_[static_cast<size_t>(key)] = combo;
    form->addRow(qsv(quant::policy_key_name(key)), combo);
    connect(combo, &QComboBox::currentIndexChanged, this, [this] {
      if (!updating_) emit precisionChanged(precision());
    });
  }
  custom_box_->setVisible(false);
  layout->addWidget(custom_box_);

  connect(preset_, &QComboBox::currentIndexChanged, this, [this] { onPresetChosen(); });
  onPresetChosen();
}

bool PrecisionEditor::isCustom() const { return preset_->currentData().toString() == kCustom; }

void PrecisionEditor::onPresetChosen() {
  const QString name = preset_->currentData().toString();
  custom_box_->setVisible(name == kCustom);
  // The per-component view starts from the preset chosen before, so that
  // "Per component" after "nf4-mixed" shows nf4-mixed to edit.
  if (name != kCustom && name != kAuto) {
    auto parsed = quant::parse_precision(name.toStdString());
    if (parsed) showPolicy(parsed->policy);
  }
  if (!updating_) emit precisionChanged(precision());
}

void PrecisionEditor::showPolicy(const quant::PrecisionPolicy& policy) {
  const bool was = updating_;
  updating_ = true;
  for (quant::PolicyKey key : quant::kPolicyKeys)
    componentCombo(key)->setCurrentText(qsv(quant::policy_format_name(policy[key])));
  updating_ = was;
}

quant::PrecisionPolicy PrecisionEditor::customPolicy() const {
  QStringList items;
  for (quant::PolicyKey key : quant::kPolicyKeys)
    items << QString("%1=%2").arg(qsv(quant::policy_key_name(key)), componentCombo(key)->currentText());
  auto parsed = quant::parse_precision(items.join(',').toStdString());
  return parsed ? parsed->policy : quant::PrecisionPolicy{};  // the combos offer valid formats only
}

QString PrecisionEditor::precision() const {
  const QString name = preset_->currentData().toString();
  if (name != kCustom) return name;
  return QString::fromStdString(quant::precision_string(customPolicy()));
}

bool PrecisionEditor::setPrecision(const QString& text) {
  auto parsed = quant::parse_precision(text.toStdString());
  if (!parsed) return false;
  updating_ = true;
  const QString canonical = QString::fromStdString(quant::precision_string(*parsed));
  int index = preset_->findData(canonical);
  if (index < 0) {  // not a preset: a per-component list
    index = preset_->findData(kCustom);
    showPolicy(parsed->policy);
  }
  preset_->setCurrentIndex(index);
  custom_box_->setVisible(preset_->currentData().toString() == kCustom);
  if (!parsed->automatic && index != preset_->findData(kCustom)) showPolicy(parsed->policy);
  updating_ = false;
  emit precisionChanged(precision());
  return true;
}

}  // namespace ql::ui
