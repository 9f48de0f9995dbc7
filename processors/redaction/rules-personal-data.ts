/**
 * Built-in rules for personal data: e-mail addresses, payment card numbers, IBANs, US social
 * security numbers, phone numbers and IP addresses.
 *
 * These have no keyword, so they run only when a value passes a cheap character precheck (an
 * '@', a run of digits, colons). Precision comes from validation, as Presidio does: Luhn and a
 * plausible issuer prefix for cards, country length and mod-97 for IBANs, the SSA's never-issued
 * ranges for SSNs, calling codes and NANP rules for phones, a real parser for IPs. Phone
 * numbers are matched only in international (+…) or unmistakable national formats (NANP with
 * separators, French, UK), so digit runs such as ids and timestamps stay intact; IP addresses are
 * off by default. Stateless.
 */
import { isIPv6 } from 'node:net';
import { definePatternRule, type PatternRule } from './rule-definition.js';
import { IBAN_LENGTHS, ibanValid, luhnValid } from './validators.js';

// ---------------------------------------------------------------------------------------------
// e-mail

/** "TLDs" that are really file extensions: `logo@2x.png`, `icon@3x.webp`. */
const FILE_EXTENSIONS = new Set(['png', 'jpg', 'jpeg', 'gif', 'svg', 'webp', 'ico', 'bmp', 'css', 'js', 'mjs', 'ts', 'json', 'xml', 'html', 'htm', 'txt', 'log', 'zip', 'gz', 'tgz', 'tar', 'map', 'yaml', 'yml', 'md', 'pdf']);
/** Non-human identities, which the inventory wants readable (GCP service accounts). */
const SERVICE_ACCOUNT_DOMAINS = /(?:^|\.)(?:iam\.gserviceaccount\.com|developer\.gserviceaccount\.com)$/i;

