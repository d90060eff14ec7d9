#pragma once
// An answer's Markdown -> a styled QTextDocument: CommonMark with GitHub's
// tables, task lists and code fences (QTextDocument::setMarkdown), raw HTML
// off (the model's text is shown, never interpreted as markup), and code —
// fenced blocks and inline spans — in a monospace font on a tinted
// background, which setMarkdown alone does not give.
#include <QColor>
#include <QString>

class QTextDocument;

namespace ql::ui {

struct MarkdownStyle {
  QColor code_background;  // behind code blocks and inline code
};

void render_markdown(QTextDocument* document, const QString& markdown, const MarkdownStyle& style);

// True when `block_number` of `document` is part of a code block (tests).
bool is_code_block(const QTextDocument* document, int block_number);

}  // namespace ql::ui
