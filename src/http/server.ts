import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Backend } from '../election/backend.js';
import type { LockdConfig } from '../config/types.js';
import type { LockdMetrics } from '../observe/metrics.js';
import { collectStatusPage } from '../observe/status-snapshot.js';
import { LockdError, UsageError } from '../errors.js';
import { parseHostPort } from '../config/host-port.js';
import { parseStatusQuery } from './status-query.js';
import { STATUS_PAGE_HTML } from './status-page.js';

/** The page may run only its own inline script and style, and fetch only from this endpoint. */
const STATUS_PAGE_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:";

export interface HttpServer {
  /** The bound port (useful with `listen: 127.0.0.1:0`). */
  port: number;
  close(): Promise<void>;
}

export interface HttpServerOptions {
  /** `host:port`. */
  listen: string;
  metrics: LockdMetrics;
  backend: Backend;
  config: () => LockdConfig;
  /** False once shutdown has begun (then `/healthz` answers 503). */
  live: () => boolean;
  logger: Logger;
}

/**
 * `/` (the status page, `STATUS_PAGE_HTML`, which reads `/status`), `/metrics` (Prometheus text, streamed in chunks with turns of the event loop between them, so a
 * scrape of 10,000 jobs never holds the loop for long), `/healthz` (200 while alive and not
 * shutting down), `/readyz` (200 while the backend session is valid, else 503 with the reason),
 * `/status?offset=&limit=` (a page of `lockd status --json`, see `collectStatusPage`; 400 for a bad
 * parameter). Serves nothing else; never exposes job env values or credentials (the status
 * snapshot carries neither). Fails with `LockdError('HTTP_LISTEN')` if it cannot bind.
 */
export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const { host, port } = parseHostPort(opts.listen, { allowPortZero: true });
  const server = http.createServer((req, res) => {
    void respond(req.url ?? '/', res, opts).catch((err: unknown) => {
      if (!res.headersSent) {
        send(res, text(500, `error: ${err instanceof Error ? err.message : String(err)}`));
      } else {
        // Mid-stream: the client sees a truncated answer, never a complete-looking wrong one.
        res.destroy();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new LockdError('HTTP_LISTEN', `cannot listen on ${opts.listen}: ${err.message}`, { cause: err })));
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  opts.logger.child({ component: 'http' }).info({ listen: `${host}:${bound}` }, 'http endpoint listening');
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface Answer {
  status: number;
  type: string;
  body: string;
}

async function respond(url: string, res: http.ServerResponse, opts: HttpServerOptions): Promise<void> {
  const { pathname, searchParams } = new URL(url, 'http://lockd');
  switch (pathname) {
    case '/':
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': STATUS_PAGE_CSP });
      res.end(STATUS_PAGE_HTML);
      return;
    case '/metrics':
      return streamMetrics(res, opts.metrics);
    case '/healthz':
      return send(res, opts.live() ? text(200, 'ok') : text(503, 'shutting down'));
    case '/readyz': {
      const health = opts.backend.health();
      return send(res, health.up ? text(200, 'ready') : text(503, `not ready: ${health.reason ?? 'backend session not valid'}`));
    }
    case '/status': {
      let page: { offset: number; limit: number; recent: number };
      try {
        page = parseStatusQuery(searchParams);
      } catch (err) {
        if (err instanceof UsageError) return send(res, text(400, err.message));
        throw err;
      }
      const snapshot = await collectStatusPage(opts.backend, opts.config(), Date.now(), page);
      return send(res, { status: 200, type: 'application/json', body: `${JSON.stringify(snapshot, null, 2)}\n` });
    }
    default:
      return send(res, text(404, 'not found: try / /metrics /healthz /readyz /status'));
  }
}

/** Writes the scrape chunk by chunk, waiting for the socket to drain when full; stops once the client is gone. */
async function streamMetrics(res: http.ServerResponse, metrics: LockdMetrics): Promise<void> {
  for await (const chunk of metrics.scrape()) {
    if (res.destroyed) return;
    if (!res.headersSent) res.writeHead(200, { 'content-type': metrics.contentType });
    if (!res.write(chunk)) await drained(res);
  }
  res.end();
}

function drained(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function send(res: http.ServerResponse, answer: Answer): void {
  res.writeHead(answer.status, { 'content-type': answer.type });
  res.end(answer.body);
}

function text(status: number, body: string): Answer {
  return { status, type: 'text/plain; charset=utf-8', body: `${body}\n` };
}
