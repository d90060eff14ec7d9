#pragma once
// File > Export... (issue 7, part 5): the person picks a format (GGUF for
// llama.cpp / Ollama / LM Studio, bitsandbytes safetensors for transformers,
// plain 16-bit safetensors), a precision of that format and an output folder;
// the dialog shows the estimated size (core/io/export.h estimate_export, from
// the checkpoint's headers) and the engine's objection to the folder, if any,
// inline; then runs the export through EngineController with a progress bar
// (stage and tensor) and Cancel, and ends with a summary of the files written
// and a button that opens their folder. It never waits on the engine: the
// estimate runs on a pool thread, the export on the engine's.
#include <QDialog>
#include <QString>
#include <QTimer>
#include <optional>

#include "core/io/export.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QTreeWidget;

namespace ql::ui {

class EngineController;

class ExportDialog : public QDialog {
  Q_OBJECT
 public:
  ExportDialog(EngineController* engine, const QString& model_dir, QWidget* parent = nullptr);

  bool isExporting() const { return exporting_; }
  // The request the widgets describe now.
  io::ExportRequest request() const;

 public slots:
  // Starts the export; false (and says why inline) when it cannot.
  bool startExport();
  // Cancels a running export (the dialog stays to say how it ended); closes otherwise.
  void reject() override;

 signals:
  void exportEnded(bool ok, bool cancelled);

 private slots:
  void onFormatChanged();
  void updateEstimate();
  void chooseDestination();
  void onProgress(const ql::io::ExportProgress& progress);
  void onFinished(bool ok, bool cancelled, const ql::io::ExportResult& result, const QString& error);
  void openFolder();

 private:
  // A folder an interrupted export left files in: asks before removing them
  // (sets r.remove_interrupted); false when the user said no.
  bool askToRemoveInterrupted(io::ExportRequest& r);
  void showError(const QString& text);
  // The answer of the estimate numbered `seq` for request `r` (UI thread).
  void showEstimate(quint64 seq, const io::ExportRequest& r, const Result<io::ExportEstimate>& e);
  void setExporting(bool exporting);
  void showSummary(const io::ExportResult& result);
  QString leftBehindText(const QString& out_dir, bool folder_existed) const;

  EngineController* engine_;
  QString model_dir_;

  QComboBox* format_;
  QLabel* format_note_;
  QComboBox* precision_;
  QLineEdit* destination_;
  QPushButton* choose_button_;
  QLabel* estimate_;
  QLabel* bnb_note_;
  QLabel* error_;
  QProgressBar* progress_;
  QLabel* stage_;
  QLabel* summary_;
  QTreeWidget* files_;
  QPushButton* open_folder_;
  QPushButton* export_button_;
  QPushButton* cancel_button_;

  QTimer estimate_timer_;  // coalesces keystrokes in the destination field
  quint64 estimate_seq_ = 0;  // the latest estimate asked for
  bool estimate_ok_ = false;
  bool exporting_ = false;
  bool folder_existed_ = false;  // the destination was there before this export
  QString exported_dir_;
};

}  // namespace ql::ui
