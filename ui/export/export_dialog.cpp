#include "ui/export/export_dialog.h"

#include <QApplication>
#include <QComboBox>
#include <QDesktopServices>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QProgressBar>
#include <QPointer>
#include <QPushButton>
#include <QStorageInfo>
#include <QThreadPool>
#include <QTreeWidget>
#include <QUrl>
#include <QVBoxLayout>
#include <memory>

#include <fmt/format.h>

#include "core/io/folder_claim.h"
#include "ui/compare/compare_markdown.h"
#include "ui/engine/engine_controller.h"

namespace ql::ui {
namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }
QString size_text(uint64_t bytes) { return qs(format_bytes(bytes)); }

constexpr io::ExportFormat kFormats[] = {io::ExportFormat::kGguf, io::ExportFormat::kBnb,
                                         io::ExportFormat::kSafetensors};
constexpr int kProgressSteps = 1000;
constexpr int kEstimateDelayMs = 150;  // after the last keystroke in the destination

QString formatNote(io::ExportFormat f) {
  switch (f) {
    case io::ExportFormat::kGguf:
      return QObject::tr("For llama.cpp, Ollama and LM Studio: the text model, plus the vision projector "
                         "(mmproj-*.gguf).");
    case io::ExportFormat::kBnb:
      return QObject::tr("bitsandbytes-format safetensors for transformers (load_in_8bit / load_in_4bit layouts).");
    case io::ExportFormat::kSafetensors:
      return QObject::tr("Plain 16-bit safetensors with config.json, for any tool that reads Hugging Face folders.");
  }
  return {};
}

// The folder's deepest existing ancestor (itself if it exists), for the free space.
QString nearestExisting(QString path) {
  QFileInfo info(path);
  while (!path.isEmpty() && !info.exists()) {
    const QString parent = info.absolutePath();
    if (parent == info.absoluteFilePath()) break;
    path = parent;
    info = QFileInfo(path);
  }
  return path;
}

}  // namespace

