import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { AMQP_URL } from './broker.js';

/**
 * Sees what a client sends, after it was passed on: `connection` counts the forwarder's connections from 1,
 * and `toBroker` writes bytes to the broker as if that client had sent them.
 */
export type Tap = (connection: number, chunk: Buffer, toBroker: (bytes: Buffer) => void) => void;

/** A TCP forwarder to the broker that can be shut (the port then refuses) and opened again on the same port. */
export class Forwarder {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly pairs = new Set<[Socket, Socket]>();
  private accepted = 0;
  port = 0;

  constructor(private readonly tap?: Tap) {}

  async open(port: number): Promise<void> {
    const broker = new URL(AMQP_URL);
    const server = createServer((client) => {
      const upstream = connect(Number(broker.port || 5672), broker.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => undefined).on('close', () => this.sockets.delete(s));
      }
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      client.on('close', () => this.pairs.delete(pair));
      client.pipe(upstream).pipe(client);
      const n = ++this.accepted;
      const tap = this.tap;
      if (tap) client.on('data', (chunk: Buffer) => tap(n, chunk, (bytes) => void (!upstream.destroyed && upstream.write(bytes))));
    });
    server.listen(port, '127.0.0.1');
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => Promise.reject(e))]);
    this.server = server;
    this.port = port;
  }

  async openAnyOf(ports: readonly number[]): Promise<void> {
    for (const port of ports) if (await this.open(port).then(() => true, () => false)) return;
    throw new Error(`none of the ports ${ports.join(', ')} is free`);
  }

  /** Stops passing what clients send (the connections stay open): the broker seems to hang. */
  freeze(): void {
    for (const [client, upstream] of this.pairs) client.unpipe(upstream);
  }

  /** Cuts every connection but keeps listening: the broker looks restarted, up again at once. */
  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** Stops listening and cuts every connection: the client sees its connection die, then refusals. */
  async shut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise((r) => server.close(r));
  }
}
