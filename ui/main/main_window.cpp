#include "ui/main/main_window.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QDoubleSpinBox>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileInfo>
#include <QKeyEvent>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QScreen>
#include <QScrollArea>
#include <QPushButton>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

#include "core/backend/backend_registry.h"
#include "ui/charts/charts_panel.h"
#include "ui/chat/chat_panel.h"
#include "ui/chat/conversation_list.h"
#include "ui/compare/compare_view.h"
#include "ui/engine/engine_controller.h"
#include "ui/export/export_dialog.h"
#include "ui/main/drop_payload.h"
#include "ui/main/load_progress_bar.h"
#include "ui/main/message_banner.h"
#include "ui/main/resource_paths.h"
#include "ui/main/theme.h"
#include "ui/server/server_panel.h"
#include "ui/model/model_panel.h"
#include "ui/model/plan_estimate.h"

// The icon lives in ql_ui's resources; a static library's resources must be
// pulled in by name or the linker drops them.
static void init_main_resources() { Q_INIT_RESOURCE(main_resources); }

namespace ql::ui {
namespace {

QString folder_name(const QString& dir) { return QFileInfo(QDir::cleanPath(dir)).fileName(); }

// The charts and the compare view want ~730 px each; side by side with the
// model panel that would make the window wider than a laptop's screen.
// Inside a scroll area they shrink with the window and scroll when smaller.
QScrollArea* scrolling(QWidget* content) {
  auto* area = new QScrollArea;
  area->setWidget(content);
  area->setWidgetResizable(true);
  area->setFrameShape(QFrame::NoFrame);
  return area;
}

QString demo_notice_html() {
  return QObject::tr(
      "<b>This is the demo model: its answers are noise.</b> It is a tiny checkpoint of the Qwen3-VL-MoE "
      "architecture with random weights, so that every part of QuantLens works without a download. To chat for "
      "real, download the <code>Qwen/Qwen3-VL-30B-A3B-Instruct</code> folder from Hugging Face and open it with "
      "<b>File &gt; Open model folder</b> (Ctrl+O), or drop the folder on this window. "
      "<a href=\"help\">How to get the real model</a>");
}

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  init_main_resources();
  setObjectName("mainWindow");
  setWindowTitle(tr("QuantLens"));
  setWindowIcon(QIcon(":/quantlens/quantlens.svg"));
  setAcceptDrops(true);
  setDockNestingEnabled(true);
  apply_theme(settings_.theme());

