import net from 'node:net';

export interface CuttingProxy {
  url: string;
  /** Cuts still to come. */
  cutsLeft(): number;
  /** Bytes the clients sent through to the target, over every connection. */
  forwarded(): number;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of `target` that cuts the connection (both sides) once the clients have sent each of `cutsAt`
 * bytes in total, counted over every connection, headers included: a network that drops mid-transfer.
 */
export async function cuttingProxy(target: string, cutsAt: number[]): Promise<CuttingProxy> {
  const { hostname, port } = new URL(target);
  const pending = [...cutsAt];
  let sent = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: hostname, port: Number(port) });
    sockets.add(client).add(upstream);
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      const next = pending[0];
      if (next !== undefined && sent + chunk.length >= next) {
        upstream.write(chunk.subarray(0, next - sent));
        sent = next;
        pending.shift();
        // Give the relay a moment to take the bytes that got through, as a real network would have.
        setTimeout(cut, 200);
        client.pause();
        return;
      }
      sent += chunk.length;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('error', cut);
    upstream.on('error', cut);
    client.on('close', () => {
      sockets.delete(client);
      upstream.destroy();
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    cutsLeft: () => pending.length,
    forwarded: () => sent,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
