/**
 * Loads the configuration: reads one YAML file (or none, for the embedded default), applies the
 * `CHAINWATCH__…` environment variables over it, validates it with the zod schema in
 * `schemas/config.ts`, and returns it frozen. Every problem is reported at
 * once, each with its dotted path in the file, so a user fixes a config in one round.
 */
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from '../schemas/config.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    /** The file the problems are in, or '(defaults)' when no file was given. */
    readonly file: string,
    /** One line per problem: `stages.storage.batch_size: expected a positive integer, got "x"`. */
    readonly problems: string[],
  ) {
    super(`invalid config ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/**
 * Environment variables that set a config key, over the file: `CHAINWATCH__` and the key's path
 * with `__` between levels, in any case (`CHAINWATCH__CLICKHOUSE__PASSWORD` sets
 * clickhouse.password). The value is read as YAML: `6` is a number, `true` a boolean,
 * `[a:9092, b:9092]` a list; quote a string that would read otherwise (`'"123"'`).
 */
const ENV_PREFIX = 'CHAINWATCH__';

/** Reads and validates `file` (with no file, the embedded defaults), then the environment's overrides. Throws ConfigError. */
export async function loadConfig(file?: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  if (file === undefined) return parseWithEnv({}, '(defaults)', env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(file, [code === 'ENOENT' ? 'file not found' : `cannot read the file (${code ?? 'unknown error'})`]);
  }
  return parseWithEnv(parseYaml(text, file), file, env);
}

/** Sets the keys the environment names over `raw`, then validates; problems with such a key say which variable set it. */
export function parseWithEnv(raw: Record<string, unknown>, file: string, env: NodeJS.ProcessEnv): Config {
  const sources: [string, string][] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.toUpperCase().startsWith(ENV_PREFIX) || value === undefined) continue;
    const path = name.slice(ENV_PREFIX.length).toLowerCase().split('__');
    if (path.some((part) => part === '')) throw new ConfigError(file, [`${name}: expected CHAINWATCH__<key>__<key>…, with one "__" between keys`]);
    let at: Record<string, unknown> = raw;
    for (const key of path.slice(0, -1)) {
      const next = at[key];
      at = at[key] = next !== null && typeof next === 'object' && !Array.isArray(next) ? (next as Record<string, unknown>) : {};
    }
    const doc = parseDocument(value);
    at[path[path.length - 1]!] = doc.errors.length > 0 ? value : doc.toJS();
    sources.push([path.join('.'), name]);
  }
  try {
    return parseConfig(raw, file);
  } catch (err) {
    if (!(err instanceof ConfigError) || sources.length === 0) throw err;
    throw new ConfigError(
      file,
      err.problems.map((problem) => {
        const source = sources.find(([path]) => problem.startsWith(`${path}:`) || problem.startsWith(`${path}.`));
        return source ? `${problem} (set by ${source[1]})` : problem;
      }),
    );
  }
}

/** Validates YAML text; `file` only names the source in errors. */
export function parseConfigText(text: string, file: string): Config {
  return parseConfig(parseYaml(text, file), file);
}

/** The YAML document as a map of settings, or a ConfigError saying where it is not. */
function parseYaml(text: string, file: string): Record<string, unknown> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter: lines });
  if (doc.errors.length > 0) {
    // Position and the parser's first line only: a code frame could show a password from the file.
    throw new ConfigError(
      file,
      doc.errors.map((e) => {
        const { line, col } = lines.linePos(e.pos[0]);
        return `YAML syntax error at line ${line}, column ${col}: ${e.message.split('\n')[0]}`;
      }),
    );
  }
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(file, ['the document must be a map of settings (for example "bus:" and "clickhouse:")']);
  }
  return raw as Record<string, unknown>;
}

/** Validates an already parsed object. */
export function parseConfig(raw: unknown, file: string): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(file, formatIssues(result.error.issues));
  return deepFreeze(result.data);
}

function formatIssues(issues: z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const where = issue.path.length > 0 ? issue.path.map(String).join('.') : '(top level)';
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => (where === '(top level)' ? k : `${where}.${k}`));
      return `${keys.join(', ')}: unknown key${keys.length > 1 ? 's' : ''}`;
    }
    return `${where}: ${issue.message}`;
  });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
