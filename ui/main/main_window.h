#pragma once
// The main window (issue 7): the model panel and the saved conversations in
// docks on the left, the chat and the compare view as tabs in the middle, the
// live charts in a dock on the right; an error banner (non-blocking, with
// details) and the demo model's notice above them; the load progress with
// Cancel in the status bar. It owns the EngineController (the engine's
// thread) and the settings, wires the parts together, takes drops (a folder
// opens it as a model, images go to the chat), and remembers its layout and
// theme.
#include <QList>
#include <QMainWindow>
#include <QPointer>

#include "ui/main/help_dialog.h"
#include "ui/main/shortcut_list.h"
#include "ui/settings/app_settings.h"

class QAction;
class QActionGroup;
class QDockWidget;
class QLabel;
class QTabWidget;

namespace ql::ui {

class ChatPanel;
class ChartsPanel;
class CompareView;
class ServerPanel;
class ConversationList;
struct DropPayload;
class EngineController;
class ExportDialog;
class LoadProgressBar;
class MessageBanner;
class ModelPanel;

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  // What happens at start: the first start opens and loads the demo model
  // (and the window says its answers are noise); later starts open the last
  // model folder, and load it when View > Load the last model at start is on.
  void startUp();

  EngineController* engine() const { return engine_; }
  AppSettings& settings() { return settings_; }
  ModelPanel* modelPanel() const { return model_panel_; }
  ChatPanel* chatPanel() const { return chat_; }
  ChartsPanel* chartsPanel() const { return charts_; }
  CompareView* compareView() const { return compare_; }
  MessageBanner* errorBanner() const { return error_banner_; }
  MessageBanner* demoNotice() const { return demo_notice_; }
  LoadProgressBar* loadProgress() const { return load_progress_; }
  QTabWidget* centerTabs() const { return tabs_; }
  HelpDialog* helpDialog() const { return help_; }
  ExportDialog* exportDialog() const;  // the open one, or null
  QAction* themeAction(ThemeMode mode) const;

  // Every shortcut, as Help > Keyboard shortcuts lists it.
  QList<ShortcutEntry> shortcuts() const;

 public slots:
  void showError(const QString& summary, const QString& details = {});
  // Stops whatever the engine is doing (Esc outside the chat, Chat > Stop).
  void stopAll();
  void openHelp(ql::ui::HelpDialog::Page page = ql::ui::HelpDialog::Page::kGettingStarted);
  void openExportDialog();
  void openDemoModel();
  void setTheme(ql::ui::ThemeMode mode);
  void showChat();
  void showCompare();

 protected:
  void closeEvent(QCloseEvent* event) override;
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;
  void keyPressEvent(QKeyEvent* event) override;
  void showEvent(QShowEvent* event) override;
  // A folder dropped anywhere in the window opens it, also over a child that
  // takes drops of its own (the chat takes images, not folders).
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  void buildCentral();
  void buildDocks();
  void buildMenus();
  void wireParts();
  void restoreLayout();
  void saveLayout();
  void onLoadFinished(bool ok, bool cancelled, const QString& error);
  void handleDrop(const DropPayload& drop);
  void updateModelStatus();
  QString currentModelDir() const;

  AppSettings settings_;
  EngineController* engine_ = nullptr;
  ModelPanel* model_panel_ = nullptr;
  ChatPanel* chat_ = nullptr;
  ChartsPanel* charts_ = nullptr;
  CompareView* compare_ = nullptr;
  ServerPanel* server_ = nullptr;
  ConversationList* conversations_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  MessageBanner* error_banner_ = nullptr;
  MessageBanner* demo_notice_ = nullptr;
  LoadProgressBar* load_progress_ = nullptr;
  QLabel* model_status_ = nullptr;
  QDockWidget* model_dock_ = nullptr;
  QDockWidget* conversations_dock_ = nullptr;
  QDockWidget* charts_dock_ = nullptr;
  QActionGroup* theme_group_ = nullptr;
  QPointer<HelpDialog> help_;
  QPointer<ExportDialog> export_dialog_;
  QString previous_model_;
  bool first_show_done_ = false;  // the model loaded before the running load, for "still loaded"
};

}  // namespace ql::ui
