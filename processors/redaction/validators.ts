/**
 * Secondary validators of the redaction rules: the checks a regex cannot make (checksums,
 * structure, decoding) and the heuristics that keep templates and placeholders out of findings.
 *
 * Pure functions over strings, no state beyond tables built at load. None of them throws: every
 * decode is guarded and a malformed input simply fails validation.
 */
import * as zlib from 'node:zlib';

// ---------------------------------------------------------------------------------------------
// Luhn (payment cards)

/** Luhn mod-10 over the digits of `digits` (callers strip separators first). */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    const d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      const twice = d * 2;
      sum += twice > 9 ? twice - 9 : twice;
    } else {
      sum += d;
    }
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

// ---------------------------------------------------------------------------------------------
// IBAN (ISO 13616): length per country, then mod-97 of the rearranged number

/** IBAN length per country code (SWIFT IBAN registry). */
export const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28,
  CH: 21, CR: 22, CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18,
  FK: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22,
  IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20,
  LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20, MR: 27, MT: 31, MU: 30, NI: 28, NL: 18,
  NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, RU: 33, SA: 24, SC: 31,
  SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29,
  VA: 22, VG: 24, XK: 20, YE: 30,
};

/** Checks a compact IBAN (no spaces, upper case): known country, its length, mod-97 = 1. */
export function ibanValid(compact: string): boolean {
  const expected = IBAN_LENGTHS[compact.slice(0, 2)];
  if (expected === undefined || compact.length !== expected) return false;
  // Move the country code and check digits to the end, letters become 10..35, remainder
  // computed digit by digit so the number never exceeds a double's exact range.
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let remainder = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const c = rearranged.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      remainder = (remainder * 10 + (c - 48)) % 97;
    } else if (c >= 65 && c <= 90) {
      remainder = (remainder * 100 + (c - 55)) % 97;
    } else {
      return false;
    }
  }
  return remainder === 1;
}

// ---------------------------------------------------------------------------------------------
// CRC32 and GitHub-style token checksums

/** zlib.crc32 exists from Node 20.15 / 22.2; the engines range starts earlier, so keep a table. */
const nativeCrc32 = (zlib as { crc32?: (data: string | Uint8Array) => number }).crc32;

let crcTable: Uint32Array | undefined;
function tableCrc32(data: string): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const bytes = Buffer.from(data, 'utf8');
  let crc = 0xffffffff;
  for (const byte of bytes) crc = crcTable[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** CRC-32 (IEEE, as zlib) of the UTF-8 bytes of `data`. */
export function crc32(data: string): number {
  return nativeCrc32 ? nativeCrc32(data) >>> 0 : tableCrc32(data);
}

/** Exposed for the test that pins the fallback to zlib's result. */
export const crc32ForTest = { table: tableCrc32 };

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Base62 (digits, upper, lower: GitHub's alphabet), left-padded with '0' to `width`. */
export function base62(value: number, width: number): string {
  let out = '';
  let n = value;
  do {
    out = BASE62[n % 62]! + out;
    n = Math.floor(n / 62);
  } while (n > 0);
  return out.padStart(width, '0');
}

/**
 * GitHub's token checksum (github.blog 2021-04-05 "Behind GitHub's new authentication token
 * formats"): after the `xxx_` prefix come 30 random base62 characters and then the CRC32 of
 * those 30 characters, base62-encoded in 6 characters.
 */
export function githubTokenChecksumValid(token: string): boolean {
  const underscore = token.lastIndexOf('_');
  const body = token.slice(underscore + 1);
  if (body.length !== 36) return false;
  return base62(crc32(body.slice(0, 30)), 6) === body.slice(30);
}

// ---------------------------------------------------------------------------------------------
// Entropy and placeholders

const asciiCounts = new Uint32Array(128);

/** Shannon entropy in bits per character. */
export function shannonEntropy(text: string): number {
  const n = text.length;
  if (n === 0) return 0;
  let other: Map<number, number> | undefined;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 128) asciiCounts[c]!++;
    else (other ??= new Map()).set(c, (other.get(c) ?? 0) + 1);
  }
  let entropy = 0;
  const add = (count: number) => {
    const p = count / n;
    entropy -= p * Math.log2(p);
  };
  for (let c = 0; c < 128; c++) {
    const count = asciiCounts[c]!;
    if (count > 0) {
      add(count);
      asciiCounts[c] = 0;
    }
  }
  other?.forEach(add);
  return entropy;
}

/**
 * Words that make a value a documentation sample rather than a live secret (as gitleaks). Long
 * words in one case (a random base62 token holds "EXAMPLE" with p ≈ 1e-12 per position); short
 * ones only as separate words (`sk_test_fake_key`, `dummy-token`), since "fake" or "YOUR" does
 * turn up inside random tokens now and then.
 */
const PLACEHOLDER_WORDS =
  /example|EXAMPLE|Example|placeholder|PLACEHOLDER|Placeholder|redacted|REDACTED|changeme|CHANGEME|xxxxx|XXXXX|\*\*\*\*|\.\.\.\.|(?:your|YOUR|Your)[_\-]?(?:own[_\-]?)?(?:api|API|secret|SECRET|key|KEY|token|TOKEN|pass|PASS|access|ACCESS|client|CLIENT|private|PRIVATE)|change[_\-]me|replace[_\-]?me|insert[_\-]?(?:your|here)|not[_\-]a[_\-]real/;
const PLACEHOLDER_SHORT_WORDS = /(?:^|[^A-Za-z0-9])(?:fake|FAKE|Fake|dummy|DUMMY|Dummy|sample|SAMPLE|Sample|mock|MOCK|Mock)(?:$|[^A-Za-z0-9])/;
/**
 * Templates and filter markers, not values: `${VAR}`, `{{ secrets.X }}`, `{% … %}`, `<%= … %>`,
 * `#{x}`, `%(name)s`, `%s`, `$VAR`, `<token>`, and what other redactors leave (`[FILTERED]`,
 * `[REDACTED:jwt]`, `***`).
 */
