// The chat with the real engine on the demo model (random weights: the
// answers are noise, but every step of a turn runs): Ctrl+Enter sends a
// question with an image, tokens stream into a growing Markdown answer with
// its figures, the next turn reuses the KV cache, Esc stops, Regenerate
// replaces the last answer, Copy copies it, every answer saves the
// conversation with its images, the list reopens it, Ctrl+N starts anew,
// an image the engine rejects at send time gives the question back, a send
// while the engine is loading says so, and a deletion asks first.
#include <QApplication>
#include <QClipboard>
#include <QDir>
#include <QFile>
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QPushButton>
#include <QSignalSpy>
#include <QSplitter>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>

#include "ui/chat/answer_view.h"
#include "ui/chat/answer_widget.h"
#include "ui/chat/attachment_strip.h"
#include "ui/chat/chat_history.h"
#include "ui/chat/chat_panel.h"
#include "ui/chat/compose_edit.h"
#include "ui/chat/conversation_list.h"
#include "ui/chat/conversation_store.h"
#include "ui/chat/inline_notice.h"
#include "ui/chat/user_message_widget.h"
#include "ui/engine/engine_controller.h"

using namespace ql::ui;

namespace {

const QString kImages = QStringLiteral(QL_SOURCE_DIR "/resources/images");
const QString kDemoModel = QStringLiteral(QL_SOURCE_DIR "/resources/demo-model");
constexpr int kGenerationTimeoutMs = 30000;

struct Finished {
  quint64 id = 0;
  bool ok = false;
  ql::engine::GenerationResult result;
  QString error;
};

}  // namespace

class TestChatPanel : public QObject {
  Q_OBJECT

  QTemporaryDir store_dir_;
  EngineController* engine_ = nullptr;
  QSplitter* window_ = nullptr;
  ChatPanel* panel_ = nullptr;
  ConversationList* list_ = nullptr;
  QList<Finished> finished_;
  int tokens_ = 0;

  ComposeEdit* compose() const { return panel_->composeEdit(); }

  void type(const QString& text) {
    compose()->setFocus();
    compose()->setPlainText(text);
    compose()->moveCursor(QTextCursor::End);
  }

  // Waits for the next generationFinished; the engine is idle after it.
  bool waitAnswer(Finished* out = nullptr) {
    const qsizetype before = finished_.size();
    if (!QTest::qWaitFor([&] { return finished_.size() > before; }, kGenerationTimeoutMs)) return false;
    if (out) *out = finished_.back();
    return true;
  }

  int answersInHistory() const {
    int n = 0;
    for (QWidget* w : panel_->historyView()->messages()) n += qobject_cast<AnswerWidget*>(w) != nullptr;
    return n;
  }

 private slots:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    QVERIFY(store_dir_.isValid());
    engine_ = new EngineController;
    QSignalSpy loaded(engine_, &EngineController::loadFinished);
    LoadSettings settings;
    settings.model_dir = kDemoModel;
    QVERIFY(engine_->loadModel(settings));
    QVERIFY(loaded.wait(60000));
    QVERIFY2(loaded.front().at(0).toBool(), qPrintable(loaded.front().at(2).toString()));

    connect(engine_, &EngineController::tokenArrived, this, [this] { ++tokens_; });
    connect(engine_, &EngineController::generationFinished, this,
            [this](quint64 id, bool ok, const ql::engine::GenerationResult& r, const QString& e) {
              finished_.append({id, ok, r, e});
            });

