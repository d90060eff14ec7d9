#pragma once
// `quantlens --screenshots DIR`: a scripted run for the README's pictures
// (tools/screenshots.sh runs it under Xvfb). It loads the demo model, asks a
// question about a demo picture, runs a three-precision comparison, opens the
// export dialog, saves a PNG of the window at each step into DIR, and quits
// (exit code 0, or 1 with the reason on stderr when a step fails or the whole
// run takes longer than its time limit).
#include <QObject>
#include <QString>
#include <QStringList>
#include <functional>
#include <vector>

class QWidget;

namespace ql::ui {

class MainWindow;

class ScreenshotRun : public QObject {
  Q_OBJECT
 public:
  ScreenshotRun(MainWindow* window, QString out_dir, QObject* parent = nullptr);

  // Starts the steps; the application quits when they end.
  void start();
  QStringList written() const { return written_; }

 private:
  using Step = std::function<void()>;
  void next();
  // Waits for the window to settle (layouts, repaints), then saves `widget` as NAME.png and goes on.
  void shootThenNext(QWidget* widget, const QString& name);
  void fail(const QString& why);

  MainWindow* window_;
  QString out_dir_;
  std::vector<Step> steps_;
  size_t step_ = 0;
  QStringList written_;
};

}  // namespace ql::ui