ExportDialog::ExportDialog(EngineController* engine, const QString& model_dir, QWidget* parent)
    : QDialog(parent), engine_(engine), model_dir_(model_dir) {
  setWindowTitle(tr("Export the model"));
  setMinimumWidth(560);
  resize(680, 560);
  auto* layout = new QVBoxLayout(this);
  auto* form = new QFormLayout;
  auto* source = new QLabel(model_dir.isEmpty() ? tr("none: open a model first") : QDir::toNativeSeparators(model_dir),
                            this);
  source->setWordWrap(true);
  form->addRow(tr("Source"), source);

  format_ = new QComboBox(this);
  format_->setObjectName("formatCombo");
  for (io::ExportFormat f : kFormats) format_->addItem(QString::fromLatin1(io::export_format_name(f)), static_cast<int>(f));
  form->addRow(tr("Format"), format_);
  format_note_ = new QLabel(this);
  format_note_->setObjectName("formatNote");
  format_note_->setWordWrap(true);
  // Two lines reserved: the notes differ in length, and a form row does not
  // grow by itself when a wrapped label gets longer.
  format_note_->setMinimumHeight(format_note_->fontMetrics().lineSpacing() * 2 + 4);
  format_note_->setAlignment(Qt::AlignLeft | Qt::AlignTop);
  form->addRow(QString(), format_note_);

  precision_ = new QComboBox(this);
  precision_->setObjectName("precisionCombo");
  form->addRow(tr("Precision"), precision_);

  auto* destination_row = new QHBoxLayout;
  destination_ = new QLineEdit(this);
  destination_->setObjectName("destinationEdit");
  destination_->setPlaceholderText(tr("An empty or new folder, outside the model's folder"));
  choose_button_ = new QPushButton(tr("Choose..."), this);
  destination_row->addWidget(destination_, 1);
  destination_row->addWidget(choose_button_);
  form->addRow(tr("Destination"), destination_row);

  estimate_ = new QLabel(this);
  estimate_->setObjectName("estimateLabel");
  estimate_->setWordWrap(true);
  form->addRow(tr("Estimated size"), estimate_);
  layout->addLayout(form);

  bnb_note_ = new QLabel(
      tr("Note: under transformers 5, bitsandbytes leaves the fused MoE experts (about 90% of the weights) in 16-bit, "
         "so a full 30B bnb export is about 60 GB and needs as much memory to load. With a 24 GB GPU, pick GGUF."),
      this);
  bnb_note_->setObjectName("bnbNote");
  bnb_note_->setWordWrap(true);
  bnb_note_->setStyleSheet("color: #8a5a00;");
  layout->addWidget(bnb_note_);

  error_ = new QLabel(this);
  error_->setObjectName("exportError");
  error_->setWordWrap(true);
  error_->setStyleSheet("color: #b00020;");
  error_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  error_->hide();
  layout->addWidget(error_);

  progress_ = new QProgressBar(this);
  progress_->setObjectName("exportProgress");
  progress_->setRange(0, kProgressSteps);
  progress_->setValue(0);
  progress_->hide();
  layout->addWidget(progress_);
  stage_ = new QLabel(this);
  stage_->setObjectName("stageLabel");
  stage_->setWordWrap(true);
  layout->addWidget(stage_);

  summary_ = new QLabel(this);
  summary_->setObjectName("summaryLabel");
  summary_->setWordWrap(true);
  summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  summary_->hide();
  layout->addWidget(summary_);
  files_ = new QTreeWidget(this);
  files_->setObjectName("exportedFiles");
  files_->setColumnCount(2);
  files_->setHeaderLabels({tr("file"), tr("size")});
  files_->setRootIsDecorated(false);
  files_->header()->setSectionResizeMode(0, QHeaderView::Stretch);
  files_->setMinimumHeight(140);
  files_->hide();
  layout->addWidget(files_, 1);

  auto* buttons = new QHBoxLayout;
  open_folder_ = new QPushButton(tr("Open folder"), this);
  open_folder_->setObjectName("openFolderButton");
  open_folder_->hide();
  export_button_ = new QPushButton(tr("Export"), this);
  export_button_->setObjectName("exportButton");
  export_button_->setDefault(true);
  cancel_button_ = new QPushButton(tr("Close"), this);
  cancel_button_->setObjectName("cancelButton");
  buttons->addWidget(open_folder_);
  buttons->addStretch(1);
  buttons->addWidget(export_button_);
  buttons->addWidget(cancel_button_);
  layout->addLayout(buttons);

  estimate_timer_.setSingleShot(true);
  estimate_timer_.setInterval(kEstimateDelayMs);
  connect(&estimate_timer_, &QTimer::timeout, this, &ExportDialog::updateEstimate);
  connect(format_, &QComboBox::currentIndexChanged, this, &ExportDialog::onFormatChanged);
  connect(precision_, &QComboBox::currentIndexChanged, this, &ExportDialog::updateEstimate);
  connect(destination_, &QLineEdit::textChanged, this, [this] {
    estimate_ok_ = false;  // until the new folder is checked
    export_button_->setEnabled(false);
    estimate_timer_.start();
  });
  connect(choose_button_, &QPushButton::clicked, this, &ExportDialog::chooseDestination);
  connect(export_button_, &QPushButton::clicked, this, &ExportDialog::startExport);
  connect(cancel_button_, &QPushButton::clicked, this, &ExportDialog::reject);
  connect(open_folder_, &QPushButton::clicked, this, &ExportDialog::openFolder);
  if (engine_) {
    connect(engine_, &EngineController::exportProgress, this, &ExportDialog::onProgress);
    connect(engine_, &EngineController::exportFinished, this, &ExportDialog::onFinished);
    connect(engine_, &EngineController::busyChanged, this, [this] { setExporting(exporting_); });
  }
  onFormatChanged();
}

io::ExportRequest ExportDialog::request() const {
  io::ExportRequest r;
  r.model_dir = model_dir_.toStdString();
  r.format = static_cast<io::ExportFormat>(format_->currentData().toInt());
  r.precision = precision_->currentText().toStdString();
  r.out_dir = destination_->text().trimmed().toStdString();
  return r;
}

void ExportDialog::onFormatChanged() {
  const auto format = static_cast<io::ExportFormat>(format_->currentData().toInt());
  const QSignalBlocker quiet(precision_);  // one estimate below, not one per item
  precision_->clear();
  for (const std::string& p : io::export_precisions(format)) precision_->addItem(qs(p));
  format_note_->setText(formatNote(format));
  bnb_note_->setVisible(format == io::ExportFormat::kBnb);
  updateEstimate();
}

void ExportDialog::updateEstimate() {
  estimate_timer_.stop();
  const quint64 seq = ++estimate_seq_;  // a later request makes this one's answer stale
  estimate_ok_ = false;
  showError({});
  if (model_dir_.isEmpty() || !QFileInfo(model_dir_).isDir()) {
    // estimate_export would say so too; this also covers a folder removed since the dialog opened.
    estimate_->setText(tr("unknown"));
    showError(model_dir_.isEmpty() ? tr("No model folder: open a model first.")
                                   : tr("%1: no such folder").arg(QDir::toNativeSeparators(model_dir_)));
    setExporting(exporting_);
    return;
  }
  estimate_->setText(tr("estimating..."));
  setExporting(exporting_);
  // estimate_export reads the checkpoint's headers and the companion files
  // (the tokenizer among them): over half a second on the demo model, so it
  // runs on the global pool, which the application waits for when it quits.
  // The answer comes back through the event loop; a dialog closed meanwhile
  // is not touched (QPointer, read on the UI thread).
  io::ExportRequest r = request();
  // The estimate removes nothing; what an interrupted export left is named
  // below and removed only when the user says so at Export.
  r.remove_interrupted = true;
  QPointer<ExportDialog> self(this);
  QThreadPool::globalInstance()->start([self, seq, r] {
    auto estimate = std::make_shared<Result<io::ExportEstimate>>(io::estimate_export(r));
    QMetaObject::invokeMethod(
        qApp,
        [self, seq, r, estimate] {
          if (self) self->showEstimate(seq, r, *estimate);
        },
        Qt::QueuedConnection);
  });
}

