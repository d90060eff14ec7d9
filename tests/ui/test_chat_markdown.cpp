// How answers are shown: Markdown with code blocks in a monospace font on a
// tinted background, lists, no raw HTML, nothing loaded from the text's
// links; and the streaming re-render is throttled (at most one render per
// interval, the last state always shown).
#include <QElapsedTimer>
#include <QFontDatabase>
#include <QLabel>
#include <QTextBlock>
#include <QTextDocument>
#include <QTextList>
#include <QtTest>

#include "ui/chat/answer_stats.h"
#include "ui/chat/answer_view.h"
#include "ui/chat/answer_widget.h"
#include "ui/chat/markdown_render.h"
#include "ui/chat/render_throttle.h"

using namespace ql::ui;

namespace {

const MarkdownStyle kStyle{QColor(240, 240, 240)};

int find_block(const QTextDocument& doc, const QString& text) {
  for (QTextBlock b = doc.begin(); b.isValid(); b = b.next()) {
    if (b.text() == text) return b.blockNumber();
  }
  return -1;
}

}  // namespace

class TestChatMarkdown : public QObject {
  Q_OBJECT

 private slots:
  void codeBlocksAreMonospaceOnABackground() {
    QTextDocument doc;
    render_markdown(&doc, "Here:\n\n```cpp\nint x = 1;\nreturn x;\n```\n\nDone.", kStyle);
    const int code = find_block(doc, "int x = 1;");
    const int prose = find_block(doc, "Here:");
    QVERIFY(code >= 0 && prose >= 0);
    QVERIFY(is_code_block(&doc, code));
    QVERIFY(is_code_block(&doc, find_block(doc, "return x;")));
    QVERIFY(!is_code_block(&doc, prose));
    QVERIFY(!is_code_block(&doc, find_block(doc, "Done.")));

    const QTextBlock block = doc.findBlockByNumber(code);
    QCOMPARE(block.blockFormat().background().color(), kStyle.code_background);
    const QTextCharFormat chars = block.begin().fragment().charFormat();
    QVERIFY(chars.fontFixedPitch());
    QCOMPARE(chars.fontFamilies().toStringList().value(0),
             QFontDatabase::systemFont(QFontDatabase::FixedFont).family());
    // Prose keeps the normal look.
    QVERIFY(doc.findBlockByNumber(prose).blockFormat().background().style() == Qt::NoBrush);
  }

  void inlineCodeGetsTheBackgroundToo() {
    QTextDocument doc;
    render_markdown(&doc, "Call `run()` now.", kStyle);
    const QTextBlock block = doc.begin();
    bool found = false;
    for (auto it = block.begin(); !it.atEnd(); ++it) {
      const QTextFragment f = it.fragment();
      if (f.text() == "run()") {
        found = true;
        QCOMPARE(f.charFormat().background().color(), kStyle.code_background);
      } else {
        QVERIFY(f.charFormat().background().style() == Qt::NoBrush);
      }
    }
    QVERIFY(found);
  }

  void listsAndTablesAreStructured() {
    QTextDocument doc;
    render_markdown(&doc, "- one\n- two\n\n1. first\n2. second\n\n| a | b |\n|---|---|\n| 1 | 2 |\n", kStyle);
    const QTextBlock one = doc.findBlockByNumber(find_block(doc, "one"));
    QVERIFY(one.textList());
    QCOMPARE(one.textList()->count(), 2);
    const QTextBlock first = doc.findBlockByNumber(find_block(doc, "first"));
    QVERIFY(first.textList());
    QCOMPARE(first.textList()->format().style(), QTextListFormat::ListDecimal);
    QVERIFY(doc.toPlainText().contains("a"));
    QVERIFY(find_block(doc, "| a | b |") < 0);  // a table, not text with bars
  }

  void rawHtmlIsShownNotInterpreted() {
    QTextDocument doc;
    render_markdown(&doc, "a <b>bold</b> claim", kStyle);
    QVERIFY2(doc.toPlainText().contains("<b>"), qPrintable(doc.toPlainText()));
  }

  void theViewLoadsNothingTheTextNames() {
    AnswerView view;
    view.setMarkdownText("![secret](file:///etc/hostname)");
    QVERIFY(!view.loadResource(QTextDocument::ImageResource, QUrl("file:///etc/hostname")).isValid());
    QCOMPARE(view.renderCount(), 1);
    QCOMPARE(view.markdownText(), QString("![secret](file:///etc/hostname)"));
  }

  void theViewIsAsTallAsItsText() {
    AnswerView view;
    view.resize(400, 10);
    view.setMarkdownText("one line");
    const int short_height = view.height();
    view.setMarkdownText("line\n\nline\n\nline\n\nline\n\nline\n\nline\n\nline\n\nline");
    QVERIFY2(view.height() > 3 * short_height, qPrintable(QString("%1 vs %2").arg(view.height()).arg(short_height)));
  }

  void throttleCoalescesRequests() {
    RenderThrottle throttle(50);
    int due = 0;
    connect(&throttle, &RenderThrottle::due, [&] { ++due; });
    throttle.request();  // idle: at once
    QCOMPARE(due, 1);
    for (int i = 0; i < 100; ++i) throttle.request();  // within the interval: one, later
    QCOMPARE(due, 1);
    QVERIFY(throttle.pending());
    QTRY_COMPARE_WITH_TIMEOUT(due, 2, 1000);
    QVERIFY(!throttle.pending());
    throttle.request();
    throttle.request();
    throttle.flush();  // the answer is complete: show it now
    QVERIFY(due == 3 || due == 4);
    QVERIFY(!throttle.pending());
  }

  void streamingRendersAtMostTwentyTimesASecond() {
    AnswerWidget answer;
    QString text;
    QElapsedTimer clock;
    clock.start();
    // 400 tokens as fast as they can come (a fast GPU), for about 0.3 s.
    for (int i = 0; i < 400; ++i) {
      text += QStringLiteral("word%1 ").arg(i);
      answer.setStreamingText(text);
      if (i % 20 == 0) QTest::qWait(15);
    }
    const double seconds = clock.elapsed() / 1000.0;
    const int renders = answer.view()->renderCount();
    QVERIFY(renders >= 1);
    QVERIFY2(renders <= 20 * seconds + 2, qPrintable(QString("%1 renders in %2 s").arg(renders).arg(seconds)));
    AnswerStats stats{400, 120, 250, "eos"};
    answer.setFinished(text, stats);
    QCOMPARE(answer.view()->markdownText(), text);
    QCOMPARE(answer.statsLabel()->text(), answer_stats_text(stats));
  }

  void statsText() {
    QCOMPARE(answer_stats_text({8, 312.4, 187.24, "max_tokens"}),
             QString::fromUtf8("8 tokens \u00b7 first token 312 ms \u00b7 187.2 tokens/s \u00b7 length limit reached"));
    QCOMPARE(answer_stats_text({1, 1500, 0, "eos"}), QString::fromUtf8("1 token \u00b7 first token 1.50 s"));
    QCOMPARE(answer_stats_text({0, 0, 0, "stopped"}), QString::fromUtf8("0 tokens \u00b7 stopped"));
  }
};

QTEST_MAIN(TestChatMarkdown)
#include "test_chat_markdown.moc"
