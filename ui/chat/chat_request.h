#pragma once
// A chat's messages -> the engine's GenerationRequest: the system prompt
// first (when set), every message in order, each question's images before
// its text. Image files go by path (the engine decodes them on its thread);
// pasted images go as pixels.
#include <QList>
#include <QString>

#include "core/engine/request.h"
#include "ui/chat/chat_types.h"

namespace ql::ui {

engine::GenerationRequest chat_request(const QList<ChatMessage>& messages, const QString& system_prompt,
                                       const engine::SamplingOptions& sampling, int max_new_tokens);

}  // namespace ql::ui
