#pragma once
// Shared by the ui test classes (tests/ui/test_*.cpp): a private home for
// settings and saved conversations, the demo model's folder, and waiting on
// the engine's signals without blocking the event loop.
#include <QCoreApplication>
#include <QDir>
#include <QSignalSpy>
#include <QString>
#include <QTemporaryDir>
#include <QTest>

namespace ql::ui::test {

inline QString source_path(const QString& relative) {
  return QDir(QStringLiteral(QL_SOURCE_DIR)).filePath(relative);
}
inline QString demo_model() { return QDir::cleanPath(source_path("resources/demo-model")); }
inline QString full_model_config_dir() { return QDir::cleanPath(source_path("resources/qwen3-vl-30b-a3b")); }
inline QString demo_image(const QString& name) { return source_path("resources/images/" + name); }

// Points QSettings (XDG_CONFIG_HOME) and QStandardPaths' data folders
// (XDG_DATA_HOME: the chat's saved conversations) into `home`, so that a test
// neither reads nor changes the user's files and every run starts fresh.
// Call before the first QSettings is made.
inline void use_private_home(const QTemporaryDir& home) {
  for (const char* var : {"XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"}) {
    const QString path = QDir(home.path()).filePath(QString::fromLatin1(var).toLower());
    QDir().mkpath(path);
    qputenv(var, QFile::encodeName(path));
  }
  QCoreApplication::setOrganizationName("QuantLensTest");
  QCoreApplication::setApplicationName("QuantLensUiTest");
}

// Waits (running the event loop) until `spy` has at least `count` signals.
inline bool wait_for(QSignalSpy& spy, int count = 1, int timeout_ms = 30000) {
  QElapsedTimer t;
  t.start();
  while (spy.count() < count && t.elapsed() < timeout_ms) spy.wait(std::max<int>(1, timeout_ms - int(t.elapsed())));
  return spy.count() >= count;
}

}  // namespace ql::ui::test
