/**
 * Test harness: a ClickHouse server for tests in which several processes write to one ClickHouse.
 *
 * startClickHouseServer() runs clickhouse-http-server.ts (the embedded engine behind ClickHouse's
 * HTTP interface) as a child process; any process can then reach it with @clickhouse/client's
 * `createClient({ url })`, or as chainwatch's `clickhouse: { kind: server, url }`.
 *
 * Guarantees:
 * - the server listens on 127.0.0.1 only, on a free port, with its data in `path` or else in a
 *   fresh temp dir that stop() removes;
 * - startClickHouseServer() resolves once the server accepts requests, and otherwise rejects
 *   (within START_TIMEOUT_MS) with the tail of the server's stderr in the message;
 * - stop() can be called any number of times: it ends the server (SIGTERM, then SIGKILL after
 *   STOP_GRACE_MS) and waits for it to exit;
 * - the server does not outlive this process: it is SIGKILLed on process 'exit'.
 *
 * It needs the compiled server (`npm run build`): the test process itself must not load the
 * engine, which binds one data directory per process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { closedPromise, killOnExit, terminate } from './child-processes.js';

export interface ClickHouseServer {
  /** `http://127.0.0.1:PORT`, for `createClient({ url })`. */
  url: string;
  /** The server's data directory. */
  path: string;
  stop(): Promise<void>;
}

export interface StartClickHouseServerOptions {
  /** Data directory, kept after stop(). @default a fresh temp dir, removed by stop() */
  path?: string;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The compiled server, found from test/harness (vitest runs the sources) and from dist/ alike. */
const SERVER_ENTRY = /[\\/]dist[\\/]test[\\/]harness$/.test(HERE)
  ? path.join(HERE, 'clickhouse-http-server.js')
  : path.join(HERE, '..', '..', 'dist', 'test', 'harness', 'clickhouse-http-server.js');

const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;
const STDERR_TAIL_LINES = 30;
const LISTENING = /^listening (127\.0\.0\.1:\d+)$/m;

export async function startClickHouseServer(options: StartClickHouseServerOptions = {}): Promise<ClickHouseServer> {
  if (!existsSync(SERVER_ENTRY)) throw new Error(`${SERVER_ENTRY} does not exist: run "npm run build" first`);
  const tempDir = options.path === undefined ? await fs.mkdtemp(path.join(os.tmpdir(), 'chainwatch-clickhouse-')) : undefined;
  const dataDir = options.path ?? path.join(tempDir ?? '', 'data');

  const child = spawn(process.execPath, [SERVER_ENTRY, '--path', dataDir, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  // After the exit and the end of its output, so that the stderr tail below is complete.
  const closed = closedPromise(child);
  const release = killOnExit(child, tempDir);
  const stderr: string[] = [];
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await terminate(child, closed, STOP_GRACE_MS);
      release();
      if (tempDir !== undefined) await fs.rm(tempDir, { recursive: true, force: true, maxRetries: 3 });
    })();
    return stopping;
  };

  try {
    const address = await waitForListening(child);
    child.stdout?.resume(); // nothing more is expected there; never let the pipe fill up
    return { url: `http://${address}`, path: dataDir, stop };
  } catch (err) {
    await stop();
    const tail = stderr.join('').trimEnd().split('\n').slice(-STDERR_TAIL_LINES).join('\n');
    throw new Error(`ClickHouse HTTP server (${SERVER_ENTRY}) did not start: ${(err as Error).message}\n--- its stderr ---\n${tail || '(empty)'}`);
  }
}

/** Resolves with the address of the `listening` line; rejects if the child exits or times out first. */
function waitForListening(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => finish(new Error(`no "listening" line within ${START_TIMEOUT_MS / 1000}s`)), START_TIMEOUT_MS);
    const onData = (chunk: string): void => {
      stdout += chunk;
      const match = LISTENING.exec(stdout);
      if (match?.[1] !== undefined) finish(null, match[1]);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
      finish(new Error(`the server process exited (${signal ?? `code ${code}`})`));
    const onError = (err: Error): void => finish(new Error(`the server process could not run: ${err.message}`));
    function finish(err: Error | null, address?: string): void {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
      if (err === null && address !== undefined) resolve(address);
      else reject(err);
    }
    child.stdout?.setEncoding('utf8').on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}
