// The export dialog on the real engine (demo model), driven through its
// widgets: the precision list follows the format, the bnb note shows only for
// bnb, the estimate appears, the engine's objection to a destination shows
// inline; an export writes the files the summary lists (with their sizes) and
// offers to open the folder; Cancel leaves nothing behind.
#include <QComboBox>
#include <QDir>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTreeWidget>
#include <QtTest>

#include "ui/engine/engine_controller.h"
#include "ui/export/export_dialog.h"

using namespace ql::ui;

namespace {

const QString kDemoModel = QStringLiteral(QL_SOURCE_DIR "/resources/demo-model");

QStringList items(QComboBox* combo) {
  QStringList out;
  for (int i = 0; i < combo->count(); ++i) out << combo->itemText(i);
  return out;
}

struct Widgets {
  QComboBox* format;
  QComboBox* precision;
  QLineEdit* destination;
  QLabel* estimate;
  QLabel* error;
  QLabel* bnb_note;
  QLabel* stage;
  QLabel* summary;
  QTreeWidget* files;
  QPushButton* export_button;
  QPushButton* cancel;
  QPushButton* open_folder;
  QProgressBar* progress;
};

Widgets widgets(ExportDialog& d) {
  return {d.findChild<QComboBox*>("formatCombo"),     d.findChild<QComboBox*>("precisionCombo"),
          d.findChild<QLineEdit*>("destinationEdit"), d.findChild<QLabel*>("estimateLabel"),
          d.findChild<QLabel*>("exportError"),        d.findChild<QLabel*>("bnbNote"),
          d.findChild<QLabel*>("stageLabel"),         d.findChild<QLabel*>("summaryLabel"),
          d.findChild<QTreeWidget*>("exportedFiles"), d.findChild<QPushButton*>("exportButton"),
          d.findChild<QPushButton*>("cancelButton"),  d.findChild<QPushButton*>("openFolderButton"),
          d.findChild<QProgressBar*>("exportProgress")};
}

void pick(QComboBox* combo, const QString& text) {
  const int i = combo->findText(text);
  QVERIFY2(i >= 0, qPrintable(text));
  combo->setCurrentIndex(i);
}

}  // namespace

class TestExportDialog : public QObject {
  Q_OBJECT
 private:
  EngineController* engine_ = nullptr;

 private slots:
  void initTestCase() { engine_ = new EngineController(this); }

  void choicesFollowTheFormat() {
    ExportDialog dialog(engine_, kDemoModel);
    dialog.show();
    Widgets w = widgets(dialog);
    QVERIFY(w.format && w.precision && w.bnb_note && w.estimate);
    QCOMPARE(items(w.format), (QStringList{"gguf", "bnb", "safetensors"}));
    pick(w.format, "gguf");
    QCOMPARE(items(w.precision), (QStringList{"f16", "bf16", "q8_0", "q4_k_m", "q4_0", "iq4_nl"}));
    QVERIFY(!w.bnb_note->isVisible());
    pick(w.format, "bnb");
    QCOMPARE(items(w.precision), (QStringList{"int8", "nf4"}));
    QVERIFY(w.bnb_note->isVisible());
    QVERIFY(w.bnb_note->text().contains("60 GB"));
    QVERIFY(w.bnb_note->text().contains("GGUF"));
    pick(w.format, "safetensors");
    QCOMPARE(items(w.precision), (QStringList{"bf16", "fp16"}));
    QVERIFY(!w.bnb_note->isVisible());
    // The estimate is there before a destination is chosen; Export is not.
    QTRY_VERIFY2(w.estimate->text().contains("MiB"), qPrintable(w.estimate->text()));
    QVERIFY(!w.export_button->isEnabled());
  }

  void theEnginesObjectionToTheDestinationShowsInline() {
    ExportDialog dialog(engine_, kDemoModel);
    Widgets w = widgets(dialog);
    pick(w.format, "safetensors");
    w.destination->setText(kDemoModel);  // the source folder itself
    QTRY_VERIFY(!w.error->isHidden());
    QVERIFY2(w.error->text().contains("demo-model"), qPrintable(w.error->text()));
    QVERIFY(!w.export_button->isEnabled());

    QTemporaryDir full;
    QFile(full.filePath("already-here.txt")).open(QIODevice::WriteOnly);
    w.destination->setText(full.path());  // not empty
    QTRY_VERIFY2(w.error->text().contains("already-here.txt") || w.error->text().contains("empty"),
                 qPrintable(w.error->text()));
    QVERIFY(!w.export_button->isEnabled());

    w.destination->setText(full.filePath("new-folder"));
    QTRY_VERIFY(w.export_button->isEnabled());
    QVERIFY(w.error->isHidden());
    QVERIFY2(w.estimate->text().contains("free there"), qPrintable(w.estimate->text()));

    ExportDialog no_model(engine_, QDir::temp().filePath("no-such-model-folder-ql"));
    QVERIFY(!widgets(no_model).error->isHidden());
    QVERIFY(widgets(no_model).error->text().contains("no such folder"));
  }

