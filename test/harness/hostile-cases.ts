/**
 * The hostile-input suite's cases (test/fixtures/hostile/cases.json, written by
 * test/fixtures/hostile/generate.ts) and how one is sent and its answer read.
 *
 * A case is a request — over Node's HTTP client, or as raw bytes on a socket for what a
 * well-behaved client cannot send (slow clients, malformed HTTP, a lying Content-Length) — and the
 * exact answer expected: status, google.rpc.Status code and message (or, for a 200, the
 * partial_success rejected count and message). Large bodies are kept compact as parts (bytes,
 * runs of one byte, compressed parts) and built when sent.
 */
import { connect } from 'node:net';
import { request } from 'node:http';
import { deflateSync, gzipSync } from 'node:zlib';
import { readFieldsForTest } from './rpc-status.js';
import { zstdRleFrame } from './zstd-frames.js';

/** Bytes of a body: base64, UTF-8 text, `count` copies of one byte, parts repeated, or parts compressed. */
export type BodyPart =
  | { b64: string }
  | { text: string }
  | { fill: number; count: number }
  | { repeat: BodyPart[]; times: number }
  | { gzip: BodyPart[] }
  | { deflate: BodyPart[] }
  /** A zstd frame of `blocks` RLE blocks of 128 KiB each. */
  | { zstdRle: number };

export interface HttpCaseRequest {
  kind: 'http';
  method: string;
  path: string;
  headers: Record<string, string>;
  body: BodyPart[];
  /** Sent with Transfer-Encoding: chunked, in 64 KiB chunks, instead of with a Content-Length. */
  chunked?: boolean;
}

/** Raw bytes on a socket: each step is sent, then the client waits `pauseMs`. */
export interface RawCaseRequest {
  kind: 'raw';
  steps: { send: BodyPart[]; pauseMs?: number }[];
}

export interface Answer {
  status: number;
  /** google.rpc.Status code for errors; 0 for a 200; null when the body is not a Status (Node's own answers). */
  code: number | null;
  /** The Status message, the partial_success message of a 200, or the body text of other answers. */
  message: string;
  /** partial_success rejected count, for a 200. */
  rejected?: number;
  /** Spans and log records the case added to ClickHouse (set by the suite, not read from the answer). */
  stored?: number;
}

export interface HostileCase {
  id: string;
  category: string;
  about: string;
  request: HttpCaseRequest | RawCaseRequest;
  /** What the generator knows by construction: the statuses allowed, and words the message must hold. */
  invariant: { statuses: number[]; mentions: string[] };
  /** The exact answer (recorded, reviewed, then asserted). */
  expect?: Answer;
}

export interface HostileFixture {
  about: string;
  /** The collector config the answers were recorded with (limits appear in messages). */
  collector: Record<string, unknown>;
  cases: HostileCase[];
}

export function bodyBytes(parts: readonly BodyPart[]): Buffer {
  return Buffer.concat(
    parts.map((part): Buffer => {
      if ('b64' in part) return Buffer.from(part.b64, 'base64');
      if ('text' in part) return Buffer.from(part.text, 'utf8');
      if ('fill' in part) return Buffer.alloc(part.count, part.fill);
      if ('repeat' in part) {
        const unit = bodyBytes(part.repeat);
        return Buffer.concat(new Array<Buffer>(part.times).fill(unit));
      }
      if ('gzip' in part) return gzipSync(bodyBytes(part.gzip));
      if ('deflate' in part) return deflateSync(bodyBytes(part.deflate));
      return zstdRleFrame(part.zstdRle);
    }),
  );
}

/** Compacts bytes into parts: runs of 256+ equal bytes become fills, the rest base64. */
export function toParts(bytes: Uint8Array): BodyPart[] {
  const parts: BodyPart[] = [];
  let literalStart = 0;
  let i = 0;
  while (i < bytes.length) {
    let j = i + 1;
    while (j < bytes.length && bytes[j] === bytes[i]) j++;
    if (j - i >= 256) {
      if (i > literalStart) parts.push({ b64: Buffer.from(bytes.subarray(literalStart, i)).toString('base64') });
      parts.push({ fill: bytes[i]!, count: j - i });
      literalStart = j;
    }
    i = j;
  }
  if (literalStart < bytes.length) parts.push({ b64: Buffer.from(bytes.subarray(literalStart)).toString('base64') });
  return parts;
}

/** Field number → its values, from a google.rpc.Status or an Export…ServiceResponse. */
function readProtobufFields(buf: Uint8Array): Map<number, (number | Uint8Array)[]> {
  const fields = new Map<number, (number | Uint8Array)[]>();
  for (const f of readFieldsForTest(buf)) fields.set(f.field, [...(fields.get(f.field) ?? []), f.value]);
  return fields;
}

/** The partial_success of a protobuf Export…ServiceResponse: rejected count and message (0 and '' when absent). */
export function partialSuccessForTest(body: Buffer): { message: string; rejected: number } {
  const { rejected, message } = partialSuccessOf(body, 'application/x-protobuf');
  return { message, rejected };
}

