#include "ui/model/plan_estimate.h"

#include <QCoreApplication>
#include <QStringList>

#include "core/model/tensor_schema.h"
#include "core/quant/memory_budget.h"
#include "core/quant/precision_policy.h"
#include "core/quant/tensor_precision.h"

namespace ql::ui {
namespace {

QString tr(const char* text) { return QCoreApplication::translate("PlanEstimate", text); }

QString qsv(std::string_view s) { return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size())); }

constexpr model::Component kComponents[] = {
    model::Component::kVision,   model::Component::kAttention,  model::Component::kRouter,
    model::Component::kExperts,  model::Component::kDenseMlp,   model::Component::kEmbeddings,
    model::Component::kLmHead,   model::Component::kTextNorms};

}  // namespace

QString human_bytes(uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (bytes < quant::kGiB) return QString::number(b / quant::kMiB, 'f', 1) + " MiB";
  return QString::number(b / quant::kGiB, 'f', 2) + " GiB";
}

PlanEstimate estimate_plan(const model::ModelConfig& config, const PlanInput& input) {
  PlanEstimate e;
  auto choice = quant::parse_precision(input.precision.toStdString());
  if (!choice) {
    e.error = QString::fromStdString(choice.message());
    return e;
  }
  std::optional<quant::MemoryBudget> budget;
  if (input.budget_gib > 0) {
    auto b = quant::budget_from_gib(input.budget_gib);
    if (!b) {
      e.error = QString::fromStdString(b.message());
      return e;
    }
    budget = *b;
  }
  if (choice->automatic && !budget) {
    e.error = tr("auto needs a memory budget: it picks the highest precision that fits it");
    return e;
  }
  quant::PlanRequest request;
  request.context_tokens = input.context_tokens;
  request.batch = input.batch;
  request.max_image_pixels = input.max_image_pixels;
  auto plan = quant::plan_precision(config, *choice, request, budget);
  if (!plan) {
    e.error = QString::fromStdString(plan.message());
    return e;
  }
  e.resolved_precision = QString::fromStdString(quant::precision_string(plan->policy));
  if (budget) {
    const quant::FitCheck fit = quant::check_fit(*plan, *budget);
    e.has_budget = true;
    e.fits = fit.fits;
    e.usable_bytes = budget->usable_bytes();
    e.margin_bytes = fit.margin_bytes;
  }
  e.plan = std::move(plan).value();
  return e;
}

QString PlanEstimate::summary() const {
  if (!ok()) return tr("No estimate: %1").arg(error);
  const quant::MemoryPlan& p = *plan;
  const QString parts = tr("weights %1 + KV cache %2 + workspace %3 + runtime %4")
                            .arg(human_bytes(p.weights_bytes), human_bytes(p.kv_cache_bytes),
                                 human_bytes(p.workspace_bytes()), human_bytes(p.runtime_overhead_bytes));
  if (!has_budget) return tr("%1 needs %2 (%3).").arg(resolved_precision, human_bytes(p.total_bytes()), parts);
  const double budget_gib = static_cast<double>(usable_bytes + quant::kDeviceReserveBytes) / quant::kGiB;
  if (!fits)
    return tr("Does not fit: %1 needs %2 (%3), but a budget of %4 GiB leaves %5 usable: %6 short. "
              "Choose a smaller precision, a shorter context or fewer parallel requests, or raise the budget.")
        .arg(resolved_precision, human_bytes(p.total_bytes()), parts, QString::number(budget_gib, 'f', 1),
             human_bytes(usable_bytes), human_bytes(static_cast<uint64_t>(-margin_bytes)));
  return tr("Fits: %1 needs %2 (%3) of %4 usable; %5 to spare.")
      .arg(resolved_precision, human_bytes(p.total_bytes()), parts, human_bytes(usable_bytes),
           human_bytes(static_cast<uint64_t>(margin_bytes)));
}

QString PlanEstimate::breakdown() const {
  if (!ok()) return {};
  const quant::MemoryPlan& p = *plan;
  QStringList lines;
  for (model::Component c : kComponents) {
    if (c == model::Component::kDenseMlp && p[c] == 0) continue;  // no mlp_only layers
    lines << QString("%1 (%2): %3")
                 .arg(qsv(model::component_name(c)))
                 .arg(qsv(quant::policy_format_name(p.policy[quant::policy_key_for(c)])))
                 .arg(human_bytes(p[c]));
  }
  lines << tr("KV cache: %1 (%2 tokens x %3 sequences)")
               .arg(human_bytes(p.kv_cache_bytes))
               .arg(p.request.context_tokens)
               .arg(p.request.batch);
  lines << tr("workspace: %1 (largest step: %2)")
               .arg(human_bytes(p.workspace_bytes()))
               .arg(qsv(quant::workspace_step_name(p.workspace.largest())));
  lines << tr("runtime: %1 (CUDA context and cuBLAS on a GPU; counted on the CPU backend too)")
               .arg(human_bytes(p.runtime_overhead_bytes));
  lines << tr("total: %1").arg(human_bytes(p.total_bytes()));
  return lines.join('\n');
}

}  // namespace ql::ui