  engine_ = new EngineController(this);
  buildCentral();
  buildDocks();
  buildMenus();
  wireParts();
  restoreLayout();
  updateModelStatus();
  qApp->installEventFilter(this);
}

MainWindow::~MainWindow() {
  qApp->removeEventFilter(this);
  saveLayout();
  // The panels hold the controller; they go first, then the controller stops
  // and joins the engine thread (it is a child QObject, deleted after them).
  engine_->stop();
  delete export_dialog_;
  delete help_;
  for (QDockWidget* d : findChildren<QDockWidget*>()) delete d;
  delete takeCentralWidget();
}

void MainWindow::buildCentral() {
  auto* central = new QWidget(this);
  auto* layout = new QVBoxLayout(central);
  layout->setContentsMargins(4, 4, 4, 4);
  demo_notice_ = new MessageBanner(MessageBanner::Kind::kNotice, central);
  demo_notice_->setObjectName("demoNotice");
  connect(demo_notice_, &MessageBanner::linkActivated, this, [this] { openHelp(); });
  layout->addWidget(demo_notice_);
  error_banner_ = new MessageBanner(MessageBanner::Kind::kError, central);
  error_banner_->setObjectName("errorBanner");
  layout->addWidget(error_banner_);

  tabs_ = new QTabWidget(central);
  tabs_->setObjectName("centerTabs");
  tabs_->setDocumentMode(true);
  chat_ = new ChatPanel(engine_, tabs_);
  tabs_->addTab(chat_, tr("Chat"));
  tabs_->setTabToolTip(0, tr("Ask questions about pictures (Ctrl+1)"));
  compare_ = new CompareView(engine_);
  tabs_->addTab(scrolling(compare_), tr("Compare precisions"));
  tabs_->setTabToolTip(1, tr("One question at several precisions, side by side, against the 16-bit reference (Ctrl+2)"));
  server_ = new ServerPanel(engine_, &settings_);
  tabs_->addTab(scrolling(server_), tr("Local server"));
  tabs_->setTabToolTip(2, tr("Serve the loaded model to OpenAI clients on this machine (Ctrl+3)"));
  layout->addWidget(tabs_, 1);
  setCentralWidget(central);

  load_progress_ = new LoadProgressBar(engine_, this);
  model_status_ = new QLabel(this);
  model_status_->setObjectName("modelStatus");
  statusBar()->addWidget(model_status_, 1);
  statusBar()->addPermanentWidget(load_progress_);
}

void MainWindow::buildDocks() {
  model_panel_ = new ModelPanel(engine_, &settings_);
  model_dock_ = new QDockWidget(tr("Model"), this);
  model_dock_->setObjectName("modelDock");
  model_dock_->setWidget(model_panel_);
  addDockWidget(Qt::LeftDockWidgetArea, model_dock_);

  conversations_ = new ConversationList(chat_);
  conversations_dock_ = new QDockWidget(tr("Conversations"), this);
  conversations_dock_->setObjectName("conversationsDock");
  conversations_dock_->setWidget(conversations_);
  addDockWidget(Qt::LeftDockWidgetArea, conversations_dock_);
  tabifyDockWidget(model_dock_, conversations_dock_);
  model_dock_->raise();

  charts_ = new ChartsPanel(engine_);
  // On a GPU the memory chart also draws the device's memory, as the engine
  // last read it (cudaMemGetInfo after loading and at every token). A build
  // with CUDA on a machine without a usable GPU draws (and lists) no GPU lines.
  const backend::BackendProvider* cuda = backend::find_backend_provider("cuda");
  if (cuda && cuda->probe && cuda->probe().ok()) {
    charts_->setDeviceMemoryReader([engine = engine_]() -> std::optional<DeviceMemory> {
      const engine::Metrics m = engine->metrics();
      if (m.device_total_bytes == 0 || m.device.rfind("CPU", 0) == 0) return std::nullopt;
      return DeviceMemory{m.device_total_bytes - std::min(m.device_total_bytes, m.device_free_bytes),
                          m.device_total_bytes};
    });
  }
  // The local server answers without the window's engine being busy: its
  // batch joins the charts, which sample while it serves.
  charts_->setBatchReader([server = server_] { return server->batchReading(); });
  connect(server_, &ServerPanel::servingChanged, charts_, &ChartsPanel::setServing);
  charts_dock_ = new QDockWidget(tr("Live charts"), this);
  charts_dock_->setObjectName("chartsDock");
  charts_dock_->setWidget(scrolling(charts_));
  addDockWidget(Qt::RightDockWidgetArea, charts_dock_);
  // Wide enough for the panel, the compare view and the charts without
  // scrolling (1850 x 960), or the screen's room when it is smaller.
  const QRect screen = QGuiApplication::primaryScreen() ? QGuiApplication::primaryScreen()->availableGeometry()
                                                         : QRect(0, 0, 1920, 1080);
  resize(std::min(1850, screen.width()), std::min(960, screen.height() * 9 / 10));
}

void MainWindow::showEvent(QShowEvent* event) {
  QMainWindow::showEvent(event);
  // Dock sizes only take once the window has its size; a saved layout wins.
  if (!first_show_done_ && settings_.windowState().isEmpty())
    resizeDocks({model_dock_, charts_dock_}, {350, 745}, Qt::Horizontal);
  first_show_done_ = true;
}

void MainWindow::buildMenus() {
  // File
  QMenu* file = menuBar()->addMenu(tr("&File"));
  QAction* open = file->addAction(tr("&Open model folder..."), model_panel_, &ModelPanel::chooseFolder);
  open->setObjectName("openAction");
  open->setShortcut(QKeySequence::Open);
  open->setToolTip(tr("Open a Hugging Face checkpoint folder and see what it needs before loading"));
  file->addMenu(model_panel_->recentMenu());
  file->addAction(tr("Open the &demo model"), this, &MainWindow::openDemoModel);
  QAction* load = file->addAction(tr("&Load the model"), model_panel_, [this] {
    if (!model_panel_->loadSelected()) showError(tr("The model cannot be loaded now"), model_panel_->loadButton()->toolTip());
  });
  load->setObjectName("loadAction");
  load->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_L));
  file->addSeparator();
  QAction* exp = file->addAction(tr("&Export..."), this, &MainWindow::openExportDialog);
  exp->setObjectName("exportAction");
  exp->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
  exp->setToolTip(tr("Write the model as GGUF or bitsandbytes safetensors for other tools"));
  file->addSeparator();
  QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
  quit->setObjectName("quitAction");
  quit->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Q));

  // Chat: its actions are the chat panel's own (Ctrl+N must exist once).
  QMenu* chat = menuBar()->addMenu(tr("&Chat"));
  chat->addAction(chat_->newChatAction());
  // Ctrl+Enter is the compose box's key: shown here, not bound twice.
  chat->addAction(tr("&Send the question\tCtrl+Enter"), chat_, &ChatPanel::send);
  chat->addAction(chat_->regenerateAction());
  QAction* stop = chat->addAction(tr("S&top\tEsc"), this, &MainWindow::stopAll);
  stop->setToolTip(tr("Stop the answer, the load, the comparison or the export that is running"));

  // View
  QMenu* view = menuBar()->addMenu(tr("&View"));
  QAction* chat_tab = view->addAction(tr("&Chat"), this, &MainWindow::showChat);
  chat_tab->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_1));
  QAction* compare_tab = view->addAction(tr("Com&pare precisions"), this, &MainWindow::showCompare);
  compare_tab->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_2));
  QAction* server_tab = view->addAction(tr("&Local server"), this, [this] { tabs_->setCurrentIndex(2); });
  server_tab->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_3));
  view->addSeparator();
  QAction* model_toggle = model_dock_->toggleViewAction();
  model_toggle->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_M));
  view->addAction(model_toggle);
  view->addAction(conversations_dock_->toggleViewAction());
  QAction* charts_toggle = charts_dock_->toggleViewAction();
  charts_toggle->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_G));
  view->addAction(charts_toggle);
  view->addSeparator();
  QMenu* theme = view->addMenu(tr("&Theme"));
  theme_group_ = new QActionGroup(this);
  const std::pair<ThemeMode, QString> modes[] = {{ThemeMode::kSystem, tr("Follow the &system")},
                                                 {ThemeMode::kLight, tr("&Light")},
                                                 {ThemeMode::kDark, tr("&Dark")}};
  for (const auto& [mode, text] : modes) {
    QAction* a = theme->addAction(text);
    a->setCheckable(true);
    a->setData(static_cast<int>(mode));
    a->setObjectName("theme_" + theme_mode_name(mode));
    a->setChecked(mode == settings_.theme());
    theme_group_->addAction(a);
    connect(a, &QAction::triggered, this, [this, mode = mode] { setTheme(mode); });
  }
  QAction* load_last = view->addAction(tr("Load the last model at start"));
  load_last->setObjectName("loadLastAtStart");
  load_last->setCheckable(true);
  load_last->setChecked(settings_.loadLastModelAtStart());
  connect(load_last, &QAction::toggled, this, [this](bool on) { settings_.setLoadLastModelAtStart(on); });

  // Help
  QMenu* help = menuBar()->addMenu(tr("&Help"));
  QAction* help_action = help->addAction(tr("QuantLens &help"), this, [this] { openHelp(); });
  help_action->setObjectName("helpAction");
  help_action->setShortcut(QKeySequence::HelpContents);
  QAction* keys = help->addAction(tr("&Keyboard shortcuts"), this, [this] { openHelp(HelpDialog::Page::kShortcuts); });
  keys->setObjectName("shortcutsAction");
  keys->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Slash));
  help->addAction(tr("&About QuantLens"), this, [this] {
    QMessageBox::about(this, tr("About QuantLens"),
                       tr("<b>QuantLens %1</b><p>Run Qwen3-VL-30B-A3B from its original checkpoint, quantized while "
                          "it loads; chat with pictures, compare precisions, export.</p>")
                           .arg(QString::fromLatin1(QL_VERSION)));
  });
}