void ExportDialog::showEstimate(quint64 seq, const io::ExportRequest& r, const Result<io::ExportEstimate>& e) {
  if (seq != estimate_seq_) return;  // the choice changed since
  if (!e) {
    estimate_->setText(tr("unknown"));
    showError(qs(e.message()));  // the engine's words: bad folder, bad precision, bad checkpoint
    setExporting(exporting_);
    return;
  }
  QStringList names;
  for (const io::ExportedFile& f : e->files) names << QFileInfo(qs(f.path)).fileName();
  QString text = tr("%1 (%2)").arg(size_text(e->total_bytes), names.join(", "));
  if (!r.out_dir.empty()) {
    const QStorageInfo storage(nearestExisting(qs(r.out_dir)));
    if (storage.isValid()) {
      const auto free_bytes = static_cast<uint64_t>(storage.bytesAvailable());
      text += tr("; %1 free there").arg(size_text(free_bytes));
      if (free_bytes < e->total_bytes) showError(tr("Not enough free space at the destination."));
    }
  }
  if (!r.out_dir.empty()) {
    auto claim = io::read_folder_claim(r.out_dir);
    if (claim.ok() && claim->has_value() && !(*claim)->live)
      text += tr("; an interrupted export left %n file(s) there (Export asks to remove them)", "",
                 static_cast<int>((*claim)->leftovers.size()));
  }
  estimate_->setText(text);
  estimate_ok_ = !r.out_dir.empty() && error_->isHidden();
  setExporting(exporting_);
}

void ExportDialog::chooseDestination() {
  const QString dir = QFileDialog::getExistingDirectory(this, tr("Export into (an empty folder)"),
                                                        destination_->text().isEmpty()
                                                            ? QFileInfo(model_dir_).absolutePath()
                                                            : destination_->text());
  if (!dir.isEmpty()) destination_->setText(dir);
}

void ExportDialog::showError(const QString& text) {
  error_->setText(text);
  error_->setVisible(!text.isEmpty());
}

void ExportDialog::setExporting(bool exporting) {
  exporting_ = exporting;
  for (QWidget* w : std::initializer_list<QWidget*>{format_, precision_, destination_, choose_button_}) {
    w->setEnabled(!exporting);
  }
  export_button_->setEnabled(!exporting && estimate_ok_ && engine_ && !engine_->busy());
  cancel_button_->setText(exporting ? tr("Cancel") : tr("Close"));
}

bool ExportDialog::startExport() {
  if (exporting_ || !engine_) return false;
  // The last check of the destination passed (export_model checks it all
  // again before writing, and its objection would end the export at once).
  if (!estimate_ok_) {
    if (error_->isHidden()) showError(tr("Choose a destination folder."));
    return false;
  }
  io::ExportRequest r = request();
  if (!askToRemoveInterrupted(r)) return false;
  folder_existed_ = QFileInfo::exists(qs(r.out_dir));
  if (!engine_->exportModel(r)) {
    showError(tr("The engine is busy (%1): wait until it ends or stop it.").arg(engine_->currentJob()));
    return false;
  }
  exported_dir_ = qs(r.out_dir);
  summary_->hide();
  files_->hide();
  files_->clear();
  open_folder_->hide();
  progress_->setValue(0);
  progress_->show();
  stage_->setText(tr("starting"));
  setExporting(true);
  return true;
}

bool ExportDialog::askToRemoveInterrupted(io::ExportRequest& r) {
  auto claim = io::read_folder_claim(r.out_dir);
  if (!claim.ok() || !claim->has_value() || (*claim)->live) return true;  // export_model reports the rest
  const io::FolderClaimInfo& info = **claim;
  const QString files = info.leftovers.empty() ? tr("only its claim file")
                                               : qs(fmt::format("{}", fmt::join(info.leftovers, ", ")));
  const auto answer = QMessageBox::question(
      this, tr("Remove what an interrupted export left?"),
      tr("An earlier export into %1 (process %2, started %3) was interrupted and left: %4.\n\nRemove these files "
         "and export?")
          .arg(qs(r.out_dir))
          .arg(info.pid)
          .arg(qs(info.started), files),
      QMessageBox::Yes | QMessageBox::No, QMessageBox::No);
  if (answer != QMessageBox::Yes) return false;
  r.remove_interrupted = true;
  return true;
}

