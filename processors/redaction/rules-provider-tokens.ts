/**
 * Built-in rules for vendor credentials with a recognisable shape: cloud (AWS, GCP, Azure,
 * DigitalOcean), code hosting (GitHub, GitLab), payments (Stripe, Square, Braintree, Shopify),
 * messaging (Slack, Twilio, SendGrid, Mailgun, Mailchimp, Telegram, Discord), AI providers and
 * package registries.
 *
 * Shapes follow the vendors' documented formats and gitleaks' rules. Each prefix is a prefilter
 * keyword; a format with a checksum validates it (GitHub CRC32); formats without one need the
 * random part to look random (entropy) and not be a documentation sample. Every repetition is
 * bounded; variable-length tokens extend over their alphabet so a token longer than the bound is
 * masked whole. Stateless.
 */
import { definePatternRule, type CredentialFacts, type PatternRule } from './rule-definition.js';
import { githubTokenChecksumValid, shannonEntropy } from './validators.js';

/**
 * Entropy floors are set so that fewer than 1 in 100,000 random values of the format fall below
 * them (measured on generated tokens), while words, repeated and sequential strings stay below.
 * 32 random hex characters: 3.6 bits/char on average, 2.6 at the 1e-5 tail.
 */
const HEX_32 = 2.5;

function randomLooking(minEntropy: number): (secret: string) => boolean {
  return (secret) => shannonEntropy(secret) >= minEntropy;
}

/** Secret group before which a key name and an assignment appear: `name": "`, `NAME=`, `name => '`. */
const ASSIGNMENT = String.raw`\\?["']?\s{0,3}(?:[:=]|=>|:=)\s{0,3}\\?["']?`;