const TEMPLATE = /^(?:\$\{|\{\{|\{%|<%|#\{|%\(|%[sd]$|\$[A-Za-z_][A-Za-z0-9_]{0,80}$|<[^<>]{1,100}>$|\[[A-Z][A-Z_ :-]{2,40}(?::[^\]]{0,80})?\]$|\[HMAC:)/;
const NON_VALUES = new Set(['true', 'false', 'null', 'nil', 'none', 'undefined', 'nan', 'empty', 'unset', '-', 'n/a']);

/** Length of the longest run of one repeated character. */
export function longestRepeatRun(text: string): number {
  let best = 0;
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    run = i > 0 && text.charCodeAt(i) === text.charCodeAt(i - 1) ? run + 1 : 1;
    if (run > best) best = run;
  }
  return best;
}

/** True when `text` uses at most two distinct characters (`abababab`, `1111`). */
function atMostTwoCharacters(text: string): boolean {
  const first = text.charCodeAt(0);
  let second = -1;
  for (let i = 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === first || c === second) continue;
    if (second !== -1) return false;
    second = c;
  }
  return true;
}

/**
 * True for values that only look like secrets: templates, sample keys (`AKIA…EXAMPLE`,
 * `sk_test_XXXX…`, `your_api_key_here`), runs of one character, literals such as `null`, and
 * values already redacted by a previous pass.
 */
export function looksLikePlaceholder(value: string): boolean {
  const n = value.length;
  if (n === 0) return true;
  if (n <= 9 && NON_VALUES.has(value.toLowerCase())) return true;
  if (TEMPLATE.test(value) || PLACEHOLDER_WORDS.test(value) || PLACEHOLDER_SHORT_WORDS.test(value)) return true;
  // `sk_test_XXXXXXXXXXXX`, `0000…`: a run of one character over a quarter of the value. (Random
  // tokens never hold such runs; long binary encodings such as PEM bodies do hold short ones.)
  if (longestRepeatRun(value) >= Math.max(6, n / 4)) return true;
  return n >= 4 && atMostTwoCharacters(value);
}

/** Public sample keys that vendors print in their docs; their shape is real but they are not secret. */
export const PUBLIC_SAMPLE_SECRETS: ReadonlySet<string> = new Set([
  'sk_test_4eC39HqLyjWDarjtT1zdp7dc', // Stripe docs
  'sk_test_BQokikJOvBiI2HlWgH4olfQ2', // Stripe docs (older)
  'rk_test_4eC39HqLyjWDarjtT1zdp7dc',
  'ghp_16C7e42F292c6912E7710c838347Ae178B4a', // GitHub docs (fails the checksum anyway)
  'gho_16C7e42F292c6912E7710c838347Ae178B4a',
]);

// ---------------------------------------------------------------------------------------------
// Base64 decoding, JWTs, HTTP Basic

const BASE64URL_CHARS = /^[A-Za-z0-9_-]*$/;
const BASE64_CHARS = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes base64url without padding; undefined for characters outside the alphabet. */
export function decodeBase64Url(text: string): Buffer | undefined {
  if (!BASE64URL_CHARS.test(text) || text.length % 4 === 1) return undefined;
  return Buffer.from(text, 'base64url');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 text of `bytes`, or undefined when they are not valid UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** True when `text` has no control characters other than tab, CR and LF. */
export function isPrintableText(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 32 && c !== 9 && c !== 10 && c !== 13) || c === 127) return false;
  }
  return true;
}

function parseJsonObject(bytes: Buffer | undefined): Record<string, unknown> | undefined {
  if (!bytes) return undefined;
  const text = decodeUtf8(bytes);
  if (text === undefined || text.charCodeAt(0) !== 0x7b /* { */) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export interface ParsedJwt {
  header: Record<string, unknown>;
  /** The claims of a signed JWT (JWS); undefined for an encrypted one (JWE, 5 parts). */
  payload: Record<string, unknown> | undefined;
}

/**
 * Parses a compact JWS (`header.payload.signature`) or JWE (5 parts). The header must be a JSON
 * object with a string `alg` (and `enc` for a JWE); a JWS payload must be a JSON object.
 */
export function parseJwt(token: string): ParsedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 && parts.length !== 5) return undefined;
  const header = parseJsonObject(decodeBase64Url(parts[0]!));
  if (!header || typeof header.alg !== 'string') return undefined;
  if (parts.length === 5) return typeof header.enc === 'string' ? { header, payload: undefined } : undefined;
  const payload = parseJsonObject(decodeBase64Url(parts[1]!));
  return payload ? { header, payload } : undefined;
}

export interface BasicCredentials {
  user: string;
  password: string;
}

/**
 * Decodes the credentials of `Authorization: Basic <base64>`: printable UTF-8 `user:password`
 * with a non-empty user. An empty password is accepted only for a long user, the convention of
 * APIs that take their key as the user name (Stripe, Mailchimp).
 */
export function decodeBasicCredentials(encoded: string): BasicCredentials | undefined {
  if (encoded.length < 4 || !BASE64_CHARS.test(encoded)) return undefined;
  const text = decodeUtf8(Buffer.from(encoded, 'base64'));
  if (text === undefined || !isPrintableText(text) || /[\r\n\t]/.test(text)) return undefined;
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  const user = text.slice(0, colon);
  const password = text.slice(colon + 1);
  if (password.length === 0 && user.length < 16) return undefined;
  return { user, password };
}
