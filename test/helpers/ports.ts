import net from 'node:net';

/**
 * A free TCP port on 127.0.0.1 below 32768 (the ephemeral range, where a restarted server's port
 * can be stolen by an outgoing connection). Picks randomly in [20000, 32000) and checks it binds.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (await canBind(port)) return port;
  }
  throw new Error('no free port found in [20000, 32000)');
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
