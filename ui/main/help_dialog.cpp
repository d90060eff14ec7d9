#include "ui/main/help_dialog.h"

#include <QDialogButtonBox>
#include <QHeaderView>
#include <QTabWidget>
#include <QTableWidget>
#include <QTextBrowser>
#include <QVBoxLayout>

namespace ql::ui {

QString getting_started_html() {
  return QObject::tr(
      "<h2>QuantLens</h2>"
      "<p>Chat about pictures with Qwen3-VL-30B-A3B, loaded straight from its Hugging Face checkpoint folder "
      "and quantized while it loads.</p>"
      "<h3>The demo model</h3>"
      "<p>On the first start QuantLens opens its <b>demo model</b>: a tiny checkpoint of the real architecture "
      "with <b>random weights</b>. Every part of the app works with it, but <b>its answers are noise</b>.</p>"
      "<h3>Using the real model</h3>"
      "<ol><li>Download the folder <code>Qwen/Qwen3-VL-30B-A3B-Instruct</code> from Hugging Face (the "
      "<code>*.safetensors</code> shards, <code>model.safetensors.index.json</code>, <code>config.json</code>, "
      "<code>generation_config.json</code>, <code>preprocessor_config.json</code>, <code>tokenizer.json</code>), "
      "for example:<br><code>huggingface-cli download Qwen/Qwen3-VL-30B-A3B-Instruct --local-dir "
      "~/models/Qwen3-VL-30B-A3B-Instruct</code></li>"
      "<li>Open the folder: <b>File &gt; Open model folder</b> (Ctrl+O), or drop the folder on the window.</li>"
      "<li>Choose a precision in the model panel. The estimate under it says what the model needs (weights, KV "
      "cache, workspace) against your memory budget <i>before</i> anything loads; <b>nf4-mixed</b> (about 22 GiB "
      "with an 8k context) is the recommendation for a 24 GB GPU. The CPU backend has no GPU: its budget is your "
      "RAM, and the full model is slow there.</li>"
      "<li>Press <b>Load</b>. Loading shows its progress in the status bar; <b>Cancel</b> keeps the model that "
      "was loaded before.</li></ol>"
      "<h3>Chatting</h3>"
      "<p>Type a question and press Ctrl+Enter. Add pictures by dropping them on the window, pasting them, or "
      "with the attach button. Esc stops an answer; Ctrl+N starts a new chat. Saved conversations are listed in "
      "the Conversations panel.</p>"
      "<h3>Compare and export</h3>"
      "<p><b>Compare</b> runs the same prompts at several precisions and measures each against the 16-bit "
      "reference (KL divergence, top-1 agreement, speed). <b>File &gt; Export</b> (Ctrl+E) writes GGUF for "
      "llama.cpp / Ollama / LM Studio, or bitsandbytes-style safetensors for transformers.</p>"
      "<h3>The command line</h3>"
      "<p><code>quantlens-cli</code> does every job without the window: <code>info</code>, <code>plan</code>, "
      "<code>generate</code>, <code>chat</code>, <code>compare</code>; <code>quantlens-cli --help</code> lists "
      "them.</p>");
}

HelpDialog::HelpDialog(const QList<ShortcutEntry>& shortcuts, QWidget* parent) : QDialog(parent) {
  setWindowTitle(tr("QuantLens help"));
  setObjectName("helpDialog");
  resize(640, 560);
  auto* layout = new QVBoxLayout(this);
  tabs_ = new QTabWidget(this);
  auto* text = new QTextBrowser(tabs_);
  text->setHtml(getting_started_html());
  text->setOpenExternalLinks(true);
  tabs_->addTab(text, tr("Getting started"));

  table_ = new QTableWidget(static_cast<int>(shortcuts.size()), 2, tabs_);
  table_->setObjectName("shortcutTable");
  table_->setHorizontalHeaderLabels({tr("Keys"), tr("Action")});
  table_->verticalHeader()->setVisible(false);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setSelectionMode(QAbstractItemView::NoSelection);
  for (int i = 0; i < shortcuts.size(); ++i) {
    table_->setItem(i, 0, new QTableWidgetItem(shortcuts[i].keys));
    table_->setItem(i, 1, new QTableWidgetItem(shortcuts[i].action));
  }
  table_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
  table_->horizontalHeader()->setStretchLastSection(true);
  tabs_->addTab(table_, tr("Keyboard shortcuts"));
  layout->addWidget(tabs_);

  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::close);
  layout->addWidget(buttons);
}

void HelpDialog::showPage(Page page) { tabs_->setCurrentIndex(page == Page::kShortcuts ? 1 : 0); }

}  // namespace ql::ui
