#include "ui/main/resource_paths.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QStringList>

namespace ql::ui {
namespace {

QString installed_share() { return QDir(QCoreApplication::applicationDirPath()).filePath("../share/quantlens"); }

// The source tree's resources/: this file is ui/main/resource_paths.cpp
// (CMake passes absolute source paths, so __FILE__ is absolute).
QString source_resources() {
  return QDir(QFileInfo(QString::fromUtf8(__FILE__)).absolutePath()).filePath("../../resources");
}

QString first_existing(const QStringList& candidates, const QString& must_hold) {
  for (const QString& c : candidates) {
    if (QFileInfo::exists(QDir(c).filePath(must_hold))) return QDir::cleanPath(QFileInfo(c).absoluteFilePath());
  }
  return {};
}

QStringList resource_roots() {
  QStringList roots;
  const QString env = qEnvironmentVariable("QUANTLENS_RESOURCES");
  if (!env.isEmpty()) roots << env;
  return roots;
}

}  // namespace

QString demo_model_dir() {
  QStringList c;
  for (const QString& r : resource_roots()) c << QDir(r).filePath("demo-model");
  c << QDir(installed_share()).filePath("demo-model") << QDir(source_resources()).filePath("demo-model");
  return first_existing(c, "config.json");
}

QString demo_images_dir() {
  QStringList c;
  for (const QString& r : resource_roots()) c << QDir(r).filePath("images");
  c << QDir(installed_share()).filePath("resources/images") << QDir(source_resources()).filePath("images");
  return first_existing(c, "shapes.png");
}

bool is_demo_model(const QString& dir) {
  const QString demo = demo_model_dir();
  if (demo.isEmpty() || dir.isEmpty()) return false;
  return QFileInfo(dir).canonicalFilePath() == QFileInfo(demo).canonicalFilePath();
}

}  // namespace ql::ui
