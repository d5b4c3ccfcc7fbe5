import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';

/** A throwaway PKI made with openssl: two CAs, server certificates and a client certificate. */
export class TestPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'taskbus-pki-'));

  private openssl(...args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: 'ignore' });
  }

  ca(name: string): void {
    this.openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '1', '-subj', `/CN=${name}`);
  }

  /** A certificate for `dns` signed by `ca`. */
  cert(name: string, ca: string, dns: string): void {
    writeFileSync(join(this.dir, `${name}.ext`), `subjectAltName=DNS:${dns}\n`);
    this.openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${dns}`);
    this.openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`);
  }

  read(file: string): Buffer {
    return readFileSync(join(this.dir, file));
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A TLS listener in front of the local broker's plain AMQP port: TLS terminates here. */
export async function tlsProxy(options: { cert: Buffer; key: Buffer; clientCa?: Buffer }): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer(
    { cert: options.cert, key: options.key, ...(options.clientCa ? { ca: [options.clientCa], requestCert: true, rejectUnauthorized: true } : {}) },
    (tlsSocket) => {
      const upstream = connect(5672, '127.0.0.1');
      tlsSocket.pipe(upstream).pipe(tlsSocket);
      const end = () => {
        tlsSocket.destroy();
        upstream.destroy();
      };
      tlsSocket.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    },
  );
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
