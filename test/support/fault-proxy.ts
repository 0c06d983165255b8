/**
 * A loopback HTTP proxy in front of a real emulator that misbehaves on a schedule: it cuts
 * connections in the middle of a body, answers an error status without forwarding, stalls, drips,
 * ignores Range, reports another ETag, flips a bit or ends a body early. Everything else passes
 * through byte for byte (headers included, so S3 signatures and Azure SharedKey still verify): each
 * misbehaving answer is built from the emulator's real answer to the real, signed request.
 */
import { createServer, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault =
  /** Forward the answer but destroy the socket after this many body bytes. */
  | { kind: 'cut'; afterBytes: number }
  /** Answer this status with an S3/Azure-style XML error body, without asking the emulator. */
  | { kind: 'status'; status: number }
  /** Forward headers and this many body bytes, then send nothing more (until the proxy closes). */
  | { kind: 'stall'; afterBytes: number }
  /** Forward the body `bytes` at a time, one piece every `everyMs`: a link that never quite stops. */
  | { kind: 'drip'; bytes: number; everyMs: number }
  /** Forward everything, but with one bit flipped in the body byte at this offset (a corrupting middlebox). */
  | { kind: 'flip'; atByte: number }
  /** A store that ignores Range: answer 200 with `body` (the whole object) instead of the asked part. */
  | { kind: 'whole'; body: Buffer }
  /** Forward the answer with this ETag instead of the emulator's (the object was replaced meanwhile). */
  | { kind: 'etag'; etag: string }
  /** Forward this many body bytes, then end the answer cleanly (no Content-Length, no reset). */
  | { kind: 'truncate'; afterBytes: number };

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
    if (used || !isDownload(method, range)) return undefined;
    used = true;
    return fault;
  };
}

/** A plan that applies `fault` to every GET that downloads more than one byte. */
export function faultOnEveryDownload(fault: Fault): FaultPlan {
  return ({ method, range }) => (isDownload(method, range) ? fault : undefined);
}

/** A plan that applies `fault` to every download of a part that does not start at byte 0. */
export function faultOnLaterParts(fault: Fault): FaultPlan {
  return ({ method, range }) => (isDownload(method, range) && !/^bytes=0-/.test(range ?? '') ? fault : undefined);
}

function isDownload(method: string, range: string | undefined): boolean {
  return method === 'GET' && range !== 'bytes=0-0';
}

/** The provider error code S3 and Azure send with each status (the adapters classify by both). */
const errorCodes: Record<number, string> = { 403: 'AccessDenied', 404: 'NoSuchKey', 500: 'InternalError', 503: 'ServiceUnavailable' };

const zeroCounts = (): Record<Fault['kind'], number> => ({ cut: 0, status: 0, stall: 0, drip: 0, flip: 0, whole: 0, etag: 0, truncate: 0 });

/**
 * Starts the proxy in front of `target`. A path in `target` (e.g. azurite's `/devstoreaccount1`) is
 * put in front of every forwarded path, so that clients see a store without that prefix.
 */
export async function startFaultProxy(target: string, plan: FaultPlan): Promise<FaultProxy> {
  const upstream = new URL(target);
  const pathPrefix = upstream.pathname.replace(/\/$/, '');
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const injected = zeroCounts();
  let getIndex = 0;

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    // Azure's SDK sends its range as x-ms-range.
    const range = req.headers.range ?? (req.headers['x-ms-range'] as string | undefined);
    const fault = plan({ method, url: req.url ?? '/', range, getIndex: method === 'GET' ? getIndex : -1 });
    if (method === 'GET') getIndex += 1;
    if (fault?.kind === 'status') {
      injected.status += 1;
      req.resume();
      const code = errorCodes[fault.status] ?? 'InternalError';
      const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected fault</Message></Error>`;
      res.writeHead(fault.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), 'x-ms-error-code': code });
      res.end(body);
      return;
    }
    const forward = httpRequest(
      { host: upstream.hostname, port: upstream.port, method, path: `${pathPrefix}${req.url ?? '/'}`, headers: req.headers },
      (answer) => {
        const status = answer.statusCode ?? 502;
        const headers: OutgoingHttpHeaders = { ...answer.headers };
        if (!fault || method !== 'GET' || status >= 300) {
          res.writeHead(status, headers);
          answer.pipe(res);
          return;
        }
        switch (fault.kind) {
          case 'whole': {
            injected.whole += 1;
            answer.resume();
            delete headers['content-range'];
            delete headers['content-md5'];
            headers['content-length'] = String(fault.body.length);
            res.writeHead(200, headers);
            res.end(fault.body);
            return;
          }
          case 'etag':
            injected.etag += 1;
            headers.etag = fault.etag;
            res.writeHead(status, headers);
            answer.pipe(res);
            return;
          case 'flip': {
            res.writeHead(status, headers);
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
          case 'drip': {
            injected.drip += 1;
            res.writeHead(status, headers);
            const pieces: Buffer[] = [];
            let ended = false;
            answer.on('data', (chunk: Buffer) => pieces.push(chunk));
            answer.on('end', () => (ended = true));
            const timer = setInterval(() => {
              let piece = Buffer.alloc(0);
              while (piece.length < fault.bytes && pieces.length > 0) {
                const head = pieces.shift() as Buffer;
                const take = Math.min(head.length, fault.bytes - piece.length);
                piece = Buffer.concat([piece, head.subarray(0, take)]);
                if (take < head.length) pieces.unshift(head.subarray(take));
              }
              if (piece.length > 0) res.write(piece);
              else if (ended) {
                clearInterval(timer);
                timers.delete(timer);
                res.end();
              }
            }, fault.everyMs);
            timers.add(timer);
            res.on('close', () => {
              clearInterval(timer);
              timers.delete(timer);
              answer.destroy();
            });
            return;
          }
          case 'cut':
          case 'stall':
          case 'truncate': {
            // A clean truncation has no Content-Length to betray it: the body just ends.
            if (fault.kind === 'truncate') delete headers['content-length'];
            res.writeHead(status, headers);
            const inject = () => {
              injected[fault.kind] += 1;
              answer.destroy();
              // A cut is an abrupt close; a stall keeps the socket open and silent; a truncation ends cleanly.
              if (fault.kind === 'cut') res.socket?.destroy();
              if (fault.kind === 'truncate') res.end();
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
            return;
          }
        }
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
        for (const timer of timers) clearInterval(timer);
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
