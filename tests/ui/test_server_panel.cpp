// The "Local server" tab (ui/server/server_panel.h) on the demo model: it
// refuses to start without a model, serves the loaded model to an HTTP
// client, lists the request with its tokens, draws occupancy and tokens/s,
// stops (the port closes), restarts on a newly loaded model, and keeps its
// address and port for the next start of the app.
#include <httplib.h>

#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

#include <nlohmann/json.hpp>
#include <qcustomplot.h>

#include "tests/ui/ui_test_support.h"
#include "ui/engine/engine_controller.h"
#include "ui/server/server_panel.h"
#include "ui/settings/app_settings.h"

using namespace ql;
using ql::ui::EngineController;
using ql::ui::ServerPanel;
namespace t = ql::ui::test;

class TestServerPanel : public QObject {
  Q_OBJECT

  QTemporaryDir home_;

  static void load(EngineController& c, int parallel) {
    QSignalSpy done(&c, &EngineController::loadFinished);
    ui::LoadSettings s;
    s.model_dir = t::demo_model();
    s.batch = parallel;
    QVERIFY(c.loadModel(s));
    QVERIFY(t::wait_for(done));
    QVERIFY2(done.at(0).at(0).toBool(), qPrintable(done.at(0).at(2).toString()));
  }

 private slots:
  void initTestCase() { t::use_private_home(home_); }

  void servesTheLoadedModelAndListsItsRequests() {
    EngineController c;
    ui::AppSettings settings;
    ServerPanel panel(&c, &settings);
    auto* start = panel.findChild<QPushButton*>("serverStartStop");
    auto* state = panel.findChild<QLabel*>("serverState");
    QVERIFY(start && state);
    start->click();
    QVERIFY(!panel.isServing());
    QVERIFY(state->text().contains("Load a model"));

    load(c, 2);
    panel.findChild<QSpinBox*>("serverPort")->setValue(0);  // any free port
    QVERIFY(!panel.batchReading());
    QSignalSpy serving(&panel, &ServerPanel::servingChanged);
    start->click();
    QVERIFY(panel.isServing());
    QCOMPARE(serving.count(), 1);
    QCOMPARE(serving.first().at(0).toBool(), true);
    QVERIFY(panel.batchReading());
    QCOMPARE(panel.batchReading()->capacity, int64_t{2});  // what the live charts draw against
    QVERIFY(panel.port() > 0);
    QVERIFY(panel.findChild<QLabel*>("serverBatch")->text().startsWith("2"));

    httplib::Client client("127.0.0.1", panel.port());
    client.set_read_timeout(60, 0);
    const nlohmann::json body = {{"model", "demo-model"},
                                 {"messages", {{{"role", "user"}, {"content", "Hello"}}}},
                                 {"max_tokens", 5},
                                 {"temperature", 0}};
    auto r = client.Post("/v1/chat/completions", body.dump(), "application/json");
    QVERIFY(r);
    QCOMPARE(r->status, 200);
    QCOMPARE(nlohmann::json::parse(r->body)["usage"]["completion_tokens"].get<int>(), 5);

    // The table lists it once the panel refreshes (twice a second).
    auto* table = panel.findChild<QTableWidget*>("serverRequests");
    QTRY_COMPARE_WITH_TIMEOUT(table->rowCount(), 1, 5000);
    QTRY_COMPARE_WITH_TIMEOUT(table->item(0, 2)->text(), QString("done"), 5000);
    QCOMPARE(table->item(0, 4)->text(), QString("5"));
    QCOMPARE(table->item(0, 5)->text(), QString("length"));
    auto* plot = panel.findChild<QCustomPlot*>("serverChart");
    QTRY_VERIFY_WITH_TIMEOUT(plot->graph(1)->dataCount() >= 2, 5000);
    QVERIFY(state->text().contains("1 answered"));

    // Loading another model restarts the server on it.
    const int before = panel.port();
    load(c, 1);
    QVERIFY(panel.isServing());
    QTRY_VERIFY_WITH_TIMEOUT(panel.findChild<QLabel*>("serverBatch")->text().startsWith("1"), 5000);
    httplib::Client again("127.0.0.1", panel.port());
    auto h = again.Get("/health");
    QVERIFY(h);
    QCOMPARE(h->status, 200);
    Q_UNUSED(before);

    const int port = panel.port();
    start->click();  // stop
    QVERIFY(!panel.isServing());
    QCOMPARE(serving.last().at(0).toBool(), false);
    QVERIFY(!panel.batchReading());
    httplib::Client gone("127.0.0.1", port);
    QVERIFY(!gone.Get("/health"));
  }

  void addressAndPortPersist() {
    {
      EngineController c;
      ui::AppSettings settings;
      ServerPanel panel(&c, &settings);
      load(c, 1);
      panel.findChild<QLineEdit*>("serverHost")->setText("127.0.0.1");
      panel.findChild<QSpinBox*>("serverPort")->setValue(0);
      QVERIFY(panel.start());
      panel.stop();
    }
    ui::AppSettings settings;
    QCOMPARE(settings.serverHost(), QString("127.0.0.1"));
    QCOMPARE(settings.serverPort(), 0);
  }
};

QTEST_MAIN(TestServerPanel)
#include "test_server_panel.moc"
