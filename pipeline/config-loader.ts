/**
 * Loads the configuration: reads one YAML file (or none, for the embedded default), validates it
 * with the zod schema in `schemas/config.ts`, and returns it frozen. Every problem is reported at
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

/** Reads and validates `file`; with no file, the embedded defaults. Throws ConfigError. */
export async function loadConfig(file?: string): Promise<Config> {
  if (file === undefined) return parseConfig({}, '(defaults)');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(file, [code === 'ENOENT' ? 'file not found' : `cannot read the file (${code ?? 'unknown error'})`]);
  }
  return parseConfigText(text, file);
}

/** Validates YAML text; `file` only names the source in errors. */
export function parseConfigText(text: string, file: string): Config {
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
  return parseConfig(raw, file);
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
