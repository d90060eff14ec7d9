#include "core/engine/compare_report_json.h"

namespace ql::engine {
namespace {

nlohmann::json row_json(const PrecisionRow& r) {
  nlohmann::json answers = nlohmann::json::array(), ids = nlohmann::json::array(), kl = nlohmann::json::array(),
                 top1 = nlohmann::json::array();
  for (const PromptOutcome& p : r.prompts) {
    answers.push_back(p.answer);
    ids.push_back(p.answer_ids);
    kl.push_back(p.kl);
    top1.push_back(p.forced_top1);
  }
  return {
      {"name", r.name},
      {"loaded_precision", r.loaded_precision},
      {"reference", r.reference},
      {"added", r.added},
      {"weights_bytes", r.weight_bytes},
      {"load_ms", r.load_ms},
      {"kl_mean", r.fidelity.kl_mean},
      {"kl_p99", r.fidelity.kl_p99},
      {"top1_agreement", r.fidelity.top1_agreement},
      {"positions", r.fidelity.positions},
      {"decode_tok_s", r.decode_tok_s},
      {"ttft_ms", r.ttft_ms},
      {"answers", std::move(answers)},
      {"answer_ids", std::move(ids)},
      {"kl_per_position", std::move(kl)},
      {"forced_top1_ids", std::move(top1)},
  };
}

}  // namespace

nlohmann::json compare_report_json(const CompareReport& report) {
  nlohmann::json prompts = nlohmann::json::array(), rows = nlohmann::json::array();
  for (const PromptInfo& p : report.prompts) {
    prompts.push_back({{"label", p.label}, {"prompt_tokens", p.prompt_tokens}, {"positions", p.positions}});
  }
  for (const PrecisionRow& r : report.precisions) rows.push_back(row_json(r));
  return {{"reference", report.reference},
          {"sequential", report.sequential},
          {"placement", report.placement},
          {"tokens", report.tokens},
          {"prompts", std::move(prompts)},
          {"precisions", std::move(rows)}};
}

}  // namespace ql::engine