const gcpClientEmail = /client_email\\?"\s{0,3}:\s{0,3}\\?"([^"\\\s]{1,320})/;
const gcpClientId = /client_id\\?"\s{0,3}:\s{0,3}\\?"([0-9]{5,40})/;

// ---------------------------------------------------------------------------------------------
// cloud

const cloud: PatternRule[] = [
  definePatternRule({
    id: 'aws_access_key_id',
    family: 'cloud',
    keywords: ['akia', 'asia', 'abia', 'acca', 'a3t'],
    // Key ids are base32 after the 4-character prefix (AKIA long-term, ASIA temporary).
    patterns: [String.raw`(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}(?![A-Za-z0-9])`],
    identity: (secret) => ({ environment: secret.startsWith('ASIA') ? 'temporary' : 'long_term' }),
  }),
  definePatternRule({
    id: 'aws_secret_access_key',
    family: 'cloud',
    // No prefix of its own: only next to an AWS-ish key name or right after an access key id.
    keywords: ['aws', 'amazon', 'secret_access_key', 'secretaccesskey', 'secret-access-key', 'akia', 'asia'],
    patterns: [
      String.raw`(?:(?:aws|amazon)[\w.\-]{0,40}?(?:secret|key)[\w.\-]{0,20}?|secret[_\-.]?access[_\-.]?key)${ASSIGNMENT}(?<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])`,
      String.raw`(?:AKIA|ASIA)[A-Z2-7]{16}[\s:;,|"'/]{1,5}(?<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])`,
    ],
    flags: 'i',
    // Random base64: at least two of digits, upper and lower case (all three miss in 0.1% of keys).
    validate: (secret) => shannonEntropy(secret) >= 3.8 && Number(/[0-9]/.test(secret)) + Number(/[A-Z]/.test(secret)) + Number(/[a-z]/.test(secret)) >= 2,
  }),
  definePatternRule({
    id: 'gcp_api_key',
    family: 'cloud',
    keywords: ['aiza'],
    patterns: [String.raw`(?<![A-Za-z0-9_\-])AIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])`],
    validate: randomLooking(3.5),
  }),
  definePatternRule({
    id: 'gcp_service_account_key',
    family: 'cloud',
    keywords: ['private_key'],
    // The key of a service-account JSON file, whose PEM sits in a JSON string with \n escapes.
    patterns: [
      String.raw`private_key\\?"\s{0,3}:\s{0,3}\\?"(?<secret>-----BEGIN (?:RSA )?PRIVATE KEY-----[A-Za-z0-9+/=\\\s]{40,16384}?-----END (?:RSA )?PRIVATE KEY-----(?:\\{1,2}n)?)`,
    ],
    priority: 4,
    identity: (_secret, text) => {
      const facts: CredentialFacts = {};
      const email = gcpClientEmail.exec(text)?.[1];
      const clientId = gcpClientId.exec(text)?.[1];
      if (email) facts.subject = email;
      if (clientId) facts.clientId = clientId;
      return facts;
    },
  }),
  definePatternRule({
    id: 'gcp_oauth_client_secret',
    family: 'cloud',
    keywords: ['gocspx-'],
    patterns: [String.raw`(?<![A-Za-z0-9])GOCSPX-[A-Za-z0-9_\-]{28}(?![A-Za-z0-9_\-])`],
    validate: randomLooking(3.5),
  }),
  definePatternRule({
    id: 'gcp_oauth_access_token',
    family: 'cloud',
    keywords: ['ya29.'],
    patterns: [String.raw`(?<![A-Za-z0-9])ya29\.[A-Za-z0-9_\-]{30,2048}`],
    extendOver: 'base64url',
    validate: randomLooking(3.5),
  }),
  definePatternRule({
    id: 'azure_storage_account_key',
    family: 'cloud',
    keywords: ['accountkey', 'account_key', 'account-key', 'azure'],
    // 64 random bytes in base64: 86 characters and "==". Only with context: a bare 88-character
    // base64 string is as likely a SHA-512 digest.
    patterns: [String.raw`(?:account[_\-]?key|azure[\w.\-]{0,40}?key)${ASSIGNMENT}(?<secret>[A-Za-z0-9+/]{86}==)(?![A-Za-z0-9+/=])`],
    flags: 'i',
    validate: randomLooking(4.5),
  }),
  definePatternRule({
    id: 'azure_shared_access_key',
    family: 'cloud',
    keywords: ['sharedaccesskey'],
    // Service Bus / Event Hubs / IoT Hub connection strings: SharedAccessKey=<base64 of 32 bytes>.
    patterns: [String.raw`SharedAccessKey\s{0,2}=\s{0,2}(?<secret>[A-Za-z0-9+/]{42,86}={0,2})(?![A-Za-z0-9+/=])`],
    flags: 'i',
    validate: randomLooking(4),
  }),
  definePatternRule({
    id: 'azure_ad_client_secret',
    family: 'cloud',
    keywords: ['q~'],
    // Entra ID (Azure AD) application secrets: 3 characters, a digit, "Q~", then 31-34 more.
    patterns: [String.raw`(?<![A-Za-z0-9_~.\-])[A-Za-z0-9_~.\-]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}(?![A-Za-z0-9_~.\-])`],
    validate: randomLooking(3.8),
  }),
  definePatternRule({
    id: 'digitalocean_token',
    family: 'cloud',
    keywords: ['dop_v1_', 'doo_v1_', 'dor_v1_'],
    patterns: [String.raw`(?<![A-Za-z0-9])do[opr]_v1_[a-f0-9]{64}(?![A-Za-z0-9])`],
    validate: (secret) => randomLooking(HEX_32)(secret.slice(7)),
  }),
];

// ---------------------------------------------------------------------------------------------
// code hosting

function githubClassicToken(id: string, prefix: string): PatternRule {
  return definePatternRule({
    id,
    family: 'code_hosting',
    keywords: [prefix],
    patterns: [String.raw`(?<![A-Za-z0-9])${prefix}[A-Za-z0-9]{36}(?![A-Za-z0-9])`],
    validate: githubTokenChecksumValid,
  });
}

function gitlabToken(id: string, prefixes: string[], body: string): PatternRule {
  return definePatternRule({
    id,
    family: 'code_hosting',
    keywords: prefixes.map((p) => p.toLowerCase()),
    patterns: [String.raw`(?<![A-Za-z0-9])(?:${prefixes.join('|')})${body}`],
    extendOver: 'base64url',
    validate: (secret) => randomLooking(3)(secret.slice(secret.search(/[-_]/) + 1)),
  });
}

const codeHosting: PatternRule[] = [
  githubClassicToken('github_pat', 'ghp_'),
  githubClassicToken('github_oauth_token', 'gho_'),
  githubClassicToken('github_user_token', 'ghu_'),
  githubClassicToken('github_app_token', 'ghs_'),
  githubClassicToken('github_refresh_token', 'ghr_'),
  definePatternRule({
    id: 'github_fine_grained_pat',
    family: 'code_hosting',
    keywords: ['github_pat_'],
    patterns: [String.raw`(?<![A-Za-z0-9])github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}(?![A-Za-z0-9])`],
    validate: randomLooking(4),
  }),
  // GitLab: 20 characters in the classic format, longer routable tokens since 17.x.
  gitlabToken('gitlab_pat', ['glpat-'], String.raw`[A-Za-z0-9_\-]{20,300}`),
  gitlabToken('gitlab_deploy_token', ['gldt-'], String.raw`[A-Za-z0-9_\-]{20,300}`),
  gitlabToken('gitlab_runner_token', ['glrt-', 'GR1348941'], String.raw`[A-Za-z0-9_\-]{20,300}`),
  gitlabToken('gitlab_pipeline_trigger_token', ['glptt-'], String.raw`[0-9a-f]{40}`),
];

// ---------------------------------------------------------------------------------------------
// payments

const stripeEnvironment = (secret: string): CredentialFacts => ({ environment: secret.includes('_live_') ? 'live' : 'test' });

const payments: PatternRule[] = [
  definePatternRule({
    id: 'stripe_secret_key',
    family: 'payments',
    keywords: ['sk_live_', 'sk_test_'],
    patterns: [String.raw`(?<![A-Za-z0-9])sk_(?:live|test)_[A-Za-z0-9]{10,247}`],
    extendOver: 'base62',
    validate: randomLooking(3.5),
    identity: stripeEnvironment,
  }),
  definePatternRule({
    id: 'stripe_restricted_key',
    family: 'payments',
    keywords: ['rk_live_', 'rk_test_'],
    patterns: [String.raw`(?<![A-Za-z0-9])rk_(?:live|test)_[A-Za-z0-9]{10,247}`],
    extendOver: 'base62',
    validate: randomLooking(3.5),
    identity: stripeEnvironment,
  }),
  definePatternRule({
    id: 'stripe_webhook_secret',
    family: 'payments',
    keywords: ['whsec_'],
    patterns: [String.raw`(?<![A-Za-z0-9])whsec_[A-Za-z0-9+/=]{24,100}`],
    extendOver: 'base64',
    validate: randomLooking(3.5),
  }),
  definePatternRule({
    id: 'square_access_token',
    family: 'payments',
    keywords: ['sq0atp-', 'eaaa'],
    patterns: [String.raw`(?<![A-Za-z0-9_\-])(?:sq0atp-[A-Za-z0-9_\-]{22}|EAAA[A-Za-z0-9_\-]{60})(?![A-Za-z0-9_\-])`],
    validate: randomLooking(3.8),
  }),
  definePatternRule({
    id: 'square_oauth_secret',
    family: 'payments',
    keywords: ['sq0csp-'],
    patterns: [String.raw`(?<![A-Za-z0-9])sq0csp-[A-Za-z0-9_\-]{43}(?![A-Za-z0-9_\-])`],
    validate: randomLooking(3.8),
  }),
  definePatternRule({
    id: 'braintree_access_token',
    family: 'payments',
    keywords: ['access_token$'],
    patterns: [String.raw`access_token\$(?:production|sandbox)\$[0-9a-z]{16}\$[0-9a-f]{32}(?![0-9a-f])`],
    validate: (secret) => shannonEntropy(secret.slice(secret.lastIndexOf('$') + 1)) >= 3,
    identity: (secret) => ({ environment: secret.includes('$production$') ? 'production' : 'sandbox' }),
  }),
  definePatternRule({
    id: 'shopify_access_token',
    family: 'payments',
    keywords: ['shpat_', 'shpca_', 'shppa_', 'shpss_'],
    patterns: [String.raw`(?<![A-Za-z0-9])shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}(?![A-Za-z0-9])`],
    validate: (secret) => randomLooking(HEX_32)(secret.slice(6)),
  }),
];

// ---------------------------------------------------------------------------------------------
// messaging

const messaging: PatternRule[] = [
  definePatternRule({
    id: 'slack_bot_token',
    family: 'messaging',
    keywords: ['xoxb-'],
    patterns: [String.raw`(?<![A-Za-z0-9])xoxb-\d{6,15}-\d{6,15}-[A-Za-z0-9]{16,64}(?![A-Za-z0-9])`],
    validate: (secret) => randomLooking(3.3)(secret.slice(secret.lastIndexOf('-') + 1)),
  }),
  definePatternRule({
    id: 'slack_user_token',
    family: 'messaging',
    keywords: ['xoxp-'],
    patterns: [String.raw`(?<![A-Za-z0-9.])xoxp-\d{6,15}-\d{6,15}-\d{6,15}-[A-Za-z0-9]{16,64}(?![A-Za-z0-9])`],
    // The last part is hex (at most 4 bits per character).
    validate: (secret) => randomLooking(HEX_32)(secret.slice(secret.lastIndexOf('-') + 1)),
  }),
  definePatternRule({
    id: 'slack_app_token',
    family: 'messaging',
    keywords: ['xapp-'],
    patterns: [String.raw`(?<![A-Za-z0-9])xapp-\d-[A-Z0-9]{6,15}-\d{6,15}-[A-Za-z0-9]{32,128}(?![A-Za-z0-9])`],
    validate: (secret) => randomLooking(3.3)(secret.slice(secret.lastIndexOf('-') + 1)),
  }),
  definePatternRule({
    id: 'slack_legacy_token',
    family: 'messaging',
    // Legacy workspace tokens (xoxa/xoxo/xoxs/xoxr) and rotating refresh tokens (xoxe, xoxe.xoxp-…).
    keywords: ['xoxa-', 'xoxo-', 'xoxs-', 'xoxr-', 'xoxe-', 'xoxe.'],
    patterns: [String.raw`(?<![A-Za-z0-9])xox[aorse](?:\.xox[bp])?-[A-Za-z0-9\-]{24,400}`],
    extendOver: 'base64url',
    validate: (secret) => /\d/.test(secret) && randomLooking(3.5)(secret),
  }),
  definePatternRule({
    id: 'slack_webhook_url',
    family: 'messaging',
    keywords: ['hooks.slack.com/'],
    // The path is the secret: anyone holding it can post. The host stays readable.
    patterns: [String.raw`hooks\.slack\.com/(?:services|workflows|triggers)/(?<secret>T[A-Z0-9]{6,14}/[A-Za-z0-9_/]{10,160})`],
    validate: (secret) => randomLooking(3.5)(secret),
  }),
  definePatternRule({
    id: 'twilio_api_key',
    family: 'messaging',
    keywords: ['sk'],
    patterns: [String.raw`(?<![A-Za-z0-9])SK[0-9a-f]{32}(?![A-Za-z0-9])`],
    validate: (secret) => randomLooking(HEX_32)(secret.slice(2)),
  }),
  definePatternRule({
    id: 'twilio_auth_token',
    family: 'messaging',
    keywords: ['twilio'],
    patterns: [String.raw`twilio[\w.\-]{0,30}?(?:auth|token|secret)[\w.\-]{0,20}?${ASSIGNMENT}(?<secret>[0-9a-f]{32})(?![0-9A-Za-z])`],
    flags: 'i',
    validate: randomLooking(HEX_32),
  }),
  definePatternRule({
    id: 'sendgrid_api_key',
    family: 'messaging',
    keywords: ['sg.'],
    patterns: [String.raw`(?<![A-Za-z0-9])SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}(?![A-Za-z0-9_\-])`],
    validate: randomLooking(4),
  }),
  definePatternRule({
    id: 'mailgun_api_key',
    family: 'messaging',
    keywords: ['key-'],
    patterns: [String.raw`(?<![A-Za-z0-9\-])key-[0-9a-f]{32}(?![A-Za-z0-9])`],
    validate: (secret) => randomLooking(HEX_32)(secret.slice(4)),
  }),
  definePatternRule({
    id: 'mailchimp_api_key',
    family: 'messaging',
    keywords: ['-us'],
    patterns: [String.raw`(?<![A-Za-z0-9])[0-9a-f]{32}-us\d{1,2}(?![A-Za-z0-9])`],
    validate: (secret) => randomLooking(HEX_32)(secret.slice(0, 32)),
  }),
  definePatternRule({
    id: 'telegram_bot_token',
    family: 'messaging',
    keywords: [':aa'],
    // Also inside Bot API URLs: https://api.telegram.org/bot<token>/getMe.
    patterns: [String.raw`(?:(?<![A-Za-z0-9])|(?<=bot))\d{8,10}:AA[A-Za-z0-9_\-]{33}(?![A-Za-z0-9_\-])`],
    validate: (secret) => randomLooking(3.5)(secret.slice(secret.indexOf(':') + 1)),
  }),
  definePatternRule({
    id: 'discord_webhook_url',
    family: 'messaging',
    keywords: ['com/api/webhooks/'],
    patterns: [String.raw`discord(?:app)?\.com/api/webhooks/\d{17,20}/(?<secret>[A-Za-z0-9_\-]{60,80})(?![A-Za-z0-9_\-])`],
    validate: randomLooking(4),
  }),
];

// ---------------------------------------------------------------------------------------------
// AI providers

const ai: PatternRule[] = [
  definePatternRule({
    id: 'openai_api_key',
    family: 'ai',
    keywords: ['sk-'],
    // Project, service-account and admin keys; legacy user keys carry "T3BlbkFJ" (base64 "OpenAI").
    patterns: [
      String.raw`(?<![A-Za-z0-9_\-])sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,400}`,
      String.raw`(?<![A-Za-z0-9_\-])sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}(?![A-Za-z0-9_\-])`,
      String.raw`(?<![A-Za-z0-9_\-])sk-[A-Za-z0-9]{48}(?![A-Za-z0-9_\-])`,
    ],
    extendOver: 'base64url',
    validate: randomLooking(4),
  }),
  definePatternRule({
    id: 'anthropic_api_key',
    family: 'ai',
    keywords: ['sk-ant-'],
    patterns: [String.raw`(?<![A-Za-z0-9_\-])sk-ant-(?:api|admin|oat|ort)\d{2}-[A-Za-z0-9_\-]{32,300}`],
    extendOver: 'base64url',
    validate: randomLooking(4),
  }),
  definePatternRule({
    id: 'huggingface_token',
    family: 'ai',
    keywords: ['hf_', 'api_org_'],
    patterns: [String.raw`(?<![A-Za-z0-9_])(?:hf_|api_org_)[A-Za-z0-9]{30,40}(?![A-Za-z0-9])`],
    validate: randomLooking(3.8),
  }),
  definePatternRule({
    id: 'groq_api_key',
    family: 'ai',
    keywords: ['gsk_'],
    patterns: [String.raw`(?<![A-Za-z0-9])gsk_[A-Za-z0-9]{52}(?![A-Za-z0-9])`],
    validate: randomLooking(4),
  }),
  definePatternRule({
    id: 'replicate_api_token',
    family: 'ai',
    keywords: ['r8_'],
    patterns: [String.raw`(?<![A-Za-z0-9])r8_[A-Za-z0-9]{37}(?![A-Za-z0-9])`],
    validate: randomLooking(3.8),
  }),
  definePatternRule({
    id: 'xai_api_key',
    family: 'ai',
    keywords: ['xai-'],
    patterns: [String.raw`(?<![A-Za-z0-9])xai-[A-Za-z0-9]{80}(?![A-Za-z0-9])`],
    validate: randomLooking(4),
  }),
];

// ---------------------------------------------------------------------------------------------
// package registries

const packageRegistries: PatternRule[] = [
  definePatternRule({
    id: 'npm_token',
    family: 'package_registry',
    keywords: ['npm_'],
    // npm's format (2021) carries GitHub's CRC32 checksum in the last 6 characters.
    patterns: [String.raw`(?<![A-Za-z0-9])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])`],
    validate: githubTokenChecksumValid,
  }),
  definePatternRule({
    id: 'pypi_token',
    family: 'package_registry',
    // A macaroon whose first bytes always encode "pypi.org" (or test.pypi.org).
    keywords: ['pypi-ageichlwas5vcmc', 'pypi-agendgvzdc5wexbplm9yzw'],
    patterns: [String.raw`(?<![A-Za-z0-9])pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_\-]{50,2000}`],
    extendOver: 'base64url',
  }),
  definePatternRule({
    id: 'rubygems_api_key',
    family: 'package_registry',
    keywords: ['rubygems_'],
    patterns: [String.raw`(?<![A-Za-z0-9])rubygems_[a-f0-9]{48}(?![A-Za-z0-9])`],
    validate: (secret) => randomLooking(HEX_32)(secret.slice(9)),
  }),
  definePatternRule({
    id: 'dockerhub_pat',
    family: 'package_registry',
    keywords: ['dckr_pat_'],
    patterns: [String.raw`(?<![A-Za-z0-9])dckr_pat_[A-Za-z0-9_\-]{27}(?![A-Za-z0-9_\-])`],
    validate: randomLooking(3.5),
  }),
];

export const PROVIDER_TOKEN_RULES: readonly PatternRule[] = [...cloud, ...codeHosting, ...payments, ...messaging, ...ai, ...packageRegistries];
