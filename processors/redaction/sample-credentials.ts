/**
 * Generators of realistic, fake credentials and personal data for the redaction tests and the
 * benchmark: the vendors' real shapes (prefixes, lengths, alphabets, checksums, signed JWTs,
 * real PEM keys), drawn from a seeded generator so every run sees the same values.
 *
 * Nothing here is a live secret. Keeps no state beyond the caller's generator.
 */
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { base62, crc32, IBAN_LENGTHS } from './validators.js';

export type Random = () => number;

/** xorshift32 in [0, 1). */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
}

export const ALPHABETS = {
  upper: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  letters: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
  base62: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
  base64: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/',
  base64url: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
  base32: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567',
  hex: '0123456789abcdef',
  digits: '0123456789',
  upperDigits: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
  lowerDigits: 'abcdefghijklmnopqrstuvwxyz0123456789',
} as const;

export function pick(random: Random, alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(random() * alphabet.length)];
  return out;
}

function between(random: Random, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/** A GitHub-format token: prefix, 30 random base62 characters, their CRC32 in 6 base62 characters. */
export function githubToken(random: Random, prefix: string): string {
  const body = pick(random, ALPHABETS.base62, 30);
  return `${prefix}${body}${base62(crc32(body), 6)}`;
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** An HS256-signed JWT with the given claims. */
export function signedJwt(claims: Record<string, unknown>, key = 'test-signing-key', header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }): string {
  const unsigned = `${b64url(header)}.${b64url(claims)}`;
  return `${unsigned}.${createHmac('sha256', key).update(unsigned).digest('base64url')}`;
}

function luhnCheckDigit(partial: string): string {
  let sum = 0;
  for (let i = 0; i < partial.length; i++) {
    let d = partial.charCodeAt(partial.length - 1 - i) - 48;
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

/** A Luhn-valid card number of a real network, optionally grouped. */
export function cardNumber(random: Random, separator: '' | ' ' | '-' = ''): string {
  const network = between(random, 0, 3);
  const [prefix, length, groups] =
    network === 0 ? ['4', 16, [4, 4, 4, 4]] : network === 1 ? [String(between(random, 51, 55)), 16, [4, 4, 4, 4]] : network === 2 ? [random() < 0.5 ? '34' : '37', 15, [4, 6, 5]] : ['6011', 16, [4, 4, 4, 4]];
  const partial = prefix + pick(random, ALPHABETS.digits, (length as number) - prefix.length - 1);
  const digits = partial + luhnCheckDigit(partial);
  if (separator === '') return digits;
  const out: string[] = [];
  let at = 0;
  for (const size of groups as number[]) {
    out.push(digits.slice(at, at + size));
    at += size;
  }
  return out.join(separator);
}

/** A valid IBAN of one of a few countries (check digits computed), optionally in groups of four. */
export function iban(random: Random, spaced = false): string {
  const country = (['DE', 'GB', 'FR', 'NL', 'ES', 'IT'] as const)[between(random, 0, 5)]!;
  const length = IBAN_LENGTHS[country]!;
  const bban =
    country === 'GB' || country === 'NL'
      ? pick(random, ALPHABETS.upper, 4) + pick(random, ALPHABETS.digits, length - 8)
      : country === 'IT'
        ? pick(random, ALPHABETS.upper, 1) + pick(random, ALPHABETS.digits, length - 5)
        : pick(random, ALPHABETS.digits, length - 4);
  const numeric = [...(bban + country + '00')].map((c) => (c >= 'A' && c <= 'Z' ? String(c.charCodeAt(0) - 55) : c)).join('');
  let remainder = 0;
  for (const d of numeric) remainder = (remainder * 10 + Number(d)) % 97;
  const check = String(98 - remainder).padStart(2, '0');
  const compact = country + check + bban;
  return spaced ? compact.replace(/(.{4})/g, '$1 ').trim() : compact;
}

export function ssn(random: Random): string {
  let area = between(random, 1, 899);
  if (area === 666) area = 665;
  return `${String(area).padStart(3, '0')}-${String(between(random, 1, 99)).padStart(2, '0')}-${String(between(random, 1, 9999)).padStart(4, '0')}`;
}

export function usPhone(random: Random): string {
  const area = `${between(random, 2, 9)}${pick(random, ALPHABETS.digits, 2)}`;
  const exchange = `${between(random, 2, 9)}${pick(random, ALPHABETS.digits, 2)}`;
  const line = pick(random, ALPHABETS.digits, 4);
  switch (between(random, 0, 3)) {
    case 0:
      return `+1 ${area} ${exchange} ${line}`;
    case 1:
      return `(${area}) ${exchange}-${line}`;
    case 2:
      return `${area}-${exchange}-${line}`;
    default:
      return `+1${area}${exchange}${line}`;
  }
}

let pemCache: { rsa: string; ec: string } | undefined;
/** Real (freshly generated, then cached) PEM private keys. */
export function pemKeys(): { rsa: string; ec: string } {
  pemCache ??= {
    rsa: generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    ec: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'sec1', format: 'pem' }).toString(),
  };
  return pemCache;
}

/** One realistic sample per built-in pattern rule id (values as they appear in a span). */
export function sampleSecrets(random: Random): Record<string, string> {
  const hex = (n: number) => pick(random, ALPHABETS.hex, n);
  const b62 = (n: number) => pick(random, ALPHABETS.base62, n);
  const b64 = (n: number) => pick(random, ALPHABETS.base64, n);
  const b64u = (n: number) => pick(random, ALPHABETS.base64url, n);
  const digits = (n: number) => pick(random, ALPHABETS.digits, n);
  const now = 1_767_225_600;
  return {
    aws_access_key_id: `${random() < 0.5 ? 'AKIA' : 'ASIA'}${pick(random, ALPHABETS.base32, 16)}`,
    aws_secret_access_key: `aws_secret_access_key = ${b64(40)}`,
    gcp_api_key: `AIza${b64u(35)}`,
    gcp_service_account_key: JSON.stringify({ type: 'service_account', private_key_id: hex(40), private_key: pemKeys().rsa, client_email: 'svc@proj.iam.gserviceaccount.com', client_id: digits(21) }),
    gcp_oauth_client_secret: `GOCSPX-${b64u(28)}`,
    gcp_oauth_access_token: `ya29.a0${b64u(150)}`,
    azure_storage_account_key: `DefaultEndpointsProtocol=https;AccountName=acct${hex(6)};AccountKey=${b64(86)}==;EndpointSuffix=core.windows.net`,
    azure_shared_access_key: `Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=${b64(43)}=`,
    azure_ad_client_secret: `${b62(3)}${digits(1)}Q~${pick(random, ALPHABETS.base62 + '_~.-', 34)}`,
    digitalocean_token: `dop_v1_${hex(64)}`,
    github_pat: githubToken(random, 'ghp_'),
    github_oauth_token: githubToken(random, 'gho_'),
    github_user_token: githubToken(random, 'ghu_'),
    github_app_token: githubToken(random, 'ghs_'),
    github_refresh_token: githubToken(random, 'ghr_'),
    github_fine_grained_pat: `github_pat_${b62(22)}_${b62(59)}`,
    gitlab_pat: `glpat-${b64u(20)}`,
    gitlab_deploy_token: `gldt-${b64u(20)}`,
    gitlab_runner_token: `glrt-${b64u(20)}`,
    gitlab_pipeline_trigger_token: `glptt-${hex(40)}`,
    stripe_secret_key: `sk_${random() < 0.5 ? 'live' : 'test'}_${b62(between(random, 24, 99))}`,
    stripe_restricted_key: `rk_live_${b62(99)}`,
    stripe_webhook_secret: `whsec_${b62(32)}`,
    square_access_token: random() < 0.5 ? `sq0atp-${b64u(22)}` : `EAAA${b64u(60)}`,
    square_oauth_secret: `sq0csp-${b64u(43)}`,
    braintree_access_token: `access_token$production$${pick(random, ALPHABETS.lowerDigits, 16)}$${hex(32)}`,
    shopify_access_token: `shpat_${hex(32)}`,
    slack_bot_token: `xoxb-${digits(12)}-${digits(13)}-${b62(24)}`,
    slack_user_token: `xoxp-${digits(12)}-${digits(12)}-${digits(13)}-${hex(32)}`,
    slack_app_token: `xapp-1-A${pick(random, ALPHABETS.upperDigits, 10)}-${digits(13)}-${hex(64)}`,
    slack_legacy_token: `xoxe.xoxp-1-${b62(146)}`,
    slack_webhook_url: `https://hooks.slack.com/services/T${pick(random, ALPHABETS.upperDigits, 8)}/B${pick(random, ALPHABETS.upperDigits, 10)}/${b62(24)}`,
    twilio_api_key: `SK${hex(32)}`,
    twilio_auth_token: `TWILIO_AUTH_TOKEN=${hex(32)}`,
    sendgrid_api_key: `SG.${b64u(22)}.${b64u(43)}`,
    mailgun_api_key: `key-${hex(32)}`,
    mailchimp_api_key: `${hex(32)}-us${between(random, 1, 21)}`,
    telegram_bot_token: `${digits(10)}:AA${b64u(33)}`,
    discord_webhook_url: `https://discord.com/api/webhooks/${digits(18)}/${b64u(68)}`,
    openai_api_key: random() < 0.5 ? `sk-proj-${b64u(74)}T3BlbkFJ${b64u(74)}` : `sk-${b62(20)}T3BlbkFJ${b62(20)}`,
    anthropic_api_key: `sk-ant-api03-${b64u(93)}AA`,
    huggingface_token: `hf_${pick(random, ALPHABETS.letters, 34)}`,
    groq_api_key: `gsk_${b62(52)}`,
    replicate_api_token: `r8_${b62(37)}`,
    xai_api_key: `xai-${b62(80)}`,
    npm_token: githubToken(random, 'npm_'),
    pypi_token: `pypi-AgEIcHlwaS5vcmc${b64u(150)}`,
    rubygems_api_key: `rubygems_${hex(48)}`,
    dockerhub_pat: `dckr_pat_${b64u(27)}`,
    jwt: signedJwt({ iss: 'https://login.example.net', sub: `svc-${hex(8)}`, iat: now, exp: now + 3600 }, b62(16)),
    pem_private_key: pemKeys().ec,
    http_basic_credentials: `Basic ${Buffer.from(`svc-${hex(6)}:${b62(20)}`).toString('base64')}`,
    bearer_token: `Bearer ${b62(40)}`,
    url_userinfo: `https://deploy:${b62(18)}@registry.example.net/v2/`,
    url_query_secret: `https://api.example.net/v1/me?access_token=${b62(32)}&fields=id`,
    database_url_credentials: `postgres://orders_app:${b62(20)}@db.internal:5432/orders`,
    connection_string_password: `Server=tcp:sql.internal,1433;Database=orders;User ID=app;Password=${b62(16)};Encrypt=true`,
    secret_assignment: `login failed for client_secret=${b62(24)} (retrying)`,
    email_address: `${pick(random, ALPHABETS.letters, 6).toLowerCase()}.${pick(random, ALPHABETS.letters, 5).toLowerCase()}@mail.example.org`,
    payment_card_number: cardNumber(random, random() < 0.5 ? ' ' : ''),
    iban: iban(random, random() < 0.5),
    us_ssn: ssn(random),
    phone_number: usPhone(random),
    ipv4_address: `203.0.${between(random, 0, 255)}.${between(random, 1, 254)}`,
    ipv6_address: `2001:db8:${hex(4)}::${hex(3)}`,
  };
}
