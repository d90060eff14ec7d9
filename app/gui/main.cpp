// quantlens: the desktop app. main() only sets the application up; the
// window (ui/main/main_window.h) does the rest.
//   quantlens [MODEL_DIR]          open (and load) a model folder at start
//   quantlens --screenshots DIR    the scripted run that makes the README's pictures
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QSocketNotifier>
#include <QTemporaryDir>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sys/socket.h>
#include <unistd.h>

#if QL_HAVE_CUDA
#include "gpu/cuda_backend.h"
#endif
#include "ui/main/main_window.h"
#include "ui/main/resource_paths.h"
#include "ui/main/screenshot_run.h"
#include "ui/model/model_panel.h"

namespace {

void describe(QCoreApplication& app, QCommandLineParser& parser, QCommandLineOption& screenshots) {
  QCoreApplication::setOrganizationName("QuantLens");
  QCoreApplication::setApplicationName("QuantLens");
  QCoreApplication::setApplicationVersion(QString::fromLatin1(QL_VERSION));
  parser.setApplicationDescription(
      "QuantLens: chat about pictures with Qwen3-VL-30B-A3B, quantized while it loads.");
  parser.addHelpOption();
  parser.addVersionOption();
  parser.addPositionalArgument("model", "A model folder to open and load at start (optional).", "[MODEL_DIR]");
  parser.addOption(screenshots);
  parser.process(app);  // --help and --version print and exit here
}

// --help and --version need no display: they run before the GUI exists.
bool text_only(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    for (const char* opt : {"-h", "--help", "--help-all", "-v", "--version"})
      if (std::strcmp(argv[i], opt) == 0) return true;
  return false;
}

// A scripted run must neither read nor change the user's settings and saved
// conversations: everything goes under a temporary folder.
void isolate_user_files(const QTemporaryDir& dir) {
  for (const char* var : {"XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"}) {
    const QString path = QDir(dir.path()).filePath(QString::fromLatin1(var).toLower());
    QDir().mkpath(path);
    qputenv(var, QFile::encodeName(path));
  }
}

// Ctrl+C (or a TERM, or a HUP) closes the window as its Quit does, so
// the layout and settings are saved: the handler only writes a byte to a
// socket (all a signal handler may do), which the event loop turns into a close.
int g_signal_fds[2] = {-1, -1};
extern "C" void on_quit_signal(int) {
  const char byte = 1;
  [[maybe_unused]] const ssize_t n = ::write(g_signal_fds[0], &byte, 1);
}
void close_on_quit_signals(QWidget* window) {
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, g_signal_fds) != 0) return;
  auto* notifier = new QSocketNotifier(g_signal_fds[1], QSocketNotifier::Read, window);
  QObject::connect(notifier, &QSocketNotifier::activated, window, [window] {
    char byte = 0;
    [[maybe_unused]] const ssize_t n = ::read(g_signal_fds[1], &byte, 1);
    window->close();
  });
  struct sigaction sa {};
  sa.sa_handler = on_quit_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);  // the terminal that started it closed
}

}  // namespace

int main(int argc, char** argv) {
  QCommandLineOption screenshots("screenshots",
                                 "Scripted run: load the demo model, ask about a picture, compare three "
                                 "precisions, open the export dialog, save a PNG of each step into DIR, quit.",
                                 "DIR");
  QCommandLineParser parser;
  if (text_only(argc, argv)) {
    QCoreApplication app(argc, argv);
    describe(app, parser, screenshots);
    return 0;
  }

  QApplication app(argc, argv);
  describe(app, parser, screenshots);
  QApplication::setDesktopFileName("io.github.quantlens.QuantLens");
#if QL_HAVE_CUDA
  // Models load on the GPU when a usable one is there (backend auto).
  ql::gpu::register_cuda_backend();
#endif

  std::unique_ptr<QTemporaryDir> scratch;
  if (parser.isSet(screenshots)) {
    scratch = std::make_unique<QTemporaryDir>();
    if (!scratch->isValid()) {
      std::fprintf(stderr, "quantlens: cannot create a temporary folder for the scripted run\n");
      return 1;
    }
    isolate_user_files(*scratch);
  }

  ql::ui::MainWindow window;
  close_on_quit_signals(&window);
  window.show();
  std::unique_ptr<ql::ui::ScreenshotRun> run;
  if (parser.isSet(screenshots)) {
    run = std::make_unique<ql::ui::ScreenshotRun>(&window, QDir(parser.value(screenshots)).absolutePath());
    run->start();
  } else if (!parser.positionalArguments().isEmpty()) {
    if (window.modelPanel()->openFolder(parser.positionalArguments().constFirst())) window.modelPanel()->loadSelected();
  } else {
    window.startUp();
  }
  return app.exec();
}
