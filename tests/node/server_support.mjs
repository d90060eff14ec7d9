// Shared by the node scripts that drive the local server: the openai client
// (module path from run_with_server.sh), waiting for /health, and pictures as
// data URLs.
import { readFileSync } from 'node:fs';

export const base = process.argv[2];
export const model = 'demo-model';
export const { default: OpenAI } = await import(process.env.QL_OPENAI_MODULE);
export const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'test-key', maxRetries: 0, timeout: 120000 });

export async function waitReady() {
  for (let i = 0; i < 600; ++i) {
    try {
      const r = await fetch(`${base}/health`);
      if (r.status === 200) return;
    } catch (e) { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the server never became ready');
}

export function dataUrl(name) {
  return 'data:image/png;base64,' + readFileSync(`${process.env.QL_IMAGES}/${name}`).toString('base64');
}

export function imageMessage(urls, text) {
  return {
    role: 'user',
    content: [...urls.map((url) => ({ type: 'image_url', image_url: { url } })), { type: 'text', text }],
  };
}

let failures = 0;
export async function check(name, fn) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    ++failures;
    console.log(`FAIL ${name}: ${e.stack || e}`);
  }
}
export function finish() {
  console.log(failures ? `${failures} failed` : 'all passed');
  process.exit(failures ? 1 : 0);
}
