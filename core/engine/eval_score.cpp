#include "core/engine/eval_score.h"

#include "core/engine/answer_scoring.h"
#include "core/engine/grounding.h"

namespace ql::engine {

Result<EvalReport> score_eval(const EvalSet& set, const CompareReport& report) {
  EvalReport out;
  double reference_accuracy = 0;
  for (const PrecisionRow& p : report.precisions) {
    if (p.prompts.size() != set.items.size())
      return err("precision {} has {} answers for {} questions", p.name, p.prompts.size(), set.items.size());
    EvalRow row;
    row.name = p.name;
    row.reference = p.reference;
    row.weight_bytes = p.weight_bytes;
    row.fidelity = p.fidelity;
    double iou_sum = 0;
    for (size_t i = 0; i < set.items.size(); ++i) {
      const EvalItem& item = set.items[i];
      const std::string& answer = p.prompts[i].answer;
      bool right = false;
      if (item.box) {
        const GroundingParse g = parse_grounding(answer);
        double iou = 0;
        for (const GroundingShape& s : g.shapes) {
          if (s.kind != GroundingShape::Kind::kBox) continue;
          iou = box_iou(s.coords, *item.box);
          break;  // the first box is the answer
        }
        iou_sum += iou;
        ++row.boxes;
        right = iou >= kBoxHitIou;
      } else {
        right = answers_match(answer, *item.answer);
      }
      TypeScore& t = row.by_type[item.type];
      ++t.total;
      ++row.overall.total;
      if (right) {
        ++t.right;
        ++row.overall.right;
      }
      row.right.push_back(right);
    }
    row.mean_iou = row.boxes > 0 ? iou_sum / static_cast<double>(row.boxes) : 0;
    if (p.reference) reference_accuracy = row.overall.accuracy();
    out.rows.push_back(std::move(row));
  }
  for (EvalRow& r : out.rows)
    r.retention = reference_accuracy > 0 ? r.overall.accuracy() / reference_accuracy : 0;
  return out;
}

}  // namespace ql::engine