void MainWindow::wireParts() {
  // Settings of the model panel go to the chat, now and on every change.
  connect(model_panel_, &ModelPanel::samplingChanged, chat_, &ChatPanel::setSampling);
  connect(model_panel_, &ModelPanel::maxNewTokensChanged, chat_, &ChatPanel::setMaxNewTokens);
  connect(model_panel_, &ModelPanel::systemPromptChanged, chat_, &ChatPanel::setSystemPrompt);
  const SamplingSettings sampling = settings_.sampling();
  chat_->setSampling(sampling.toOptions());
  chat_->setMaxNewTokens(sampling.max_new_tokens);
  chat_->setSystemPrompt(settings_.systemPrompt());

  // The compare view works on the folder the panel has open, within its budget.
  connect(model_panel_, &ModelPanel::folderOpened, compare_, &CompareView::setModelDir);
  connect(model_panel_->budgetSpin(), &QDoubleSpinBox::valueChanged, compare_, &CompareView::setMemoryBudgetGiB);
  compare_->setMemoryBudgetGiB(model_panel_->budgetSpin()->value());

  connect(model_panel_, &ModelPanel::errorRaised, this, &MainWindow::showError);
  connect(chat_, &ChatPanel::errorRaised, this, &MainWindow::showError);
  connect(engine_, &EngineController::jobRefused, this,
          [this](const QString& why) { statusBar()->showMessage(why, 5000); });
  connect(engine_, &EngineController::loadFinished, this, &MainWindow::onLoadFinished);
}

