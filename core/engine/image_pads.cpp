#include "core/engine/image_pads.h"

namespace ql::engine {
namespace {

bool bracketed(std::span<const int32_t> ids, const ImageSpan& s, const ImageTokenIds& t) {
  return s.pads_begin > 0 && ids[s.pads_begin - 1] == t.vision_start && s.pads_end < static_cast<int64_t>(ids.size()) &&
         ids[s.pads_end] == t.vision_end;
}

}  // namespace

std::vector<ImageSpan> find_image_spans(std::span<const int32_t> ids, const ImageTokenIds& t) {
  std::vector<ImageSpan> spans;
  const int64_t n = static_cast<int64_t>(ids.size());
  for (int64_t i = 0; i < n;) {
    if (ids[i] != t.image_pad) {
      ++i;
      continue;
    }
    ImageSpan s{i, i};
    while (s.pads_end < n && ids[s.pads_end] == t.image_pad) ++s.pads_end;
    spans.push_back(s);
    i = s.pads_end;
  }
  return spans;
}

Result<std::vector<int32_t>> expand_image_pads(std::span<const int32_t> ids, std::span<const int64_t> counts,
                                               const ImageTokenIds& t) {
  const auto spans = find_image_spans(ids, t);
  if (spans.size() != counts.size()) {
    return err("the prompt has {} image placeholder{} but {} image{} {} attached", spans.size(),
               spans.size() == 1 ? "" : "s", counts.size(), counts.size() == 1 ? "" : "s",
               counts.size() == 1 ? "is" : "are");
  }
  int64_t extra = 0;
  for (size_t k = 0; k < spans.size(); ++k) {
    if (spans[k].pad_count() != 1 || !bracketed(ids, spans[k], t)) {
      return err("image {}: the prompt's placeholder at token {} is not <|vision_start|><|image_pad|><|vision_end|>",
                 k, spans[k].pads_begin);
    }
    if (counts[k] < 1) return err("image {}: it has {} image tokens", k, counts[k]);
    extra += counts[k] - 1;
  }
  std::vector<int32_t> out;
  out.reserve(ids.size() + static_cast<size_t>(extra));
  size_t next = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (next < spans.size() && static_cast<int64_t>(i) == spans[next].pads_begin) {
      out.insert(out.end(), static_cast<size_t>(counts[next]), t.image_pad);
      ++next;
    } else {
      out.push_back(ids[i]);
    }
  }
  return out;
}

Status check_image_pads(std::span<const int32_t> ids, std::span<const int64_t> counts,
                        std::span<const std::string> labels, const ImageTokenIds& t) {
  auto label = [&](size_t k) { return k < labels.size() ? labels[k] : fmt::format("image {}", k); };
  const auto spans = find_image_spans(ids, t);
  // Pair runs with images first so that a miscount names the image it belongs to.
  for (size_t k = 0; k < spans.size() && k < counts.size(); ++k) {
    const ImageSpan& s = spans[k];
    if (s.pad_count() != counts[k]) {
      return err("{}: the input ids have {} image tokens (id {}) for image {}, the image needs {}", label(k),
                 s.pad_count(), t.image_pad, k, counts[k]);
    }
    if (!bracketed(ids, s, t)) {
      return err("{}: its image tokens (positions {}..{}) must sit between vision_start (id {}) and vision_end (id {})",
                 label(k), s.pads_begin, s.pads_end - 1, t.vision_start, t.vision_end);
    }
  }
  if (spans.size() > counts.size()) {
    return err("the input ids have {} runs of image tokens (id {}) but {} image{} given; the run at token {} has "
               "no image",
               spans.size(), t.image_pad, counts.size(), counts.size() == 1 ? " was" : "s were",
               spans[counts.size()].pads_begin);
  }
  if (spans.size() < counts.size()) {
    return err("{}: the input ids have no image tokens (id {}) for it ({} run{} for {} images)",
               label(spans.size()), t.image_pad, spans.size(), spans.size() == 1 ? "" : "s", counts.size());
  }
  return {};
}

}  // namespace ql::engine
