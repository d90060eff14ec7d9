// 64 requests, 16 at a time, half of them streamed, through the real OpenAI
// client (run by run_with_server.sh): every one is answered completely, and
// each answer is the one the same request gets alone (greedy), so answers
// do not depend on what else was running.
import assert from 'node:assert/strict';
import { base, check, client, finish, model, waitReady } from './server_support.mjs';

await waitReady();
const total = 64, atOnce = 16, tokens = 8;
const request = (i) => ({
  model, max_tokens: tokens, temperature: 0,
  messages: [{ role: 'user', content: `Request number ${i}: say something.` }],
});

async function ask(i, stream) {
  if (!stream) {
    const r = await client.chat.completions.create(request(i));
    return { text: r.choices[0].message.content, finish: r.choices[0].finish_reason, n: r.usage.completion_tokens };
  }
  const s = await client.chat.completions.create({ ...request(i), stream: true, stream_options: { include_usage: true } });
  let text = '', finish = null, n = 0;
  for await (const chunk of s) {
    if (chunk.usage) n = chunk.usage.completion_tokens;
    for (const c of chunk.choices) {
      text += c.delta.content ?? '';
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  return { text, finish, n };
}

const answers = new Array(total);
await check(`${total} requests, ${atOnce} at a time, all answered completely`, async () => {
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      answers[i] = await ask(i, i % 2 === 1);
    }
  };
  await Promise.all(Array.from({ length: atOnce }, worker));
  for (let i = 0; i < total; ++i) {
    assert.ok(answers[i], `request ${i} has an answer`);
    assert.equal(answers[i].finish, 'length', `request ${i}`);
    assert.equal(answers[i].n, tokens, `request ${i}`);
    assert.ok(answers[i].text.length > 0, `request ${i}`);
  }
});

await check('each answer equals the same request asked alone', async () => {
  for (let i = 0; i < total; i += 7) {
    const alone = await ask(i, false);
    assert.equal(answers[i].text, alone.text, `request ${i}`);
  }
});

await check('/metrics counted them', async () => {
  const r = await fetch(`${base}/metrics`, { headers: { Authorization: 'Bearer test-key' } });
  const text = await r.text();
  const completed = Number(/quantlens_requests_total\{outcome="completed"\} (\d+)/.exec(text)[1]);
  assert.ok(completed >= total, `completed ${completed}`);
  assert.match(text, /quantlens_batch_capacity 4/);
});

finish();
