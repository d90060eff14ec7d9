// Grounding boxes drawn on the picture (ui/chat/grounding_view.h, and an
// answer's showGrounding): a box in 0-1000 coordinates lands on the right
// pixels of the picture, on screen and in the saved PNG; hovering a box
// highlights it and its label; an answer without boxes, or without a
// picture, draws nothing; items the parser refused are listed as text.
#include <QImage>
#include <QLabel>
#include <QTemporaryDir>
#include <QtTest>

#include "core/engine/grounding.h"
#include "ui/chat/answer_widget.h"
#include "ui/chat/grounding_view.h"

using namespace ql::ui;
using ql::engine::parse_grounding;

namespace {

// A 400 x 200 grey picture with a red rectangle over pixels [100, 300) x [50, 150).
QImage picture() {
  QImage img(400, 200, QImage::Format_RGB32);
  img.fill(QColor(128, 128, 128));
  for (int y = 50; y < 150; ++y)
    for (int x = 100; x < 300; ++x) img.setPixelColor(x, y, Qt::red);
  return img;
}

const char* kAnswer =
    "```json\n[{\"bbox_2d\": [250, 250, 750, 750], \"label\": \"red rectangle\"},"
    " {\"point_2d\": [100, 900], \"label\": \"corner\"}, {\"bbox_2d\": [10, 20, 30]}]\n```";

}  // namespace

class TestGroundingView : public QObject {
  Q_OBJECT
 private slots:
  void boxesLandOnThePicturesPixels() {
    GroundingView view(picture(), parse_grounding(kAnswer));
    QCOMPARE(view.shapeCount(), 2);
    const auto& box = view.shape(0);
    QCOMPARE(box.coords[0], 100.0);
    QCOMPARE(box.coords[1], 50.0);
    QCOMPARE(box.coords[2], 300.0);
    QCOMPARE(box.coords[3], 150.0);
    QCOMPARE(view.shape(1).coords[0], 40.0);
    QCOMPARE(view.shape(1).coords[1], 180.0);
    // The refused item is listed, naming what is wrong.
    QVERIFY2(view.legend()->text().contains("Not drawn") && view.legend()->text().contains("4 numbers"),
             qPrintable(view.legend()->text()));
    QVERIFY(view.legend()->text().contains("red rectangle"));

    // The saved picture has the box's colour on the rectangle's edge and the picture elsewhere.
    QTemporaryDir dir;
    const QString path = dir.filePath("boxes.png");
    QVERIFY(view.savePng(path));
    QImage saved(path);
    QCOMPARE(saved.size(), QSize(400, 200));
    const QColor edge = saved.pixelColor(200, 150);  // the bottom edge, clear of the label
    const QColor want = GroundingView::colourOf(0);
    QVERIFY2(std::abs(edge.red() - want.red()) < 40 && std::abs(edge.green() - want.green()) < 40 &&
                 std::abs(edge.blue() - want.blue()) < 40,
             qPrintable(edge.name()));
    QCOMPARE(saved.pixelColor(380, 20), QColor(128, 128, 128));
    QCOMPARE(saved.pixelColor(200, 100), QColor(Qt::red));  // inside the box: the picture, not filled
  }

  void hoveringABoxHighlightsIt() {
    GroundingView view(picture(), parse_grounding(kAnswer));
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    GroundingCanvas* canvas = view.canvas();
    const double s = canvas->scale();
    QCOMPARE(s, 1.0);  // 400 px wide fits
    QTest::mouseMove(canvas, QPoint(200, 100));
    QTRY_COMPARE(view.highlighted(), 0);
    QVERIFY(view.legend()->text().contains("background"));
    QTest::mouseMove(canvas, QPoint(40, 180));
    QTRY_COMPARE(view.highlighted(), 1);
    QTest::mouseMove(canvas, QPoint(380, 20));
    QTRY_COMPARE(view.highlighted(), -1);
    QCOMPARE(canvas->shapeAt(QPointF(100.5, 50.5)), 0);
  }

  void aLargePictureIsScaledDown() {
    QImage big(2080, 1040, QImage::Format_RGB32);
    big.fill(Qt::white);
    GroundingView view(big, parse_grounding("[{\"bbox_2d\": [0, 0, 500, 500], \"label\": \"x\"}]"));
    QCOMPARE(view.canvas()->width(), 520);
    QCOMPARE(view.canvas()->height(), 260);
    QCOMPARE(view.canvas()->shapeAt(QPointF(200, 100)), 0);   // 800, 400 in the picture: inside [0, 1040)
    QCOMPARE(view.canvas()->shapeAt(QPointF(300, 100)), -1);  // 1200: outside
  }

  void answersDrawOnlyWhatTheyHold() {
    AnswerWidget answer;
    answer.setFinished(kAnswer, std::nullopt);
    answer.showGrounding(picture());
    QVERIFY(answer.grounding());
    QCOMPARE(answer.grounding()->shapeCount(), 2);
    answer.showGrounding(QImage());  // no picture in the question
    QVERIFY(!answer.grounding());
    AnswerWidget plain;
    plain.setFinished("A red rectangle on grey.", std::nullopt);
    plain.showGrounding(picture());
    QVERIFY(!plain.grounding());
    AnswerWidget broken;
    broken.setFinished("[{\"bbox_2d\": [1, 2, 3, 5000], \"label\": \"far\"}]", std::nullopt);
    broken.showGrounding(picture());
    QVERIFY(!broken.grounding());  // nothing drawable: the answer's text says it
  }
};

QTEST_MAIN(TestGroundingView)
#include "test_grounding_view.moc"