void ExportDialog::reject() {
  if (exporting_) {
    // Cancel: the dialog stays to report that nothing was left behind.
    engine_->stop();
    stage_->setText(tr("cancelling..."));
    cancel_button_->setEnabled(false);
    return;
  }
  QDialog::reject();
}

void ExportDialog::onProgress(const io::ExportProgress& p) {
  if (!exporting_) return;
  if (p.total_bytes > 0) {
    const double fraction = std::min(1.0, static_cast<double>(p.done_bytes) / static_cast<double>(p.total_bytes));
    progress_->setValue(static_cast<int>(fraction * kProgressSteps));
  }
  QString text = qs(p.stage);
  if (!p.tensor.empty()) {
    text += p.tensor_count > 0 ? tr(" — %1 (%2 of %3)").arg(qs(p.tensor)).arg(p.tensor_index + 1).arg(p.tensor_count)
                               : tr(" — %1").arg(qs(p.tensor));
  }
  if (p.total_bytes > 0) text += tr("; %1 of %2").arg(size_text(p.done_bytes), size_text(p.total_bytes));
  stage_->setText(text);
}

QString ExportDialog::leftBehindText(const QString& out_dir, bool folder_existed) const {
  // Checked, not assumed: the engine promises to remove its temporaries and
  // any folder it created, and the dialog reports what it sees.
  const QDir dir(out_dir);
  if (!dir.exists()) return tr("Nothing was left behind: %1 does not exist.").arg(QDir::toNativeSeparators(out_dir));
  const QStringList entries = dir.entryList(QDir::AllEntries | QDir::Hidden | QDir::System | QDir::NoDotAndDotDot);
  if (entries.isEmpty()) {
    return folder_existed ? tr("Nothing was left behind: %1 is as empty as before.").arg(QDir::toNativeSeparators(out_dir))
                          : tr("Nothing was left behind in %1.").arg(QDir::toNativeSeparators(out_dir));
  }
  return tr("%1 still holds: %2").arg(QDir::toNativeSeparators(out_dir), entries.join(", "));
}

void ExportDialog::onFinished(bool ok, bool cancelled, const io::ExportResult& result, const QString& error) {
  if (!exporting_) return;
  cancel_button_->setEnabled(true);
  exporting_ = false;
  if (ok) {
    // The destination is full now: another export needs another folder.
    estimate_ok_ = false;
    setExporting(false);
    progress_->setValue(kProgressSteps);
    stage_->setText(tr("done"));
    showSummary(result);
  } else {
    updateEstimate();  // the same folder may be used again
    progress_->hide();
    const QString left = leftBehindText(exported_dir_, folder_existed_);
    stage_->setText(cancelled ? tr("Export cancelled. %1").arg(left)
                              : tr("Export failed: %1\n%2").arg(error, left));
  }
  emit exportEnded(ok, cancelled);
}

void ExportDialog::showSummary(const io::ExportResult& result) {
  QStringList lines;
  lines << tr("Exported %1 %2 in %3 s: %4 files, %5, in %6")
               .arg(QString::fromLatin1(io::export_format_name(result.format)), qs(result.precision))
               .arg(result.seconds, 0, 'f', 1)
               .arg(result.files.size())
               .arg(size_text(result.total_bytes), QDir::toNativeSeparators(qs(result.out_dir)));
  for (const std::string& note : result.notes) lines << tr("Note: %1").arg(qs(note));
  summary_->setText(lines.join('\n'));
  summary_->show();
  files_->clear();
  for (const io::ExportedFile& f : result.files) {
    auto* item = new QTreeWidgetItem(files_);
    // The name only (the folder is the destination); the full path in the tooltip and the item's data.
    item->setText(0, QFileInfo(qs(f.path)).fileName());
    item->setToolTip(0, QDir::toNativeSeparators(qs(f.path)));
    item->setData(0, Qt::UserRole, qs(f.path));
    item->setText(1, size_text(f.bytes));
    item->setData(1, Qt::UserRole, QVariant::fromValue<qulonglong>(f.bytes));
    item->setTextAlignment(1, Qt::AlignRight | Qt::AlignVCenter);
  }
  files_->show();
  exported_dir_ = qs(result.out_dir.empty() ? request().out_dir : result.out_dir);
  open_folder_->show();
}

void ExportDialog::openFolder() { QDesktopServices::openUrl(QUrl::fromLocalFile(exported_dir_)); }

}  // namespace ql::ui
