/**
 * The harness's child processes, handled one way: a short-lived command run to its exit with its
 * output collected (`runToExit`), a long-lived one stopped as an operator would (`terminate`:
 * SIGTERM, SIGKILL after a grace period), and every long-lived one SIGKILLed, with its temp dir
 * removed, if this process exits without stopping it (`killOnExit`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they arrived. */
  output: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to its standard input, which is then closed (closed at once when absent). */
  stdin?: string;
  /** SIGKILLed after this long. */
  timeoutMs: number;
}

/** Runs a command to its exit; rejects only when it cannot be started (ENOENT and the like). */
export function runToExit(command: string, args: readonly string[], options: RunOptions): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      output += d.toString();
    });
    child.stdin.on('error', () => {}); // a command that never reads its input
    child.stdin.end(options.stdin ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, output });
    });
  });
}

/** Resolves once the child has exited and its output streams are closed (create it right after spawn). */
export function closedPromise(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('close', () => resolve());
    child.once('error', () => resolve());
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when `closed` (from closedPromise) does. */
export async function terminate(child: ChildProcess, closed: Promise<void>, graceMs: number): Promise<void> {
  const running = child.exitCode === null && child.signalCode === null && child.pid !== undefined;
  if (running) child.kill('SIGTERM');
  const timer = running ? setTimeout(() => child.kill('SIGKILL'), graceMs) : undefined;
  try {
    await closed;
  } finally {
    clearTimeout(timer);
  }
}

const alive = new Set<{ child: ChildProcess; tempDir: string | undefined }>();
let exitHookInstalled = false;

/** Makes sure `child` does not outlive this process; returns what to call once it is stopped. */
export function killOnExit(child: ChildProcess, tempDir?: string): () => void {
  const entry = { child, tempDir };
  alive.add(entry);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Exit handlers must be synchronous: no graceful shutdown here, just make sure nothing lingers.
    process.on('exit', () => {
      for (const { child: c, tempDir: dir } of alive) {
        c.kill('SIGKILL');
        if (dir === undefined) continue;
        try {
          rmSync(dir, { recursive: true, force: true });
        } catch {
          // best effort: the process may still be dying
        }
      }
    });
  }
  return () => void alive.delete(entry);
}
