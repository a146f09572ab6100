import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { FaultProxy } from '../helpers/fault-proxy.js';

/** How long "nothing arrives" is watched for: an absence can only be shown over a period. */
const SILENCE_MS = 300;

/** A client of the echo server through `proxy`, collecting what comes back. */
class EchoClient {
  received = '';
  error: NodeJS.ErrnoException | undefined;
  readonly closed: Promise<void>;
  readonly socket: net.Socket;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => (this.received += text));
    socket.on('error', (err) => (this.error = err));
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static async connect(proxy: FaultProxy): Promise<EchoClient> {
    const socket = net.connect(proxy.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new EchoClient(socket);
  }

  /** Sends each piece as a write of its own; resolves with the milliseconds until all came back. */
  async roundTrip(...pieces: string[]): Promise<number> {
    const timeoutMs = 2000;
    const text = pieces.join('');
    const started = performance.now();
    const want = this.received + text;
    for (const piece of pieces) this.socket.write(piece);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`no echo of ${JSON.stringify(text)} within ${timeoutMs} ms (got ${JSON.stringify(this.received)})`)), timeoutMs);
      const onData = (): void => {
        if (this.received === want) finish();
      };
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        this.socket.off('data', onData);
        if (err === undefined) resolve();
        else reject(err);
      };
      this.socket.on('data', onData);
    });
    return performance.now() - started;
  }

  /** Resolves if for `ms` nothing at all happens on the socket: no data, no FIN, no error, no close. */
  async staysSilent(ms: number): Promise<void> {
    const before = this.received;
    await new Promise<void>((resolve, reject) => {
      const events = ['data', 'end', 'error', 'close'] as const;
      const onEvent = (): void => finish(new Error(`something arrived within ${ms} ms: ${JSON.stringify(this.received.slice(before.length))}, error ${this.error?.code}`));
      const timer = setTimeout(() => finish(), ms);
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        for (const event of events) this.socket.off(event, onEvent);
        if (err === undefined) resolve();
        else reject(err);
      };
      for (const event of events) this.socket.on(event, onEvent);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

describe('FaultProxy', () => {
  let echo: net.Server;
  let echoPort: number;
  const proxies: FaultProxy[] = [];
  const clients: EchoClient[] = [];

  before(async () => {
    echo = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.on('data', (chunk) => socket.write(chunk));
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    echoPort = (echo.address() as net.AddressInfo).port;
  });
  after(async () => {
    for (const client of clients) client.close();
    await Promise.all(proxies.map((proxy) => proxy.close()));
    await new Promise((resolve) => echo.close(resolve));
  });

  async function startProxy(): Promise<FaultProxy> {
    const proxy = await FaultProxy.start({ host: '127.0.0.1', port: echoPort });
    proxies.push(proxy);
    return proxy;
  }
  async function connect(proxy: FaultProxy): Promise<EchoClient> {
    const client = await EchoClient.connect(proxy);
    clients.push(client);
    return client;
  }

  test('listens on loopback below 32768 and passes bytes both ways', async () => {
    const proxy = await startProxy();
    assert.ok(proxy.port < 32768);
    assert.equal(proxy.endpoint, `127.0.0.1:${proxy.port}`);
    const client = await connect(proxy);
    await client.roundTrip('hello');
    await client.roundTrip(' again');
    assert.equal(client.received, 'hello again');
  });

  test('blackhole delivers nothing and closes nothing; leaving it resets only connections that lost bytes', async () => {
    const proxy = await startProxy();
    const talker = await connect(proxy);
    const quiet = await connect(proxy);
    await talker.roundTrip('before');
    await quiet.roundTrip('before');

    proxy.setMode('blackhole');
    const latecomer = await connect(proxy);
    talker.socket.write('into the hole');
    latecomer.socket.write('also lost');
    await Promise.all([talker.staysSilent(SILENCE_MS), latecomer.staysSilent(SILENCE_MS), quiet.staysSilent(SILENCE_MS)]);
    assert.equal(talker.received, 'before');

    proxy.setMode('pass');
    await Promise.all([talker.closed, latecomer.closed]);
    assert.equal(talker.error?.code, 'ECONNRESET');
    assert.equal(latecomer.error?.code, 'ECONNRESET');
    assert.equal(talker.received, 'before', 'dropped bytes are not delivered later');
    await quiet.roundTrip(' and after');
    await (await connect(proxy)).roundTrip('fresh');
  });

  test('reset closes current connections with RST and resets new ones until switched back', async () => {
    const proxy = await startProxy();
    const client = await connect(proxy);
    await client.roundTrip('ping');

    proxy.setMode('reset');
    await client.closed;
    assert.equal(client.error?.code, 'ECONNRESET');

    const refused = net.connect(proxy.port, '127.0.0.1');
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => refused.once('error', resolve));
    assert.equal(error.code, 'ECONNRESET');

    proxy.setMode('pass');
    await (await connect(proxy)).roundTrip('back');
  });

  test('delay holds every chunk for delayMs each way, in order; switching back makes it fast again', async () => {
    const delayMs = 120;
    const proxy = await startProxy();
    const client = await connect(proxy);
    assert.ok((await client.roundTrip('fast')) < delayMs);

    proxy.setMode({ delayMs });
    assert.ok((await client.roundTrip('slow')) >= 2 * delayMs);
    assert.ok((await client.roundTrip('a', 'b', 'c')) >= 2 * delayMs);
    assert.equal(client.received, 'fastslowabc');

    proxy.setMode('pass');
    assert.ok((await client.roundTrip('d')) < delayMs);
  });

  test('refuses a negative delay', async () => {
    const proxy = await startProxy();
    assert.throws(() => proxy.setMode({ delayMs: -1 }), RangeError);
    assert.equal(proxy.mode, 'pass');
  });
});
