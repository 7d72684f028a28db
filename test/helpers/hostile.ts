/**
 * A hostile HTTP server on raw `node:net`: it parses requests just enough to record them (method,
 * path, headers, body) and lets each test write whatever bytes it likes back — a stalled body, a
 * status HTTP forbids, a 20 MB chunked error, a socket that accepts and never answers. Requests are
 * recorded when their body has arrived, so a test can assert what the server received (and that
 * nothing was sent after an abort).
 */
import { createServer, type Server, type Socket } from 'node:net';

export interface HostileRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Answers one request by writing to the socket (and ending or keeping it). */
export type HostileHandler = (request: HostileRequest, socket: Socket, index: number) => void;

export interface HostileServer {
  readonly url: string;
  readonly port: number;
  /** Every request received, in order. */
  readonly requests: HostileRequest[];
  /** Replaces the handler. */
  handle(handler: HostileHandler): void;
  close(): Promise<void>;
}

export async function startHostile(handler: HostileHandler = () => {}): Promise<HostileServer> {
  let current = handler;
  const requests: HostileRequest[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = Buffer.alloc(0);
    const onData = (data: Buffer): void => {
      buffer = Buffer.concat([buffer, data]);
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buffer.subarray(0, end).toString('latin1').split('\r\n');
        const [method = '', path = ''] = (head[0] ?? '').split(' ');
        const headers: Record<string, string> = {};
        for (const line of head.slice(1)) {
          const colon = line.indexOf(':');
          if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        const length = Number(headers['content-length'] ?? 0);
        if (buffer.length < end + 4 + length) return;
        const body = buffer.subarray(end + 4, end + 4 + length).toString('utf8');
        buffer = buffer.subarray(end + 4 + length);
        const request = { method, path, headers, body };
        requests.push(request);
        current(request, socket, requests.length - 1);
      }
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    handle(next) {
      current = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The head of a response: status line and headers, ready to write. */
export function head(status: number, headers: Record<string, string | number>, reason = 'X'): string {
  const lines = [`HTTP/1.1 ${status} ${reason}`];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** One chunk of a chunked body. */
export function chunk(data: string | Uint8Array): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
  return Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]);
}

/** The last chunk of a chunked body. */
export const LAST_CHUNK = '0\r\n\r\n';

/** Writes a complete JSON response. */
export function sendJson(
  socket: Socket,
  status: number,
  value: unknown,
  extra: Record<string, string> = {},
): void {
  const body = Buffer.from(JSON.stringify(value));
  socket.write(head(status, { 'content-type': 'application/json', 'content-length': body.length, ...extra }));
  socket.write(body);
}

/** SSE text of events `[name, data]`. */
export function sseText(events: ReadonlyArray<readonly [string, unknown]>): string {
  return events.map(([name, data]) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`).join('');
}

/** The events of a streamed message with one text block made of `pieces`. */
export function messageEvents(
  pieces: readonly string[],
  model = 'claude-sonnet-4-6',
): Array<readonly [string, unknown]> {
  return [
    [
      'message_start',
      {
        type: 'message_start',
        message: {
          id: 'msg_01hostile',
          type: 'message',
          role: 'assistant',
          model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: 5, output_tokens: 1 },
        },
      },
    ],
    [
      'content_block_start',
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    ],
    ...pieces.map(
      (text) =>
        [
          'content_block_delta',
          { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } },
        ] as const,
    ),
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
    [
      'message_delta',
      {
        type: 'message_delta',
        delta: { stop_reason: 'end_turn', stop_sequence: null },
        usage: { output_tokens: 1 + pieces.length },
      },
    ],
    ['message_stop', { type: 'message_stop' }],
  ];
}

/** A complete Message JSON with `text`. */
export function messageJson(text: string, model = 'claude-sonnet-4-6'): Record<string, unknown> {
  return {
    id: 'msg_01hostile',
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 5, output_tokens: 3 },
  };
}
