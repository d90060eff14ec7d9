#pragma once
// A strip across the top of the window that says something without stopping
// the user (no modal box): an error with a "Details" toggle for the full
// message, or a notice (the demo model's). It stays until closed or replaced;
// errors that arrive while one is shown are counted, the latest one shown.
#include <QFrame>
#include <QString>

class QLabel;
class QPushButton;
class QToolButton;

namespace ql::ui {

class MessageBanner : public QFrame {
  Q_OBJECT
 public:
  enum class Kind { kError, kNotice };
  explicit MessageBanner(Kind kind, QWidget* parent = nullptr);

  // Shows `summary` (plain text); `details` (plain text) behind the Details button.
  void showMessage(const QString& summary, const QString& details = {});
  // Rich text for notices (links allowed).
  void showRichText(const QString& html);
  void dismiss();

  QString summary() const;
  QString details() const { return details_text_; }
  int count() const { return count_; }
  QPushButton* detailsButton() const { return details_button_; }

 signals:
  void linkActivated(const QString& link);

 protected:
  void changeEvent(QEvent* event) override;

 private:
  void restyle();

  Kind kind_;
  QLabel* icon_ = nullptr;
  QLabel* summary_ = nullptr;
  QLabel* details_ = nullptr;
  QPushButton* details_button_ = nullptr;
  QToolButton* close_ = nullptr;
  QString summary_text_, details_text_;
  int count_ = 0;
  bool restyling_ = false;
};

}  // namespace ql::ui
