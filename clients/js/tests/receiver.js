// A local webhook receiver for the tests: it keeps every request (path,
// headers, raw body) and answers 204; the tests verify the deliveries.

import { createServer } from 'node:http';

export async function startReceiver() {
  const deliveries = [];
  const waiters = new Set();
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      deliveries.push({ path: req.url, headers: req.headers, body: Buffer.concat(chunks), at: Date.now() });
      res.writeHead(204).end();
      for (const w of waiters) w();
    });
  });
  await new Promise((res) => server.listen(0, '127.0.0.1', res));
  const url = `http://127.0.0.1:${server.address().port}`;

  /** Resolves to the deliveries once `done(deliveries)` is true; rejects after timeoutMs. */
  function waitFor(done, timeoutMs = 30_000, what = 'deliveries') {
    return new Promise((resolve, reject) => {
      const check = () => {
        let ok = false;
        try {
          ok = done(deliveries);
        } catch (err) {
          cleanup();
          reject(err);
          return;
        }
        if (ok) {
          cleanup();
          resolve(deliveries);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${deliveries.length} deliveries`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  }

  function close() {
    server.closeAllConnections?.();
    return new Promise((res) => server.close(res));
  }

  return { url, deliveries, waitFor, close };
}
