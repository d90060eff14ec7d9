#pragma once
// Shows one answer's Markdown at its full height (the history scrolls, not
// each answer), read-only and selectable. Links open in the browser only for
// http(s); images and other resources the text names are never loaded: the
// model's output must not make the app read local files.
#include <QTextBrowser>

namespace ql::ui {

class AnswerView : public QTextBrowser {
  Q_OBJECT
 public:
  explicit AnswerView(QWidget* parent = nullptr);

  void setMarkdownText(const QString& markdown);
  const QString& markdownText() const { return markdown_; }
  int renderCount() const { return render_count_; }

  QVariant loadResource(int type, const QUrl& name) override;

 protected:
  void resizeEvent(QResizeEvent* event) override;
  void changeEvent(QEvent* event) override;

 private:
  void fitHeight();
  void render();

  QString markdown_;
  int render_count_ = 0;
};

}  // namespace ql::ui
