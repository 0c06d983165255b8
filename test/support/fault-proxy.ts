/**
 * A loopback HTTP proxy in front of a real emulator that misbehaves on a schedule: it cuts
 * connections in the middle of a body, answers 500 without forwarding, or stalls. Everything else
 * passes through byte for byte (headers included, so S3 signatures and Azure SharedKey still verify).
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault =
  /** Forward the answer but destroy the socket after this many body bytes. */
  | { kind: 'cut'; afterBytes: number }
  /** Answer this status with an S3/Azure-style XML error body, without asking the emulator. */
  | { kind: 'status'; status: number }
  /** Forward headers and this many body bytes, then send nothing more (until the proxy closes). */
  | { kind: 'stall'; afterBytes: number }
  /** Forward everything, but with one bit flipped in the body byte at this offset (a corrupting middlebox). */
  | { kind: 'flip'; atByte: number };

export interface ProxiedRequest {
  method: string;
  url: string;
  range: string | undefined;
  /** 0-based count of requests seen so far that carry a body download (GET). */
  getIndex: number;
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>`; append the emulator's path. */
  readonly url: string;
  /** Faults actually injected so far, by kind. */
  readonly injected: Record<Fault['kind'], number>;
  close(): Promise<void>;
}

/** Decides the fault (if any) for each request. */
export type FaultPlan = (request: ProxiedRequest) => Fault | undefined;

/** A plan that applies `faults[i]` to the i-th GET and lets everything after the list through. */
export function faultSequence(faults: (Fault | undefined)[]): FaultPlan {
  return ({ method, getIndex }) => (method === 'GET' ? faults[getIndex] : undefined);
}

/** A plan that applies `fault` once, to the first GET that downloads more than one byte (not a size probe). */
export function faultOnFirstDownload(fault: Fault): FaultPlan {
  let used = false;
  return ({ method, range }) => {
    if (used || method !== 'GET' || range === 'bytes=0-0') return undefined;
    used = true;
    return fault;
  };
}

export async function startFaultProxy(target: string, plan: FaultPlan): Promise<FaultProxy> {
  const upstream = new URL(target);
  const sockets = new Set<Socket>();
  const injected: Record<Fault['kind'], number> = { cut: 0, status: 0, stall: 0, flip: 0 };
  let getIndex = 0;

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    const fault = plan({ method, url: req.url ?? '/', range: req.headers.range, getIndex: method === 'GET' ? getIndex : -1 });
    if (method === 'GET') getIndex += 1;
    if (fault?.kind === 'status') {
      injected.status += 1;
      req.resume();
      const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected fault</Message></Error>`;
      res.writeHead(fault.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const forward = httpRequest(
      { host: upstream.hostname, port: upstream.port, method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        if (!fault || method !== 'GET') {
          answer.pipe(res);
          return;
        }
        if (fault.kind === 'flip') {
          let seen = 0;
          answer.on('data', (chunk: Buffer) => {
            const at = fault.atByte - seen;
            if (at >= 0 && at < chunk.length) {
              chunk[at] = (chunk[at] ?? 0) ^ 0x01;
              injected.flip += 1;
            }
            seen += chunk.length;
            res.write(chunk);
          });
          answer.on('end', () => res.end());
          return;
        }
        const inject = () => {
          injected[fault.kind] += 1;
          answer.destroy();
          // A cut is an abrupt close; a stall keeps the socket open and silent.
          if (fault.kind === 'cut') res.socket?.destroy();
        };
        if (fault.afterBytes === 0) {
          res.flushHeaders();
          inject();
          return;
        }
        let sent = 0;
        answer.on('data', (chunk: Buffer) => {
          if (sent >= fault.afterBytes) return;
          const room = fault.afterBytes - sent;
          const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
          sent += piece.length;
          res.write(piece);
          if (sent >= fault.afterBytes) inject();
        });
        answer.on('end', () => res.end());
      },
    );
    forward.on('error', () => res.socket?.destroy());
    req.pipe(forward);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    injected,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
