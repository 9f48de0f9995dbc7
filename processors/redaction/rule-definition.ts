/**
 * The shape of a redaction rule and the one place where rule patterns are compiled.
 *
 * A pattern rule is: an id and family, lowercase keywords (or a cheap character precheck) that
 * decide whether its regexes run on a value at all, one or more global regexes compiled here
 * once, and optional hooks — `trim` (keep only the valid prefix of a greedy candidate),
 * `validate` (checksum or structure), `identity` (non-secret facts about the credential). When a
 * pattern has a `(?<secret>…)` group, only that group is masked and the context around it stays
 * readable. Key rules have no pattern: the redactor applies them to values of secret-like keys.
 * Definitions are immutable; nothing here keeps state.
 */
import { PII_FAMILIES, type RuleFamily } from '../../schemas/findings.js';
import { analyzePattern } from './regex-safety.js';

export type RuleCategory = 'secret' | 'pii';

/** Non-secret facts a credential reveals, for the identity inventory (see IDENTITY_ATTRIBUTES). */
export interface CredentialFacts {
  issuer?: string;
  subject?: string;
  clientId?: string;
  /** Comma-separated audiences. */
  audience?: string;
  /** Space-separated scopes. */
  scopes?: string;
  /** Unix seconds. */
  issuedAt?: bigint;
  expiresAt?: bigint;
  environment?: string;
}

/** What a value must contain before a rule without a literal keyword runs its regex. */
export interface Precheck {
  /** A run of at least this many digits, single or double separators (space - . ( ) /) allowed between them. */
  minDigitRun?: number;
  /** An '@' anywhere. */
  at?: boolean;
  /** At least this many ':' characters. */
  minColons?: number;
}

export interface RuleInfo {
  /** snake_case, stable: it appears in masks, findings and config. */
  readonly id: string;
  readonly family: RuleFamily;
  readonly category: RuleCategory;
}

export interface PatternRule extends RuleInfo {
  /** Lowercase literals; any of them in a value (case-insensitively) makes the rule run. */
  readonly keywords: readonly string[];
  readonly precheck: Precheck | undefined;
  /** Global regexes (sticky state is reset before each use); `d` is set when a secret group exists. */
  readonly patterns: readonly RegExp[];
  /** Shortest string any pattern matches: shorter values skip the rule. */
  readonly minLength: number;
  /** Breaks ties between overlapping matches of equal length: the more specific rule wins. */
  readonly priority: number;
  /** Characters a match grows over at its end, so a token longer than the pattern's bound is never half-masked. */
  readonly extendOver: Uint8Array | undefined;
  /**
   * Characters a match grows over at its start: lets a pattern start at a rare literal (the '@'
   * of an e-mail address) instead of trying every character of a class. Still linear: runs
   * between two such literals are disjoint.
   */
  readonly extendBackOver: Uint8Array | undefined;
  /** Whether the generic placeholder/sample allowlist applies (secrets: yes; personal data: no). */
  readonly rejectPlaceholders: boolean;
  /** Length of the valid prefix of a greedy candidate (0 rejects it); e.g. an IBAN of its country's length. */
  readonly trim: ((candidate: string) => number) | undefined;
  readonly validate: ((secret: string, match: RegExpExecArray) => boolean) | undefined;
  readonly identity: ((secret: string, text: string) => CredentialFacts | undefined) | undefined;
}

/**
 * Alphabets a match can grow over. `value`: an unquoted assignment value (printable, no space,
 * quote or delimiter); `query`: a URL query value (up to the next `&`, `;`, `#` or space);
 * `emailLocal`: the local part of an e-mail address.
 */
export type TokenAlphabet = 'base62' | 'base64url' | 'base64' | 'hex' | 'value' | 'query' | 'emailLocal';


const PRINTABLE = Array.from({ length: 126 - 33 + 1 }, (_, i) => String.fromCharCode(33 + i)).join('');
const without = (chars: string, excluded: string) => [...chars].filter((c) => !excluded.includes(c)).join('');

const ALPHABET_CHARS: Record<TokenAlphabet, string> = {
  base62: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
  base64url: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
  base64: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=',
  hex: '0123456789abcdefABCDEF',
  value: without(PRINTABLE, `"'\\,;&<>{}()[]`),
  query: without(PRINTABLE, `&#;"'<>`),
  emailLocal: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-',
};

const ALPHABET_TABLES = Object.fromEntries(
  Object.entries(ALPHABET_CHARS).map(([name, chars]) => {
    const table = new Uint8Array(128);
    for (const c of chars) table[c.charCodeAt(0)] = 1;
    return [name, table];
  }),
) as Record<TokenAlphabet, Uint8Array>;

export interface PatternRuleSpec {
  id: string;
  family: RuleFamily;
  keywords?: readonly string[];
  precheck?: Precheck;
  /** Regex sources; `flags` apply to all (never `g`, `y` or `d`: added here). */
  patterns: readonly string[];
  flags?: string;
  priority?: number;
  extendOver?: TokenAlphabet;
  extendBackOver?: TokenAlphabet;
  rejectPlaceholders?: boolean;
  trim?: (candidate: string) => number;
  validate?: (secret: string, match: RegExpExecArray) => boolean;
  identity?: (secret: string, text: string) => CredentialFacts | undefined;
}

export function categoryOf(family: RuleFamily): RuleCategory {
  return (PII_FAMILIES as readonly string[]).includes(family) ? 'pii' : 'secret';
}

/** True when `source` names a `(?<secret>…)` group. */
export function hasSecretGroup(source: string): boolean {
  return source.includes('(?<secret>');
}

/**
 * Compiles a rule. Built-in patterns are checked by the same analyser as custom ones (a test
 * asserts it); custom ones were already checked by the config schema, so a failure here is a
 * programming error and throws at start-up, never per record.
 */
export function definePatternRule(spec: PatternRuleSpec): PatternRule {
  const flags = (spec.flags ?? '').replace(/[gyd]/g, '');
  let minLength = Infinity;
  const patterns = spec.patterns.map((source) => {
    const analysis = analyzePattern(source, flags);
    if (!analysis.ok) {
      const why = 'error' in analysis ? analysis.error : `${analysis.risk.reason} "${analysis.risk.fragment}"`;
      throw new Error(`redaction rule "${spec.id}": unusable pattern (${why})`);
    }
    minLength = Math.min(minLength, analysis.minLength);
    return new RegExp(source, `g${hasSecretGroup(source) ? 'd' : ''}${flags}`);
  });
  for (const keyword of spec.keywords ?? []) {
    if (keyword !== keyword.toLowerCase() || keyword.length === 0) throw new Error(`redaction rule "${spec.id}": keyword "${keyword}" must be lowercase and non-empty`);
  }
  const category = categoryOf(spec.family);
  return Object.freeze({
    id: spec.id,
    family: spec.family,
    category,
    keywords: Object.freeze([...(spec.keywords ?? [])]),
    precheck: spec.precheck,
    patterns: Object.freeze(patterns),
    minLength: Number.isFinite(minLength) ? Math.max(1, minLength) : 1,
    priority: spec.priority ?? 3,
    extendOver: spec.extendOver ? ALPHABET_TABLES[spec.extendOver] : undefined,
    extendBackOver: spec.extendBackOver ? ALPHABET_TABLES[spec.extendBackOver] : undefined,
    rejectPlaceholders: spec.rejectPlaceholders ?? category === 'secret',
    trim: spec.trim,
    validate: spec.validate,
    identity: spec.identity,
  });
}

export function defineKeyRule(id: string, family: RuleFamily): RuleInfo {
  return Object.freeze({ id, family, category: categoryOf(family) });
}