QAction* MainWindow::themeAction(ThemeMode mode) const {
  for (QAction* a : theme_group_->actions())
    if (a->data().toInt() == static_cast<int>(mode)) return a;
  return nullptr;
}

void MainWindow::setTheme(ThemeMode mode) {
  settings_.setTheme(mode);
  apply_theme(mode);
  if (QAction* a = themeAction(mode)) a->setChecked(true);
}

void MainWindow::showChat() { tabs_->setCurrentIndex(0); }

void MainWindow::showCompare() { tabs_->setCurrentIndex(1); }

void MainWindow::restoreLayout() {
  const QByteArray geometry = settings_.windowGeometry();
  if (!geometry.isEmpty()) restoreGeometry(geometry);
  const QByteArray state = settings_.windowState();
  if (!state.isEmpty()) restoreState(state);
}

void MainWindow::saveLayout() {
  settings_.setWindowGeometry(saveGeometry());
  settings_.setWindowState(saveState());
  settings_.sync();
}

void MainWindow::closeEvent(QCloseEvent* event) {
  saveLayout();
  QMainWindow::closeEvent(event);
}

void MainWindow::startUp() {
  if (!settings_.firstStartDone()) {
    settings_.setFirstStartDone(true);
    openDemoModel();
    return;
  }
  const QString last = settings_.lastModelDir();
  if (last.isEmpty()) return;
  if (!QFileInfo(last).isDir()) {
    showError(tr("The last model folder is gone"),
              tr("%1 no longer exists. Open a model folder (Ctrl+O) or the demo model (File menu).").arg(last));
    return;
  }
  if (model_panel_->openFolder(last) && settings_.loadLastModelAtStart()) model_panel_->loadSelected();
}

void MainWindow::openDemoModel() {
  const QString demo = demo_model_dir();
  if (demo.isEmpty()) {
    showError(tr("The demo model was not found"),
              tr("Looked in $QUANTLENS_RESOURCES/demo-model, %1/../share/quantlens/demo-model and the source "
                 "tree's resources/demo-model.")
                  .arg(QCoreApplication::applicationDirPath()));
    return;
  }
  model_dock_->show();
  model_dock_->raise();
  if (model_panel_->openFolder(demo)) model_panel_->loadSelected();
}

void MainWindow::onLoadFinished(bool ok, bool cancelled, const QString& error) {
  updateModelStatus();
  if (cancelled) {
    const auto info = engine_->modelInfo();
    statusBar()->showMessage(info ? tr("Loading cancelled; %1 is still loaded.")
                                        .arg(folder_name(QString::fromStdString(info->dir)))
                                  : tr("Loading cancelled; no model is loaded."),
                             8000);
  }
  if (ok) error_banner_->dismiss();
}

