import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type express from 'express';

/** An HTTP server that can be started and stopped gracefully. */
export interface HttpService {
  app: express.Express;
  server?: Server;
  url?: string;
  listen(port: number, host?: string): Promise<string>;
  /** Stops accepting connections and waits for in-flight requests to finish. */
  close(): Promise<void>;
}

export function httpService(app: express.Express): HttpService {
  let closing = false;
  const service: HttpService = {
    app,
    async listen(port, host) {
      const server = host === undefined ? app.listen(port) : app.listen(port, host);
      await once(server, 'listening');
      // While shutting down, every answer tells its keep-alive client to go away.
      server.prependListener('request', (_req, res) => {
        if (closing) res.setHeader('connection', 'close');
      });
      // Longer than typical load-balancer idle timeouts, so they close first.
      server.keepAliveTimeout = 65_000;
      const address = server.address() as AddressInfo;
      service.server = server;
      service.url = `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`;
      return service.url;
    },
    async close() {
      const server = service.server;
      if (!server) return;
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // A keep-alive socket that goes idle after its last response would hold `close` open
      // until the keep-alive timeout: close idle sockets as they appear.
      server.closeIdleConnections();
      const sweeper = setInterval(() => server.closeIdleConnections(), 50);
      await closed.finally(() => clearInterval(sweeper));
    },
  };
  return service;
}
