import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Binds a server to host:port; a bind error (EADDRINUSE, EACCES) rejects instead of being emitted. */
export function listenOn(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The port a listening server is bound to (the one picked when configured as 0). */
export function boundPort(server: Server): number {
  return (server.address() as AddressInfo).port;
}

/** Stops accepting and closes idle connections; settles once the last connection is gone. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