void MainWindow::updateModelStatus() {
  const auto info = engine_->modelInfo();
  const QString dir = info ? QString::fromStdString(info->dir) : QString();
  if (!info) {
    model_status_->setText(tr("No model loaded: open a model folder (Ctrl+O)."));
    setWindowTitle(tr("QuantLens"));
  } else {
    model_status_->setText(tr("%1 · %2 · weights %3 · %4")
                               .arg(folder_name(dir), QString::fromStdString(info->precision),
                                    human_bytes(info->weight_bytes),
                                    QString::fromStdString(info->device.empty() ? info->backend_name : info->device)));
    setWindowTitle(tr("QuantLens — %1").arg(folder_name(dir)));
  }
  if (is_demo_model(dir)) {
    if (!demo_notice_->isVisibleTo(this) || demo_notice_->summary() != demo_notice_html())
      demo_notice_->showRichText(demo_notice_html());
  } else {
    demo_notice_->dismiss();
  }
}

QString MainWindow::currentModelDir() const {
  const auto info = engine_->modelInfo();
  if (info) return QString::fromStdString(info->dir);
  return model_panel_->selectedDir();
}

void MainWindow::showError(const QString& summary, const QString& details) {
  error_banner_->showMessage(summary, details);
}

void MainWindow::stopAll() {
  if (chat_->generating()) chat_->stopGeneration();
  engine_->stop();
}

void MainWindow::openHelp(HelpDialog::Page page) {
  if (!help_) {
    help_ = new HelpDialog(shortcuts(), this);
    help_->setAttribute(Qt::WA_DeleteOnClose);
  }
  help_->showPage(page);
  help_->show();
  help_->raise();
}

void MainWindow::openExportDialog() {
  const QString dir = currentModelDir();
  if (dir.isEmpty()) {
    showError(tr("Nothing to export yet"), tr("Open a model folder first (Ctrl+O): export reads its checkpoint."));
    return;
  }
  if (export_dialog_) {
    export_dialog_->raise();
    export_dialog_->activateWindow();
    return;
  }
  export_dialog_ = new ExportDialog(engine_, dir, this);
  export_dialog_->setAttribute(Qt::WA_DeleteOnClose);
  export_dialog_->show();
}

ExportDialog* MainWindow::exportDialog() const { return export_dialog_.data(); }

QList<ShortcutEntry> MainWindow::shortcuts() const { return collect_shortcuts(menuBar()); }

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  if (!read_drop(event->mimeData()).empty()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
  const DropPayload drop = read_drop(event->mimeData());
  if (drop.empty()) return;
  event->acceptProposedAction();
  handleDrop(drop);
}

void MainWindow::handleDrop(const DropPayload& drop) {
  if (!drop.folder.isEmpty()) {
    model_dock_->show();
    model_dock_->raise();
    model_panel_->openFolder(drop.folder);
  }
  if (!drop.image_files.isEmpty()) {
    showChat();
    chat_->addImageFiles(drop.image_files);
  } else if (!drop.image.isNull()) {
    showChat();
    chat_->addImage(drop.image, tr("dropped image"));
  }
}

bool MainWindow::eventFilter(QObject* watched, QEvent* event) {
  const QEvent::Type type = event->type();
  if (type != QEvent::DragEnter && type != QEvent::DragMove && type != QEvent::Drop) return false;
  auto* widget = qobject_cast<QWidget*>(watched);
  if (!widget || widget == this || widget->window() != this) return false;
  auto* drag = static_cast<QDropEvent*>(event);  // DragEnter and DragMove derive from it
  const DropPayload drop = read_drop(drag->mimeData());
  if (drop.folder.isEmpty()) return false;  // images and text: the child's own business
  drag->acceptProposedAction();
  if (type == QEvent::Drop) handleDrop(drop);
  return true;
}

void MainWindow::keyPressEvent(QKeyEvent* event) {
  // Esc that no widget took (the chat takes it while it has the focus).
  if (event->key() == Qt::Key_Escape && event->modifiers() == Qt::NoModifier) {
    stopAll();
    event->accept();
    return;
  }
  QMainWindow::keyPressEvent(event);
}

}  // namespace ql::ui
