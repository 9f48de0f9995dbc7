/**
 * Runs the built `chainwatch` command (dist/bin/chainwatch.js, built by `npm test`'s build step)
 * as a child process, the way a user runs it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runToExit } from './child-processes.js';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = fileURLToPath(new URL('../../dist/bin/chainwatch.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the command to its exit; `stdin` is what it reads on standard input (nothing when absent). */
export async function runCli(args: string[], options: { cwd?: string; timeoutMs?: number; stdin?: string } = {}): Promise<CliResult> {
  const { code, stdout, stderr } = await runToExit(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? PROJECT_ROOT,
    env: { ...process.env, CHAINWATCH_LOG_LEVEL: 'warn' },
    timeoutMs: options.timeoutMs ?? 60_000,
    ...(options.stdin !== undefined ? { stdin: options.stdin } : {}),
  });
  return { code, stdout, stderr };
}

export interface RunningCli {
  child: ChildProcess;
  /** The OTLP/HTTP base URL printed in the start banner. */
  otlpUrl: string;
  output(): string;
}

/** Starts `chainwatch start` and waits for its banner; the caller must kill the child. */
export async function startCli(args: string[], timeoutMs = 60_000): Promise<RunningCli> {
  const { child, output, match } = await startCommand([...args, 'start'], /POST (http:\/\/[^\s]+)\/v1\/traces/, timeoutMs);
  return { child, otlpUrl: match[1]!, output };
}

/** Starts `chainwatch collector` and waits for its banner; the caller must kill the child. */
export async function startCollectorCli(args: string[], timeoutMs = 60_000): Promise<RunningCli> {
  const { child, output, match } = await startCommand([...args, 'collector'], /POST (http:\/\/[^\s]+)\/v1\/traces/, timeoutMs);
  return { child, otlpUrl: match[1]!, output };
}

export interface RunningWorker {
  child: ChildProcess;
  /** Base URL of its admin port (/healthz, /readyz, /metrics). */
  adminUrl: string;
  output(): string;
}

/** Starts `chainwatch worker` (args hold --config and --role) and waits for its banner; the caller must kill the child. */
export async function startWorkerCli(args: string[], timeoutMs = 60_000): Promise<RunningWorker> {
  const { child, output, match } = await startCommand([...args, 'worker'], /chainwatch worker is running[\s\S]*health and metrics: (http:\/\/[^\s,]+)\/healthz/, timeoutMs);
  return { child, adminUrl: match[1]!, output };
}

/** Spawns the command and resolves once its output matches `ready`. */
function startCommand(args: string[], ready: RegExp, timeoutMs: number): Promise<{ child: ChildProcess; output: () => string; match: RegExpExecArray }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: PROJECT_ROOT, env: { ...process.env, CHAINWATCH_LOG_LEVEL: 'warn' } });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`chainwatch ${args.join(' ')} did not start in ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, output: () => out, match: m });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`chainwatch exited with ${code} before it was ready:\n${out}`));
    });
  });
}

/** Sends a signal and waits for the process to be gone. */
export function killAndWait(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
    child.kill(signal);
  });
}