  void exportWritesTheFilesTheSummaryLists() {
    QTemporaryDir dir;
    const QString out = dir.filePath("demo-bf16");
    ExportDialog dialog(engine_, kDemoModel);
    dialog.show();
    Widgets w = widgets(dialog);
    pick(w.format, "safetensors");
    pick(w.precision, "bf16");
    w.destination->setText(out);
    QTRY_VERIFY(w.export_button->isEnabled());
    QSignalSpy ended(&dialog, &ExportDialog::exportEnded);
    QSignalSpy progress(engine_, &EngineController::exportProgress);
    w.export_button->click();
    QVERIFY(dialog.isExporting());
    QCOMPARE(w.cancel->text(), QStringLiteral("Cancel"));
    QVERIFY(!w.format->isEnabled());
    QVERIFY(ended.wait(60000));
    QVERIFY2(ended.first().at(0).toBool(), qPrintable(w.error->text() + " / " + w.stage->text()));
    QVERIFY(progress.count() >= 1);
    QCOMPARE(w.progress->value(), w.progress->maximum());
    QCOMPARE(w.cancel->text(), QStringLiteral("Close"));

    QVERIFY(w.summary->isVisible());
    QVERIFY2(w.summary->text().startsWith("Exported safetensors bf16"), qPrintable(w.summary->text()));
    QVERIFY(w.files->isVisible());
    QVERIFY(w.files->topLevelItemCount() >= 2);  // weights and config.json at least
    bool has_weights = false, has_config = false;
    for (int i = 0; i < w.files->topLevelItemCount(); ++i) {
      QTreeWidgetItem* item = w.files->topLevelItem(i);
      const QFileInfo file(item->data(0, Qt::UserRole).toString());
      QVERIFY2(file.exists(), qPrintable(file.filePath()));
      QCOMPARE(item->text(0), file.fileName());
      QCOMPARE(file.absolutePath(), QDir(out).absolutePath());
      QCOMPARE(qulonglong(file.size()), item->data(1, Qt::UserRole).toULongLong());
      has_weights |= file.fileName().endsWith(".safetensors");
      has_config |= file.fileName() == "config.json";
    }
    QVERIFY(has_weights && has_config);
    // Everything in the folder is listed.
    QCOMPARE(QDir(out).entryList(QDir::Files | QDir::Hidden).size(), w.files->topLevelItemCount());
    QVERIFY(w.open_folder->isVisible());
    // The folder is full now: the same destination is not offered again.
    QVERIFY(!w.export_button->isEnabled());
  }

  void cancelLeavesNothingBehind() {
    QTemporaryDir dir;
    const QString out = dir.filePath("cancelled");
    ExportDialog dialog(engine_, kDemoModel);
    dialog.show();
    Widgets w = widgets(dialog);
    pick(w.format, "safetensors");
    pick(w.precision, "fp16");
    w.destination->setText(out);
    QTRY_VERIFY(w.export_button->isEnabled());
    QSignalSpy ended(&dialog, &ExportDialog::exportEnded);
    w.export_button->click();
    QVERIFY(dialog.isExporting());
    w.cancel->click();  // at once: the export has barely begun
    QVERIFY(dialog.isVisible());  // the dialog stays to say how it ended
    QVERIFY(ended.wait(60000));
    QVERIFY(!ended.first().at(0).toBool());
    QVERIFY(ended.first().at(1).toBool());  // cancelled
    QVERIFY(!QFileInfo::exists(out));
    QVERIFY2(w.stage->text().contains("Nothing was left behind"), qPrintable(w.stage->text()));
    QVERIFY(w.files->isHidden());
    QVERIFY(w.open_folder->isHidden());
    QVERIFY(!dialog.isExporting());
    // The same folder can be used again, and Close now closes.
    QTRY_VERIFY(w.export_button->isEnabled());
    w.cancel->click();
    QVERIFY(!dialog.isVisible());
  }
};

QTEST_MAIN(TestExportDialog)
#include "test_export_dialog.moc"
