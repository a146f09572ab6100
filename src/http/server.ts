import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Backend } from '../election/backend.js';
import type { LockdConfig } from '../config/types.js';
import type { LockdMetrics } from '../observe/metrics.js';
import { collectStatus } from '../observe/status-snapshot.js';
import { LockdError } from '../errors.js';
import { parseHostPort } from '../config/host-port.js';

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
 * `/metrics` (Prometheus text), `/healthz` (200 while alive and not shutting down), `/readyz`
 * (200 while the backend session is valid, else 503 with the reason), `/status` (the JSON of
 * `lockd status --json`). Serves nothing else; never exposes job env values or credentials (the
 * status snapshot carries neither). Fails with `LockdError('HTTP_LISTEN')` if it cannot bind.
 */
export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const { host, port } = parseHostPort(opts.listen, { allowPortZero: true });
  const server = http.createServer((req, res) => {
    void route(req.url ?? '/', opts)
      .then(({ status, type, body }) => {
        res.writeHead(status, { 'content-type': type });
        res.end(body);
      })
      .catch((err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`error: ${err instanceof Error ? err.message : String(err)}\n`);
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

async function route(url: string, opts: HttpServerOptions): Promise<{ status: number; type: string; body: string }> {
  const path = url.split('?')[0];
  switch (path) {
    case '/metrics':
      return { status: 200, type: opts.metrics.registry.contentType, body: await opts.metrics.registry.metrics() };
    case '/healthz':
      return opts.live() ? text(200, 'ok') : text(503, 'shutting down');
    case '/readyz': {
      const health = opts.backend.health();
      return health.up ? text(200, 'ready') : text(503, `not ready: ${health.reason ?? 'backend session not valid'}`);
    }
    case '/status': {
      const snapshot = await collectStatus(opts.backend, opts.config(), Date.now());
      return { status: 200, type: 'application/json', body: `${JSON.stringify(snapshot, null, 2)}\n` };
    }
    default:
      return text(404, 'not found: try /metrics /healthz /readyz /status');
  }
}

function text(status: number, body: string): { status: number; type: string; body: string } {
  return { status, type: 'text/plain; charset=utf-8', body: `${body}\n` };
}
