#pragma once
// The precision choice of the model panel: a preset (bf16 ... nf4, auto) or
// "Per component", which shows one format per policy key (vision, attention,
// router, experts, embeddings, lm_head, norms). Its value is the text
// LoadOptions::precision and the planner take (core/quant/precision_policy.h).
#include <QString>
#include <QWidget>
#include <array>

#include "core/quant/precision_policy.h"

class QComboBox;
class QLabel;

namespace ql::ui {

class PrecisionEditor : public QWidget {
  Q_OBJECT
 public:
  explicit PrecisionEditor(QWidget* parent = nullptr);

  // A preset name, "auto", or the canonical per-component list.
  QString precision() const;
  // Accepts what precision() gives (anything parse_precision takes); an
  // unknown text leaves the editor unchanged and returns false.
  bool setPrecision(const QString& text);

  QComboBox* presetCombo() const { return preset_; }
  QComboBox* componentCombo(quant::PolicyKey key) const { return formats_[static_cast<size_t>(key)]; }
  bool isCustom() const;

 signals:
  void precisionChanged(const QString& precision);

 private:
  void showPolicy(const quant::PrecisionPolicy& policy);
  quant::PrecisionPolicy customPolicy() const;
  void onPresetChosen();

  QComboBox* preset_ = nullptr;
  QWidget* custom_box_ = nullptr;
  std::array<QComboBox*, quant::kPolicyKeyCount> formats_{};
  bool updating_ = false;
};

}  // namespace ql::ui
