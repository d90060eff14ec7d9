// The real OpenAI client (npm `openai`) against `quantlens-cli serve` on the
// demo model (run by run_with_server.sh): a plain answer, the same answer
// streamed, a picture as a data URL answering what the CLI answers for it, a
// picture by local path, two pictures, a multi-turn chat, usage counts, and
// errors as the client library reports them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { OpenAI, base, check, client, dataUrl, finish, imageMessage, model, waitReady } from './server_support.mjs';

await waitReady();
const question = [{ role: 'user', content: 'Describe a red square.' }];
let plain;

await check('a plain answer with usage', async () => {
  plain = await client.chat.completions.create({ model, messages: question, max_tokens: 6, temperature: 0 });
  assert.equal(plain.object, 'chat.completion');
  assert.equal(plain.model, model);
  assert.equal(plain.choices.length, 1);
  assert.equal(plain.choices[0].message.role, 'assistant');
  assert.equal(typeof plain.choices[0].message.content, 'string');
  assert.ok(plain.choices[0].message.content.length > 0);
  assert.equal(plain.choices[0].finish_reason, 'length');
  assert.equal(plain.usage.completion_tokens, 6);
  assert.ok(plain.usage.prompt_tokens > 5);
  assert.equal(plain.usage.total_tokens, plain.usage.prompt_tokens + 6);
});

await check('the same answer streamed, with usage at the end', async () => {
  const stream = await client.chat.completions.create({
    model, messages: question, max_tokens: 6, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = '', finish = null, usage = null, chunks = 0;
  for await (const chunk of stream) {
    ++chunks;
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta.content ?? '';
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.ok(chunks >= 3);
  assert.equal(text, plain.choices[0].message.content);
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 6);
  assert.ok(usage.prompt_tokens_details.cached_tokens > 0, 'the repeated prompt came from the KV cache');
});

const expected = JSON.parse(readFileSync(process.env.QL_EXPECTED, 'utf8'));
let onePicture;
await check('a picture as a data URL answers what quantlens-cli generate answers', async () => {
  onePicture = await client.chat.completions.create({
    model, messages: [imageMessage([dataUrl('img_a_64x64.png')], 'What is in the picture?')], max_tokens: 6,
    temperature: 0,
  });
  assert.equal(onePicture.choices[0].message.content, expected.text);
  assert.equal(onePicture.usage.prompt_tokens, expected.prompt_tokens);
});

await check('a picture by local path inside --allow-files', async () => {
  const r = await client.chat.completions.create({
    model, messages: [imageMessage([`file://${process.env.QL_IMAGES}/img_a_64x64.png`], 'What is in the picture?')],
    max_tokens: 6, temperature: 0,
  });
  assert.equal(r.choices[0].message.content, expected.text);
});

await check('two pictures', async () => {
  const r = await client.chat.completions.create({
    model, messages: [imageMessage([dataUrl('img_a_64x64.png'), dataUrl('img_b_48x80.png')], 'Compare them.')],
    max_tokens: 4, temperature: 0,
  });
  assert.equal(r.usage.completion_tokens, 4);
  assert.ok(r.usage.prompt_tokens > onePicture.usage.prompt_tokens + 10, 'the second picture adds its tokens');
});

await check('a multi-turn chat with a system prompt', async () => {
  const messages = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Name a shape.' },
  ];
  const first = await client.chat.completions.create({ model, messages, max_tokens: 4, temperature: 0 });
  messages.push({ role: 'assistant', content: first.choices[0].message.content });
  messages.push({ role: 'user', content: 'Another one.' });
  const second = await client.chat.completions.create({ model, messages, max_tokens: 4, temperature: 0 });
  assert.ok(second.usage.prompt_tokens > first.usage.prompt_tokens + 4);
  assert.ok(second.usage.prompt_tokens_details.cached_tokens > 0, 'the first turn came from the KV cache');
});

await check('errors as the client library reports them', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'gpt-4o', messages: question }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && e.code === 'model_not_found',
  );
  await assert.rejects(
    client.chat.completions.create({ model, messages: question, temperature: 5 }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'temperature' && /temperature/.test(e.message),
  );
  await assert.rejects(
    client.chat.completions.create({ model, messages: [imageMessage(['https://example.com/a.png'], 'Hi')] }),
    (e) => e instanceof OpenAI.BadRequestError && /fetches nothing|http/.test(e.message),
  );
  const stranger = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'wrong-key', maxRetries: 0 });
  await assert.rejects(stranger.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), [model]);
});

finish();