/** `//user@host` or `//user:pass@host` right before a local part: URL userinfo, not an address. */
const USERINFO_BEFORE = /\/\/[^\s/?#@]{0,128}$/;

function emailValid(address: string, match: RegExpExecArray): boolean {
  const encoded = address.indexOf('%40');
  const at = encoded >= 0 ? encoded : address.indexOf('@');
  const local = address.slice(0, at);
  const domain = address.slice(at + (encoded >= 0 ? 3 : 1));
  // RFC 5321: at most 64 octets of local part.
  if (local.length === 0 || local.length > 64 || local.startsWith('.') || local.endsWith('.') || local.includes('..')) return false;
  const localStart = match.index - local.length;
  if (USERINFO_BEFORE.test(match.input.slice(Math.max(0, localStart - 130), localStart))) return false;
  if (SERVICE_ACCOUNT_DOMAINS.test(domain)) return false;
  const labels = domain.split('.');
  if (labels.some((label) => label.startsWith('-') || label.endsWith('-'))) return false;
  return !FILE_EXTENSIONS.has(labels[labels.length - 1]!.toLowerCase());
}

// ---------------------------------------------------------------------------------------------
// payment cards

/** Issuer identification number ranges of the card networks in use. */
function plausibleCardPrefix(digits: string): boolean {
  const two = Number(digits.slice(0, 2));
  const four = Number(digits.slice(0, 4));
  const six = Number(digits.slice(0, 6));
  const n = digits.length;
  switch (digits[0]) {
    case '4':
      return n === 13 || n === 16 || n === 19; // Visa
    case '5':
      return (two >= 51 && two <= 55 && n === 16) || two === 50 || (two >= 56 && n >= 12); // Mastercard, Maestro
    case '2':
      return four >= 2221 && four <= 2720 && n === 16; // Mastercard 2-series
    case '3':
      if (two === 34 || two === 37) return n === 15; // Amex
      if (four >= 3528 && four <= 3589) return n >= 16; // JCB
      return (Number(digits.slice(0, 3)) <= 305 && two === 30) || two === 36 || two === 38 || two === 39; // Diners
    case '6':
      return four === 6011 || two === 65 || two === 62 || (Number(digits.slice(0, 3)) >= 644 && Number(digits.slice(0, 3)) <= 649) || (six >= 600000 && n >= 12); // Discover, UnionPay, Maestro
    default:
      return false;
  }
}

function cardNumberValid(digits: string): boolean {
  return digits.length >= 13 && digits.length <= 19 && plausibleCardPrefix(digits) && luhnValid(digits);
}

/**
 * A card is written as one run of digits or as groups split by one kind of separator (4-4-4-4,
 * 4-6-5…). A greedy candidate may run into a following number ("4111 1111 1111 1111 2025"), so
 * try the longest prefix of whole groups that is a valid card.
 */
function trimCardNumber(candidate: string): number {
  const separator = /[ \-]/.exec(candidate)?.[0];
  if (separator === undefined) return cardNumberValid(candidate) ? candidate.length : 0;
  if (candidate.includes(separator === ' ' ? '-' : ' ')) return 0;
  const groups = candidate.split(separator);
  for (let count = groups.length; count >= 1; count--) {
    const prefix = groups.slice(0, count);
    if (count > 1 && prefix.some((g) => g.length < 3 || g.length > 6)) continue;
    if (cardNumberValid(prefix.join(''))) return prefix.join(separator).length;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// IBAN

/** Keeps exactly the country's length of characters; the next one must not continue the number. */
function trimIban(candidate: string): number {
  const expected = IBAN_LENGTHS[candidate.slice(0, 2)];
  if (expected === undefined) return 0;
  let compact = '';
  let end = 0;
  while (end < candidate.length && compact.length < expected) {
    const c = candidate[end]!;
    if (c !== ' ') compact += c;
    end++;
  }
  if (compact.length !== expected) return 0;
  if (end < candidate.length && candidate[end] !== ' ') return 0;
  return ibanValid(compact) ? end : 0;
}

// ---------------------------------------------------------------------------------------------
// US SSN

function ssnValid(secret: string): boolean {
  const digits = secret.replace(/[ \-]/g, '');
  if (digits.length !== 9) return false;
  const area = digits.slice(0, 3);
  // Never issued: area 000, 666, 900-999; group 00; serial 0000.
  return area !== '000' && area !== '666' && area[0] !== '9' && digits.slice(3, 5) !== '00' && digits.slice(5) !== '0000';
}

// ---------------------------------------------------------------------------------------------
// phone numbers

/** ITU country calling codes: 1 and 7 alone, these 2-digit codes, and 3-digit codes in the zones below. */
const TWO_DIGIT_CODES = new Set([20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98]);
const THREE_DIGIT_ZONES = new Set([21, 22, 23, 24, 25, 26, 29, 35, 37, 38, 42, 50, 59, 67, 68, 69, 80, 85, 87, 88, 96, 97, 99]);

function nanpValid(tenDigits: string): boolean {
  // Area code and exchange start with 2-9.
  return /^[2-9]\d\d[2-9]\d{6}$/.test(tenDigits);
}

function separatorsSane(text: string): boolean {
  if (/[ \-.()]{3}|\.\.|--/.test(text)) return false;
  const open = text.split('(').length - 1;
  const close = text.split(')').length - 1;
  return open === close && open <= 1;
}

function internationalPhoneValid(secret: string): boolean {
  const digits = secret.replace(/\D/g, '');
  if (digits.length < 8 || digits.length > 15 || !separatorsSane(secret)) return false;
  if (digits[0] === '1') return digits.length === 11 && nanpValid(digits.slice(1));
  if (digits[0] === '7') return digits.length === 11;
  const two = Number(digits.slice(0, 2));
  return TWO_DIGIT_CODES.has(two) || THREE_DIGIT_ZONES.has(two);
}

function nationalPhoneValid(secret: string): boolean {
  const digits = secret.replace(/\D/g, '');
  // One kind of separator between groups; "(415) " counts as none.
  if (new Set(secret.replace(/\(\d{3}\) ?/, '').replace(/\d/g, '')).size > 1) return false;
  if (digits[0] === '0') return digits.length === 10 || digits.length === 11;
  if (digits.length === 11 && digits[0] === '1') return nanpValid(digits.slice(1));
  return digits.length === 10 && nanpValid(digits);
}

// ---------------------------------------------------------------------------------------------
// IP addresses

function ipv4Valid(secret: string): boolean {
  const octets = secret.split('.');
  if (octets.some((o) => (o.length > 1 && o[0] === '0') || Number(o) > 255)) return false;
  // Unspecified, loopback, broadcast and netmask-like values identify no one.
  return octets[0] !== '0' && octets[0] !== '127' && octets[0] !== '255';
}

function trimIpv6(candidate: string): number {
  let end = candidate.length;
  while (end > 0 && (candidate[end - 1] === '.' || candidate[end - 1] === ':') && !candidate.endsWith('::')) end--;
  const address = candidate.slice(0, end);
  if (!isIPv6(address) || address === '::' || address === '::1') return 0;
  return end;
}

export const PERSONAL_DATA_RULES: readonly PatternRule[] = [
  definePatternRule({
    id: 'email_address',
    family: 'email',
    keywords: ['%40'],
    precheck: { at: true },
    // The match starts at the '@' (a literal V8 finds fast) and grows back over the local part.
    // Not URL userinfo (`//user:pass@host`, `//git@host`): credentials or user names; not an
    // scp-style remote (`git@github.com:org/repo.git`).
    patterns: [
      String.raw`(?<=[A-Za-z0-9._%+\-])@(?:[A-Za-z0-9\-]{1,63}\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9\-]|:[A-Za-z0-9~/_.\-])`,
      String.raw`(?<=[A-Za-z0-9._+\-])%40(?:[A-Za-z0-9\-]{1,63}\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9\-])`,
    ],
    extendBackOver: 'emailLocal',
    priority: 2,
    validate: emailValid,
  }),
  definePatternRule({
    id: 'payment_card_number',
    family: 'payment_card',
    precheck: { minDigitRun: 13 },
    patterns: [String.raw`(?<![\w\-.])[2-6][\d \-]{11,26}\d(?!\d)`],
    priority: 2,
    trim: trimCardNumber,
  }),
  definePatternRule({
    id: 'iban',
    family: 'iban',
    precheck: { minDigitRun: 8 },
    patterns: [String.raw`(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])`],
    priority: 2,
    trim: trimIban,
  }),
  definePatternRule({
    id: 'us_ssn',
    family: 'us_ssn',
    keywords: ['ssn', 'social security', 'social_security', 'socialsecurity', 'social-security'],
    precheck: { minDigitRun: 9 },
    // AAA-GG-SSSS anywhere; without dashes only right after an SSN keyword.
    patterns: [
      String.raw`(?<![\d\-])\d{3}-\d{2}-\d{4}(?![\d\-])`,
      String.raw`(?<![A-Za-z])(?:ssn|social[ _\-]?security(?:[ _\-]?(?:number|no|num))?)[^\dA-Za-z\r\n]{0,5}(?<secret>\d{3}[ \-]?\d{2}[ \-]?\d{4})(?![\d\-])`,
    ],
    flags: 'i',
    priority: 2,
    validate: ssnValid,
  }),
  definePatternRule({
    id: 'phone_number',
    family: 'phone',
    precheck: { minDigitRun: 9 },
    patterns: [
      // International: + and 8-15 digits with spaces, dashes, dots or one pair of parentheses.
      String.raw`(?<![\w+])\+[1-9][\d \-.()]{6,20}\d(?!\d)`,
      // NANP with separators: (415) 555-2671, 415-555-2671, 415.555.2671, 1-800-555-0199.
      String.raw`(?<![\w+\-.])(?:1[\-. ])?(?:\(\d{3}\) ?|\d{3}[\-. ])\d{3}[\-.]\d{4}(?![\w\-])`,
      // French (01 23 45 67 89) and UK mobile / London numbers.
      String.raw`(?<![\w+\-.])0[1-9](?:[ .]\d{2}){4}(?![\w\-]|\.\d)`,
      String.raw`(?<![\w+\-.])0(?:7\d{3} ?\d{6}|20 ?\d{4} ?\d{4})(?![\w\-])`,
    ],
    priority: 2,
    validate: (secret) => (secret.startsWith('+') ? internationalPhoneValid(secret) : nationalPhoneValid(secret)),
  }),
  definePatternRule({
    id: 'ipv4_address',
    family: 'ip_address',
    precheck: { minDigitRun: 4 },
    patterns: [String.raw`(?<![\w.:])\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?!\w|\.\d)`],
    priority: 1,
    validate: ipv4Valid,
  }),
  definePatternRule({
    id: 'ipv6_address',
    family: 'ip_address',
    precheck: { minColons: 2 },
    patterns: [String.raw`(?<![\w:.])(?=[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:.]{3,45}(?![\w:])`],
    priority: 1,
    trim: trimIpv6,
  }),
];