    window_ = new QSplitter;
    panel_ = new ChatPanel(engine_);
    panel_->setStoreRoot(store_dir_.path());
    panel_->setMaxNewTokens(8);
    ql::engine::SamplingOptions greedy;
    greedy.temperature = 0.0;
    panel_->setSampling(greedy);
    list_ = new ConversationList(panel_);
    window_->addWidget(list_);
    window_->addWidget(panel_);
    window_->resize(1000, 700);
    window_->show();
    QApplication::setActiveWindow(window_);
    QVERIFY(QTest::qWaitForWindowActive(window_));
  }

  void cleanupTestCase() {
    delete window_;
    delete engine_;
  }

  void ctrlEnterSendsAndTheAnswerStreams() {
    QSignalSpy saved(panel_, &ChatPanel::conversationSaved);
    panel_->addImageFiles({kImages + "/shapes.png"});
    QCOMPARE(panel_->thumbnailStrip()->count(), 1);
    type("What shapes are in this picture?");
    tokens_ = 0;
    QList<qsizetype> shown;  // the answer view's text at each token
    auto sample = connect(engine_, &EngineController::tokenArrived, this, [&] {
      if (AnswerWidget* a = panel_->lastAnswer()) shown.append(a->view()->markdownText().size());
    });
    QTest::keyClick(compose(), Qt::Key_Return, Qt::ControlModifier);

    // Sent: the compose box is free again, the button stops the answer.
    QVERIFY(panel_->generating());
    QCOMPARE(panel_->sendButton()->text(), QString("Stop"));
    QCOMPARE(compose()->toPlainText(), QString());
    QCOMPARE(panel_->thumbnailStrip()->count(), 0);
    QCOMPARE(panel_->historyView()->count(), 2);  // the question and its answer-to-be
    auto* question = qobject_cast<UserMessageWidget*>(panel_->historyView()->at(0));
    QVERIFY(question);
    QCOMPARE(question->text(), QString("What shapes are in this picture?"));
    QCOMPARE(question->imageLabels().size(), 1);
    QVERIFY(!question->imageLabels()[0]->pixmap().isNull());

    Finished f;
    QVERIFY(waitAnswer(&f));
    disconnect(sample);
    QVERIFY2(f.ok, qPrintable(f.error));
    QVERIFY(tokens_ > 0);
    QCOMPARE(qsizetype(tokens_), qsizetype(f.result.generated_ids.size()));
    AnswerWidget* answer = panel_->lastAnswer();
    QVERIFY(answer);
    const QString text = QString::fromStdString(f.result.text);
    QVERIFY(!text.isEmpty());
    QCOMPARE(answer->text(), text);
    QCOMPARE(answer->view()->markdownText(), text);
    // It grew while streaming: shown partially before it was whole.
    QVERIFY(!shown.isEmpty());
    QVERIFY2(shown.front() < text.size(), qPrintable(QString("first shown %1 of %2").arg(shown.front()).arg(text.size())));
    QVERIFY(answer->view()->renderCount() >= 2);
    QVERIFY(answer->view()->renderCount() <= tokens_ + 1);
    // Its figures, small and grey.
    const QString stats = answer->statsLabel()->text();
    QVERIFY2(stats.contains(QString("%1 tokens").arg(f.result.generated_ids.size())), qPrintable(stats));
    QVERIFY2(stats.contains("first token") && stats.contains("ms"), qPrintable(stats));
    QVERIFY2(stats.contains("tokens/s"), qPrintable(stats));

    QVERIFY(!panel_->generating());
    QCOMPARE(panel_->sendButton()->text(), QString("Send"));
    QVERIFY(panel_->notice()->isHidden());

    // Saved, with the image copied beside the JSON.
    QCOMPARE(saved.size(), 1);
    const QString id = saved.front().at(0).toString();
    QCOMPARE(panel_->conversation().id, id);
    const QDir folder(store_dir_.filePath(id));
    QVERIFY(folder.exists("conversation.json"));
    QCOMPARE(folder.entryList({"*shapes.png"}, QDir::Files).size(), 1);
    // ... and listed.
    QCOMPARE(list_->listWidget()->count(), 1);
    QVERIFY(list_->listWidget()->item(0)->text().startsWith("What shapes are in this picture?"));
  }

  void theNextTurnReusesTheCache() {
    panel_->addImageFiles({kImages + "/stop_sign.png"});
    type("And this one?");
    QTest::keyClick(compose(), Qt::Key_Return, Qt::ControlModifier);
    Finished f;
    QVERIFY(waitAnswer(&f));
    QVERIFY2(f.ok, qPrintable(f.error));
    // The first turn (its image included) came from the KV cache.
    QVERIFY2(f.result.reused_tokens > 0, qPrintable(QString::number(f.result.reused_tokens)));
    QCOMPARE(panel_->conversation().messages.size(), 4);
    QCOMPARE(panel_->historyView()->count(), 4);
    QCOMPARE(list_->listWidget()->count(), 1);  // the same conversation, saved again
  }

  void escStopsTheAnswer() {
    panel_->setMaxNewTokens(4000);  // long enough to be stopped
    type("Tell me a long story.");
    const int before = tokens_;
    QTest::keyClick(compose(), Qt::Key_Return, Qt::ControlModifier);
    QVERIFY(QTest::qWaitFor([&] { return tokens_ > before; }, kGenerationTimeoutMs));
    QVERIFY(panel_->generating());
    QTest::keyClick(compose(), Qt::Key_Escape);
    Finished f;
    QVERIFY(waitAnswer(&f));
    panel_->setMaxNewTokens(8);
    QVERIFY2(f.ok, qPrintable(f.error));
    QCOMPARE(f.result.stop_reason, ql::engine::StopReason::kStopped);
    QVERIFY(f.result.generated_ids.size() < 4000);
    QVERIFY2(panel_->lastAnswer()->statsLabel()->text().contains("stopped"),
             qPrintable(panel_->lastAnswer()->statsLabel()->text()));
    QCOMPARE(panel_->sendButton()->text(), QString("Send"));
    // A stopped answer is kept (and saved) like any other.
    QCOMPARE(panel_->conversation().messages.size(), 6);
    QCOMPARE(panel_->conversation().messages.back().stats->stop_reason, QString("stopped"));
  }

  void regenerateReplacesTheLastAnswer() {
    ql::engine::SamplingOptions sampled;  // a new answer, not the same greedy one
    sampled.temperature = 1.0;
    sampled.seed = 7;
    panel_->setSampling(sampled);
    const qsizetype messages = panel_->conversation().messages.size();
    const int answers = answersInHistory();
    AnswerWidget* old_answer = panel_->lastAnswer();
    QVERIFY(old_answer->regenerateButton()->isVisible());
    QVERIFY(panel_->regenerateAction()->isEnabled());
    QTest::mouseClick(old_answer->regenerateButton(), Qt::LeftButton);
    QVERIFY(panel_->generating());
    Finished f;
    QVERIFY(waitAnswer(&f));
    ql::engine::SamplingOptions greedy;
    greedy.temperature = 0.0;
    panel_->setSampling(greedy);
    QVERIFY2(f.ok, qPrintable(f.error));
    QCOMPARE(panel_->conversation().messages.size(), messages);
    QCOMPARE(answersInHistory(), answers);
    QVERIFY(panel_->lastAnswer() != old_answer);
    QCOMPARE(panel_->conversation().messages.back().text, QString::fromStdString(f.result.text));
    QCOMPARE(panel_->lastAnswer()->text(), QString::fromStdString(f.result.text));
    // The question before it was the same, so its prompt came from the cache.
    QVERIFY(f.result.reused_tokens > 0);
    // Only the last answer offers Regenerate.
    int offering = 0;
    for (QWidget* w : panel_->historyView()->messages()) {
      if (auto* a = qobject_cast<AnswerWidget*>(w)) offering += a->regenerateButton()->isVisible();
    }
    QCOMPARE(offering, 1);
  }

  void copyPutsTheAnswerOnTheClipboard() {
    QGuiApplication::clipboard()->clear();
    AnswerWidget* answer = panel_->lastAnswer();
    QTest::mouseClick(answer->copyButton(), Qt::LeftButton);
    QCOMPARE(QGuiApplication::clipboard()->text(), answer->text());
  }

  void ctrlNStartsANewChatAndTheListReopensTheOldOne() {
    const ChatConversation before = panel_->conversation();
    QVERIFY(!before.id.isEmpty());
    type("kept while switching");
    QSignalSpy opened(panel_, &ChatPanel::conversationOpened);
    QTest::keyClick(compose(), Qt::Key_N, Qt::ControlModifier);
    QCOMPARE(opened.size(), 1);
    QCOMPARE(opened.front().at(0).toString(), QString());
    QCOMPARE(panel_->historyView()->count(), 0);
    QVERIFY(panel_->conversation().id.isEmpty());
    QVERIFY(panel_->conversation().messages.isEmpty());
    QCOMPARE(compose()->toPlainText(), QString("kept while switching"));

    // Reopen from the list: every message back, the images shown from the copies.
    QListWidget* list = list_->listWidget();
    QCOMPARE(list->count(), 1);
    const QRect row = list->visualItemRect(list->item(0));
    QTest::mouseClick(list->viewport(), Qt::LeftButton, {}, row.center());
    QCOMPARE(panel_->conversation().id, before.id);
    QCOMPARE(panel_->conversation().messages.size(), before.messages.size());
    QCOMPARE(panel_->historyView()->count(), before.messages.size());
    auto* first = qobject_cast<UserMessageWidget*>(panel_->historyView()->at(0));
    auto* second = qobject_cast<UserMessageWidget*>(panel_->historyView()->at(2));
    QVERIFY(first && second);
    QCOMPARE(first->imageLabels().size(), 1);
    QVERIFY(!first->imageLabels()[0]->pixmap().isNull());
    QVERIFY(first->imageLabels()[0]->toolTip().startsWith(store_dir_.filePath(before.id)));
    QCOMPARE(second->imageLabels().size(), 1);
    QVERIFY(!second->imageLabels()[0]->pixmap().isNull());
    QCOMPARE(panel_->lastAnswer()->text(), before.messages.back().text);

    // And it goes on from where it was, reading the images from the copies.
    type("One more question.");
    QTest::keyClick(compose(), Qt::Key_Return, Qt::ControlModifier);
    Finished f;
    QVERIFY(waitAnswer(&f));
    QVERIFY2(f.ok, qPrintable(f.error));
    QCOMPARE(panel_->conversation().messages.size(), before.messages.size() + 2);
    QCOMPARE(list->count(), 1);
  }

  void anImageTheEngineRejectsGivesTheQuestionBack() {
    QTest::keyClick(compose(), Qt::Key_N, Qt::ControlModifier);
    QTemporaryDir dir;
    const QString path = dir.filePath("vanishing.png");
    QVERIFY(QFile::copy(kImages + "/bar_chart.png", path));
    panel_->addImageFiles({path});
    QCOMPARE(panel_->thumbnailStrip()->count(), 1);
    QVERIFY(QFile::remove(path));  // gone before the engine reads it
    type("What does the chart show?");
    QTest::keyClick(compose(), Qt::Key_Return, Qt::ControlModifier);
    Finished f;
    QVERIFY(waitAnswer(&f));
    QVERIFY(!f.ok);
    // The inline error names the file; the question is back, image and all.
    QVERIFY(!panel_->notice()->isHidden());
    QVERIFY2(panel_->notice()->text().contains("vanishing.png"), qPrintable(panel_->notice()->text()));
    QCOMPARE(compose()->toPlainText(), QString("What does the chart show?"));
    QCOMPARE(panel_->thumbnailStrip()->count(), 1);
    QCOMPARE(panel_->thumbnailStrip()->images()[0].label, QString("vanishing.png"));
    QCOMPARE(panel_->historyView()->count(), 0);
    QVERIFY(panel_->conversation().messages.isEmpty());
    QVERIFY(panel_->conversation().id.isEmpty());  // nothing was saved
    QCOMPARE(list_->listWidget()->count(), 1);
    panel_->thumbnailStrip()->takeAll();
  }

  void aSendWhileTheModelLoadsSaysSo() {
    QSignalSpy loaded(engine_, &EngineController::loadFinished);
    LoadSettings settings;
    settings.model_dir = kDemoModel;
    QVERIFY(engine_->loadModel(settings));
    type("Are you there?");
    QTest::keyClick(compose(), Qt::Key_Return, Qt::ControlModifier);
    QVERIFY(!panel_->notice()->isHidden());
    QVERIFY2(panel_->notice()->text().contains("loading"), qPrintable(panel_->notice()->text()));
    QCOMPARE(compose()->toPlainText(), QString("Are you there?"));
    QVERIFY(!panel_->generating());
    QCOMPARE(panel_->historyView()->count(), 0);
    QVERIFY(loaded.wait(60000));
    QVERIFY(loaded.front().at(0).toBool());
    // Loaded: the same question goes through.
    QTest::keyClick(compose(), Qt::Key_Return, Qt::ControlModifier);
    Finished f;
    QVERIFY(waitAnswer(&f));
    QVERIFY2(f.ok, qPrintable(f.error));
    QCOMPARE(list_->listWidget()->count(), 2);
  }

  void deletingAsksFirst() {
    QListWidget* list = list_->listWidget();
    QCOMPARE(list->count(), 2);
    const QString shown = panel_->conversation().id;
    list->setCurrentRow(0);  // newest first: the one on screen
    QCOMPARE(ConversationList::idOf(list->item(0)), shown);

    // Cancel keeps it.
    QTimer::singleShot(0, this, [] {
      auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget());
      if (box) box->button(QMessageBox::Cancel)->click();
    });
    QTest::mouseClick(list_->deleteButton(), Qt::LeftButton);
    QCOMPARE(list->count(), 2);
    QVERIFY(QDir(store_dir_.filePath(shown)).exists());

    // Yes deletes it, folder and images, and the chat on screen starts anew.
    QString asked;
    QTimer::singleShot(0, this, [&asked] {
      auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget());
      if (!box) return;
      asked = box->text();
      box->button(QMessageBox::Yes)->click();
    });
    QTest::mouseClick(list_->deleteButton(), Qt::LeftButton);
    QVERIFY2(asked.contains("Are you there?"), qPrintable(asked));
    QCOMPARE(list->count(), 1);
    QVERIFY(!QDir(store_dir_.filePath(shown)).exists());
    QVERIFY(panel_->conversation().id.isEmpty());
    QCOMPARE(panel_->historyView()->count(), 0);
  }

  void aNewChatDuringAnAnswerSavesItWhereItBelongs() {
    // The confirmation boxes of the test before took the activation away.
    QApplication::setActiveWindow(window_);
    QVERIFY(QTest::qWaitForWindowActive(window_));
    // A conversation with one answer, then a long second answer cut short by Ctrl+N.
    type("First question.");
    QTest::keyClick(compose(), Qt::Key_Return, Qt::ControlModifier);
    QVERIFY(waitAnswer());
    const QString id = panel_->conversation().id;
    QVERIFY(!id.isEmpty());
    panel_->setMaxNewTokens(4000);
    type("Tell me a long story.");
    const int before = tokens_;
    QTest::keyClick(compose(), Qt::Key_Return, Qt::ControlModifier);
    QVERIFY(QTest::qWaitFor([&] { return tokens_ > before; }, kGenerationTimeoutMs));
    QSignalSpy saved(panel_, &ChatPanel::conversationSaved);
    QTest::keyClick(compose(), Qt::Key_N, Qt::ControlModifier);
    panel_->setMaxNewTokens(8);
    // The new chat is on screen at once; the old answer is stopped...
    QCOMPARE(panel_->historyView()->count(), 0);
    QVERIFY(!panel_->generating());
    QCOMPARE(panel_->sendButton()->text(), QString("Send"));
    Finished f;
    QVERIFY(waitAnswer(&f));
    QCOMPARE(f.result.stop_reason, ql::engine::StopReason::kStopped);
    // ... and lands in its own conversation, saved; the new chat stays empty.
    QCOMPARE(saved.size(), 1);
    QCOMPARE(saved.front().at(0).toString(), id);
    auto stored = panel_->store().load(id);
    QVERIFY(stored.ok());
    QCOMPARE(stored->messages.size(), 4);
    QCOMPARE(stored->messages.back().text, QString::fromStdString(f.result.text));
    QCOMPARE(stored->messages.back().stats->stop_reason, QString("stopped"));
    QCOMPARE(panel_->historyView()->count(), 0);
    QVERIFY(panel_->conversation().messages.isEmpty());
  }
};

QTEST_MAIN(TestChatPanel)
#include "test_chat_panel.moc"