function partialSuccessOf(body: Buffer, contentType: string): { rejected: number; message: string } {
  if (contentType === 'application/json') {
    const json = JSON.parse(body.toString('utf8')) as { partialSuccess?: { rejectedSpans?: string | number; rejectedLogRecords?: string | number; errorMessage?: string } };
    const p = json.partialSuccess ?? {};
    return { rejected: Number(p.rejectedSpans ?? p.rejectedLogRecords ?? 0), message: p.errorMessage ?? '' };
  }
  const partial = readProtobufFields(body).get(1)?.[0];
  if (!(partial instanceof Uint8Array)) return { rejected: 0, message: '' };
  const fields = readProtobufFields(partial);
  const message = fields.get(2)?.[0];
  return { rejected: Number(fields.get(1)?.[0] ?? 0), message: message instanceof Uint8Array ? Buffer.from(message).toString('utf8') : '' };
}

function rpcStatusOf(body: Buffer, contentType: string): { code: number; message: string } | null {
  if (contentType === 'application/json') {
    const json = JSON.parse(body.toString('utf8')) as { code?: number; message?: string };
    return { code: json.code ?? 0, message: json.message ?? '' };
  }
  if (contentType === 'application/x-protobuf') {
    const fields = readProtobufFields(body);
    const message = fields.get(2)?.[0];
    return { code: Number(fields.get(1)?.[0] ?? 0), message: message instanceof Uint8Array ? Buffer.from(message).toString('utf8') : '' };
  }
  return null;
}

export function answerOf(status: number, contentType: string | undefined, body: Buffer): Answer {
  const type = (contentType ?? '').split(';')[0]!.trim();
  if (status === 200) {
    const { rejected, message } = partialSuccessOf(body, type);
    return { status, code: 0, message, rejected };
  }
  const rpc = rpcStatusOf(body, type);
  return rpc ? { status, code: rpc.code, message: rpc.message } : { status, code: null, message: body.toString('utf8') };
}

function sendHttp(baseUrl: string, r: HttpCaseRequest): Promise<Answer> {
  const body = bodyBytes(r.body);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...r.headers };
    if (!r.chunked && r.method !== 'GET' && r.method !== 'HEAD') headers['content-length'] = String(body.length);
    const req = request(`${baseUrl}${r.path}`, { method: r.method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(answerOf(res.statusCode ?? 0, res.headers['content-type'], Buffer.concat(chunks)));
        } catch (err) {
          reject(err as Error);
        }
      });
      res.on('error', reject);
    });
    // The server may answer (413) and close before the whole body is written: that is its right.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    if (r.chunked) {
      for (let offset = 0; offset < body.length; offset += 64 * 1024) req.write(body.subarray(offset, offset + 64 * 1024));
      req.end();
    } else req.end(body);
  });
}

/** Parses a raw HTTP/1.1 response (Content-Length or read to close). */
export function parseRawResponse(raw: Buffer): Answer {
  const headerEnd = raw.indexOf('\r\n\r\n');
  if (headerEnd < 0) throw new Error(`no complete response: ${JSON.stringify(raw.toString('latin1').slice(0, 200))}`);
  const head = raw.subarray(0, headerEnd).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0]!)?.[1] ?? NaN);
  const headers = new Map(head.slice(1).map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  let body = raw.subarray(headerEnd + 4);
  const length = headers.get('content-length');
  if (length !== undefined) body = body.subarray(0, Number(length));
  return answerOf(status, headers.get('content-type'), body);
}

function sendRaw(baseUrl: string, r: RawCaseRequest): Promise<Answer> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    let closed = false;
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    socket.on('close', () => {
      closed = true;
      try {
        resolve(parseRawResponse(Buffer.concat(chunks)));
      } catch (err) {
        reject(err as Error);
      }
    });
    socket.on('connect', async () => {
      for (const step of r.steps) {
        if (closed) return;
        socket.write(bodyBytes(step.send));
        if (step.pauseMs) await new Promise((done) => setTimeout(done, step.pauseMs));
      }
      // Every request asks for Connection: close, so the server ends the socket after answering.
    });
  });
}

export function sendCase(baseUrl: string, c: HostileCase): Promise<Answer> {
  return c.request.kind === 'http' ? sendHttp(baseUrl, c.request) : sendRaw(baseUrl, c.request);
}

/** Why `answer` breaks what the generator knows of case `c`, or null when it does not. */
export function invariantProblem(c: HostileCase, answer: Answer): string | null {
  if (!c.invariant.statuses.includes(answer.status)) return `status ${answer.status}, expected one of ${c.invariant.statuses.join(', ')}`;
  const missing = c.invariant.mentions.filter((word) => !answer.message.includes(word));
  if (missing.length > 0) return `message ${JSON.stringify(answer.message)} does not mention ${missing.map((w) => JSON.stringify(w)).join(', ')}`;
  return null;
}

/** Spans plus log records stored in the database: the suite counts what each case adds. */
export async function storedRecords(ch: { client: { query(q: { query: string; format: 'JSONEachRow' }): Promise<{ json<T>(): Promise<T[]> }> }; database: string }): Promise<number> {
  const rs = await ch.client.query({ query: `SELECT (SELECT count() FROM ${ch.database}.otel_traces) + (SELECT count() FROM ${ch.database}.otel_logs) AS n`, format: 'JSONEachRow' });
  const [row] = await rs.json<{ n: number | string }>();
  return Number(row!.n);
}

/** Sends a case and counts what it stored (cases must not overlap for the count to be theirs). */
export async function runCase(baseUrl: string, ch: Parameters<typeof storedRecords>[0], c: HostileCase): Promise<Answer> {
  const before = await storedRecords(ch);
  const answer = await sendCase(baseUrl, c);
  return { ...answer, stored: (await storedRecords(ch)) - before };
}
