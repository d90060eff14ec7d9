#include "ui/chat/markdown_render.h"

#include <QFontDatabase>
#include <QTextBlock>
#include <QTextCursor>
#include <QTextDocument>

namespace ql::ui {
namespace {

// setMarkdown marks every line of a code block (fenced or indented) with
// BlockCodeLanguage, the fenced ones also with BlockCodeFence.
bool is_code(const QTextBlockFormat& format) {
  return format.hasProperty(QTextFormat::BlockCodeLanguage) || format.hasProperty(QTextFormat::BlockCodeFence);
}

// Inline code spans come out of setMarkdown in a fixed-pitch font.
bool is_inline_code(const QTextCharFormat& format) {
  return format.fontFixedPitch() ||
         format.fontFamilies().toStringList().contains(QFontDatabase::systemFont(QFontDatabase::FixedFont).family());
}

}  // namespace

bool is_code_block(const QTextDocument* document, int block_number) {
  const QTextBlock block = document->findBlockByNumber(block_number);
  return block.isValid() && is_code(block.blockFormat());
}

void render_markdown(QTextDocument* document, const QString& markdown, const MarkdownStyle& style) {
  document->setMarkdown(markdown, QTextDocument::MarkdownFeatures(QTextDocument::MarkdownDialectGitHub |
                                                                  QTextDocument::MarkdownNoHTML));
  // Ranges first, formats after: formatting splits fragments under an iterator.
  QList<int> code_blocks;                  // block positions
  QList<QPair<int, int>> inline_code;      // [start, end) character positions
  for (QTextBlock block = document->begin(); block.isValid(); block = block.next()) {
    if (is_code(block.blockFormat())) {
      code_blocks.append(block.position());
      continue;
    }
    for (auto it = block.begin(); !it.atEnd(); ++it) {
      const QTextFragment fragment = it.fragment();
      if (fragment.isValid() && is_inline_code(fragment.charFormat())) {
        inline_code.append({fragment.position(), fragment.position() + fragment.length()});
      }
    }
  }

  const QFont mono = QFontDatabase::systemFont(QFontDatabase::FixedFont);
  QTextCursor cursor(document);
  cursor.beginEditBlock();
  for (int position : code_blocks) {
    const QTextBlock block = document->findBlock(position);
    cursor.setPosition(block.position());
    QTextBlockFormat block_format;
    block_format.setBackground(style.code_background);
    block_format.setLeftMargin(4);
    block_format.setRightMargin(4);
    cursor.mergeBlockFormat(block_format);
    cursor.setPosition(block.position() + block.length() - 1, QTextCursor::KeepAnchor);
    QTextCharFormat char_format;
    char_format.setFontFamilies({mono.family()});
    char_format.setFontFixedPitch(true);
    cursor.mergeCharFormat(char_format);
  }
  for (const auto& [start, end] : inline_code) {
    cursor.setPosition(start);
    cursor.setPosition(end, QTextCursor::KeepAnchor);
    QTextCharFormat char_format;
    char_format.setBackground(style.code_background);
    cursor.mergeCharFormat(char_format);
  }
  cursor.endEditBlock();
}

}  // namespace ql::ui
