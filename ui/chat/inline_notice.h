#pragma once
// A message next to the compose box instead of a modal box: a bad image
// (naming the file and the reason), "no model is loaded", "the engine is
// busy", an answer that failed. It stays until dismissed or replaced, and
// never takes the text being typed.
#include <QFrame>

class QLabel;
class QToolButton;

namespace ql::ui {

class InlineNotice : public QFrame {
  Q_OBJECT
 public:
  explicit InlineNotice(QWidget* parent = nullptr);

  void showError(const QString& text);
  void showInfo(const QString& text);
  void dismiss();

  QString text() const;
  bool isError() const { return error_; }
  QToolButton* closeButton() const { return close_; }

 private:
  void show_text(const QString& text, bool error);

  QLabel* label_ = nullptr;
  QToolButton* close_ = nullptr;
  bool error_ = false;
};

}  // namespace ql::ui
