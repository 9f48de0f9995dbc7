import { describe, expect, it } from 'vitest';
import { SECRET_FAMILIES, type Finding } from '../../schemas/findings.js';
import { redactionConfigSchema } from '../../schemas/redaction-config.js';
import { createRedactor } from './redactor.js';
import { analyzePattern, hasUnboundedQuantifier } from './regex-safety.js';
import { BUILTIN_RULES, KEY_RULES, PATTERN_RULES } from './rules.js';
import { ALPHABETS, cardNumber, githubToken, iban, pemKeys, pick, sampleSecrets, seededRandom, signedJwt, ssn } from './sample-credentials.js';

const redactor = createRedactor(redactionConfigSchema.parse({ families: { ip_address: { enabled: true } } }), { hmacKey: 'rules-test-key-0123456789abcdef0123' });
const SCOPE = { service: 'svc', peer: '', traceId: '', spanId: '', timeUnixNano: 0n };

function scan(text: string): { rules: string[]; out: unknown } {
  const findings: Finding[] = [];
  const out = redactor.redactValue(text, '', 'log.body', SCOPE, findings);
  return { rules: findings.map((f) => f.rule), out };
}

const r = seededRandom(20260101);
const b62 = (n: number) => pick(r, ALPHABETS.base62, n);
const b64 = (n: number) => pick(r, ALPHABETS.base64, n);
const b64u = (n: number) => pick(r, ALPHABETS.base64url, n);
const hex = (n: number) => pick(r, ALPHABETS.hex, n);
const digits = (n: number) => pick(r, ALPHABETS.digits, n);
const badChecksum = (token: string) => token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
const jwt = signedJwt({ iss: 'https://idp.example.net', sub: 'svc-orders', iat: 1767225600, exp: 1767229200 });

/** Per rule: values (in context) it must catch, and look-alikes it must leave alone. */
const CASES: Record<string, { hits: string[]; misses: string[] }> = {
  // cloud
  aws_access_key_id: { hits: [`AKIA${pick(r, ALPHABETS.base32, 16)}`, `key id ASIA${pick(r, ALPHABETS.base32, 16)} expired`], misses: ['AKIAIOSFODNN7EXAMPLE', `AKIA${'0189'.repeat(4)}`] },
  aws_secret_access_key: {
    hits: [`aws_secret_access_key = ${b64(40)}`, `{"AccessKeyId":"ASIA${pick(r, ALPHABETS.base32, 16)}","SecretAccessKey":"${b64(40)}"}`],
    misses: ['aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', `sha1 ${hex(40)} and base64 ${b64(40)}`],
  },
  gcp_api_key: { hits: [`AIza${b64u(35)}`, `https://maps.googleapis.com/maps/api/geocode/json?key=AIza${b64u(35)}`], misses: [`AIza${b64u(30)}`, 'AIzaSyXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX'] },
  gcp_service_account_key: {
    hits: [JSON.stringify({ type: 'service_account', private_key: pemKeys().rsa }), JSON.stringify(JSON.stringify({ private_key: pemKeys().rsa }))],
    misses: ['{"private_key": ""}', `{"private_key_id": "${hex(40)}"}`],
  },
  gcp_oauth_client_secret: { hits: [`GOCSPX-${b64u(28)}`, `client_secret=GOCSPX-${b64u(28)}`], misses: [`GOCSPX-${b64u(20)}`, 'GOCSPX-XXXXXXXXXXXXXXXXXXXXXXXXXXXX'] },
  gcp_oauth_access_token: { hits: [`ya29.${b64u(120)}`, `token ya29.a0${b64u(200)} refreshed`], misses: ['ya29.short', 'ya29.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'] },
  azure_storage_account_key: {
    hits: [`DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${b64(86)}==;EndpointSuffix=core.windows.net`, `azure.storage.key: "${b64(86)}=="`],
    misses: [`integrity sha512-${b64(86)}==`, `AccountKey=${b64(40)}`],
  },
  azure_shared_access_key: {
    hits: [`Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=${b64(43)}=`, `HostName=hub.azure-devices.net;SharedAccessKey=${b64(43)}=`],
    misses: ['SharedAccessKeyName=RootManageSharedAccessKey', 'SharedAccessKey=short'],
  },
  azure_ad_client_secret: { hits: [`${b62(3)}8Q~${b64u(34)}`, `client secret abC7Q~${b64u(31)}`], misses: ['abc1Q~short', `Q~${b64u(34)}`] },
  digitalocean_token: { hits: [`dop_v1_${hex(64)}`, `Bearer doo_v1_${hex(64)}`], misses: [`dop_v1_${hex(63)}`, `dop_v2_${hex(64)}`] },
  // code hosting
  github_pat: { hits: [githubToken(r, 'ghp_'), `https://${githubToken(r, 'ghp_')}@github.com/org/repo.git`], misses: [badChecksum(githubToken(r, 'ghp_')), `ghp_${b62(35)}`] },
  github_oauth_token: { hits: [githubToken(r, 'gho_'), `token=${githubToken(r, 'gho_')}`], misses: [badChecksum(githubToken(r, 'gho_')), 'gho_16C7e42F292c6912E7710c838347Ae178B4a'] },
  github_user_token: { hits: [githubToken(r, 'ghu_'), `"${githubToken(r, 'ghu_')}"`], misses: [badChecksum(githubToken(r, 'ghu_')), `ghu_${b62(37)}`] },
  github_app_token: { hits: [githubToken(r, 'ghs_'), `x-access-token ${githubToken(r, 'ghs_')}`], misses: [badChecksum(githubToken(r, 'ghs_')), `ghs_${b62(30)}`] },
  github_refresh_token: { hits: [githubToken(r, 'ghr_'), `refresh ${githubToken(r, 'ghr_')} used`], misses: [badChecksum(githubToken(r, 'ghr_')), 'ghr_'] },
  github_fine_grained_pat: { hits: [`github_pat_${b62(22)}_${b62(59)}`, `GH_TOKEN=github_pat_${b62(22)}_${b62(59)}`], misses: [`github_pat_${b62(22)}_${b62(40)}`, `github_pat_${'x'.repeat(22)}_${'x'.repeat(59)}`] },
  gitlab_pat: { hits: [`glpat-${b64u(20)}`, `PRIVATE-TOKEN glpat-${b62(20)}`], misses: [`glpat-${b62(12)}`, 'glpat-xxxxxxxxxxxxxxxxxxxx'] },
  gitlab_deploy_token: { hits: [`gldt-${b64u(20)}`, `deploy gldt-${b62(24)}`], misses: ['gldt-short', 'gldt-XXXXXXXXXXXXXXXXXXXXXX'] },
  gitlab_runner_token: { hits: [`glrt-${b64u(20)}`, `GR1348941${b64u(20)}`], misses: ['glrt-abc', 'GR1348941'] },
  gitlab_pipeline_trigger_token: { hits: [`glptt-${hex(40)}`, `token=glptt-${hex(40)}`], misses: [`glptt-${hex(39)}`, `glptt-${'0'.repeat(40)}`] },
  // payments
  stripe_secret_key: { hits: [`sk_live_${b62(24)}`, `sk_test_${b62(99)}`], misses: ['sk_test_XXXXXXXXXXXXXXXXXXXXXXXX', `pk_live_${b62(24)}`] },
  stripe_restricted_key: { hits: [`rk_live_${b62(24)}`, `key rk_test_${b62(99)}.`], misses: ['rk_live_short', 'rk_test_your_key_here'] },
  stripe_webhook_secret: { hits: [`whsec_${b62(32)}`, `STRIPE_WEBHOOK_SECRET=whsec_${b62(32)}`], misses: ['whsec_', 'whsec_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX'] },
  square_access_token: { hits: [`sq0atp-${b64u(22)}`, `EAAA${b64u(60)}`], misses: [`sq0atp-${b64u(10)}`, `EAAA${b64u(40)}`] },
  square_oauth_secret: { hits: [`sq0csp-${b64u(43)}`, `secret: sq0csp-${b64u(43)}`], misses: [`sq0csp-${b64u(20)}`, `sq0csp-${'A'.repeat(43)}`] },
  braintree_access_token: {
    hits: [`access_token$production$${pick(r, ALPHABETS.lowerDigits, 16)}$${hex(32)}`, `access_token$sandbox$${pick(r, ALPHABETS.lowerDigits, 16)}$${hex(32)}`],
    misses: [`access_token$staging$${pick(r, ALPHABETS.lowerDigits, 16)}$${hex(32)}`, `access_token$production$${pick(r, ALPHABETS.lowerDigits, 16)}$${hex(20)}`],
  },
  shopify_access_token: { hits: [`shpat_${hex(32)}`, `X-Shopify-Access-Token: shpss_${hex(32)}`], misses: [`shpat_${hex(31)}`, `shpxx_${hex(32)}`] },
  // messaging
  slack_bot_token: { hits: [`xoxb-${digits(12)}-${digits(13)}-${b62(24)}`, `Bearer xoxb-${digits(11)}-${digits(12)}-${b62(24)}`], misses: ['xoxb-not-a-real-token-this-will-not-work', 'xoxb-123-456-abc'] },
  slack_user_token: { hits: [`xoxp-${digits(12)}-${digits(12)}-${digits(13)}-${hex(32)}`, `token=xoxp-${digits(11)}-${digits(11)}-${digits(12)}-${hex(32)}`], misses: ['xoxp-your-token', `xoxp-${digits(12)}-${hex(32)}`] },
  slack_app_token: { hits: [`xapp-1-A${pick(r, ALPHABETS.upperDigits, 10)}-${digits(13)}-${hex(64)}`, `SLACK_APP_TOKEN=xapp-1-A0${pick(r, ALPHABETS.upperDigits, 9)}-${digits(13)}-${hex(64)}`], misses: ['xapp-1-abc', `xapp-A${digits(10)}-${hex(64)}`] },
  slack_legacy_token: { hits: [`xoxe.xoxp-1-${b62(146)}`, `xoxs-${digits(10)}-${digits(10)}-${b62(30)}`], misses: ['xoxs-placeholder-token-here-please', 'xoxo-short'] },
  slack_webhook_url: {
    hits: [`https://hooks.slack.com/services/T${pick(r, ALPHABETS.upperDigits, 8)}/B${pick(r, ALPHABETS.upperDigits, 10)}/${b62(24)}`, `POST hooks.slack.com/services/T0${pick(r, ALPHABETS.upperDigits, 8)}/B0${pick(r, ALPHABETS.upperDigits, 9)}/${b62(24)} 200`],
    misses: ['https://hooks.slack.com/services/', 'https://api.slack.com/messaging/webhooks'],
  },
  twilio_api_key: { hits: [`SK${hex(32)}`, `user SK${hex(32)}`], misses: [`SK${hex(31)}`, `sk${hex(32)}`] },
  twilio_auth_token: { hits: [`TWILIO_AUTH_TOKEN=${hex(32)}`, `{"twilio_auth_token": "${hex(32)}"}`], misses: [`twilio sid AC${hex(32)}`, `TWILIO_AUTH_TOKEN=${'0'.repeat(32)}`] },
  sendgrid_api_key: { hits: [`SG.${b64u(22)}.${b64u(43)}`, `apikey SG.${b64u(22)}.${b64u(43)}`], misses: [`SG.${b64u(22)}.${b64u(20)}`, 'SG.example.key'] },
  mailgun_api_key: { hits: [`key-${hex(32)}`, `api:key-${hex(32)}`], misses: [`key-${hex(31)}`, `cache-key-${hex(32)}`] },
  mailchimp_api_key: { hits: [`${hex(32)}-us6`, `apikey ${hex(32)}-us21`], misses: [`${hex(32)}-eu1`, `${hex(30)}-us6`] },
  telegram_bot_token: { hits: [`${digits(10)}:AA${b64u(33)}`, `https://api.telegram.org/bot${digits(9)}:AA${b64u(33)}/getMe`], misses: [`${digits(10)}:AB${b64u(33)}`, `12:30:AA${b64u(33)}`] },
  discord_webhook_url: { hits: [`https://discord.com/api/webhooks/${digits(18)}/${b64u(68)}`, `https://discordapp.com/api/webhooks/${digits(19)}/${b64u(68)}`], misses: ['https://discord.com/api/webhooks/123/abc', 'https://discord.com/developers/docs'] },
  // AI providers
  openai_api_key: { hits: [`sk-proj-${b64u(74)}T3BlbkFJ${b64u(74)}`, `OPENAI_API_KEY=sk-${b62(20)}T3BlbkFJ${b62(20)}`], misses: ['sk-proj-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX', `task-${b62(48)}`] },
  anthropic_api_key: { hits: [`sk-ant-api03-${b64u(93)}AA`, `x-api-key: sk-ant-admin01-${b64u(93)}AA`], misses: ['sk-ant-api03-short', 'sk-ant-api03-your-key-here-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'] },
  huggingface_token: { hits: [`hf_${pick(r, ALPHABETS.letters, 34)}`, `HF_TOKEN=hf_${pick(r, ALPHABETS.letters, 34)}`], misses: ['hf_transfer_enabled', 'hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'] },
  groq_api_key: { hits: [`gsk_${b62(52)}`, `Bearer gsk_${b62(52)}`], misses: [`gsk_${b62(40)}`, `gsk_${'A'.repeat(52)}`] },
  replicate_api_token: { hits: [`r8_${b62(37)}`, `REPLICATE_API_TOKEN=r8_${b62(37)}`], misses: [`r8_${b62(20)}`, `r8_${'x'.repeat(37)}`] },
  xai_api_key: { hits: [`xai-${b62(80)}`, `Bearer xai-${b62(80)}`], misses: [`xai-${b62(40)}`, 'xai-grok-2-latest'] },
  // package registries
  npm_token: { hits: [githubToken(r, 'npm_'), `//registry.npmjs.org/:_authToken=${githubToken(r, 'npm_')}`], misses: [badChecksum(githubToken(r, 'npm_')), 'npm_config_registry_url_value_here_x'] },
  pypi_token: { hits: [`pypi-AgEIcHlwaS5vcmc${b64u(150)}`, `password = pypi-AgENdGVzdC5weXBpLm9yZw${b64u(100)}`], misses: ['pypi-AgEIcHlwaS5vcmc', 'pypi-token-goes-here'] },
  rubygems_api_key: { hits: [`rubygems_${hex(48)}`, `GEM_HOST_API_KEY=rubygems_${hex(48)}`], misses: [`rubygems_${hex(40)}`, 'rubygems_org_mirror'] },
  dockerhub_pat: { hits: [`dckr_pat_${b64u(27)}`, `docker login -p dckr_pat_${b64u(27)}`], misses: [`dckr_pat_${b64u(10)}`, 'dckr_pat_'] },
  // structural credentials
  jwt: { hits: [jwt, `id_token=${signedJwt({ sub: 'x', aud: ['a', 'b'] })}&state=1`], misses: ['eyJhbGciOiJIUzI1NiJ9.notjson.sig', `eyJ${b64u(30)}.eyJ${b64u(30)}.${b64u(43)}`] },
  pem_private_key: { hits: [pemKeys().ec, JSON.stringify({ key: pemKeys().rsa })], misses: ['-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----'] },
  http_basic_credentials: { hits: [`Authorization: Basic ${Buffer.from(`svc:${b62(16)}`).toString('base64')}`, `basic ${Buffer.from(`sk_live_${b62(24)}:`).toString('base64')}`], misses: ['basic authentication failed', `Basic ${Buffer.from('nocolonhere').toString('base64')}`] },
  bearer_token: { hits: [`Authorization: Bearer ${b62(40)}`, `bearer ${b64u(32)}.${b64u(10)}`], misses: ['Bearer token required', 'bearer authentication'] },
  url_userinfo: { hits: [`https://deploy:${b62(18)}@registry.example.net/v2/`, `ftp://ops:${b62(12)}@files.example.net/x`], misses: ['https://user:password@example.com/docs', 'ssh://git@github.com/org/repo.git'] },
  url_query_secret: {
    hits: [`https://api.example.net/cb?code=${b64u(30)}&state=abc`, `https://bucket.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=${hex(64)}`],
    misses: ['https://shop.example.net/search?code=US&key=orders', 'https://example.net/?q=token'],
  },
  database_url_credentials: { hits: [`postgres://orders_app:${b62(20)}@db.internal:5432/orders`, `mongodb+srv://svc:${b62(16)}@cluster0.abcde.mongodb.net/app`], misses: ['postgres://db.internal:5432/orders', 'redis://:changeme@localhost:6379'] },
  connection_string_password: { hits: [`Server=sql.internal;Database=orders;User Id=app;Password=${b62(16)};`, `jdbc:postgresql://db:5432/app?user=app&password=${b62(12)}`], misses: ['Server=sql.internal;Database=orders;Integrated Security=true;', 'Server=x;Password=${DB_PASSWORD};'] },
  secret_assignment: { hits: [`login failed: password="${b62(10)}!"`, `client_secret: ${b62(24)}`], misses: ['password: incorrect', 'next_page_token=abcdef123456'] },
  // personal data
  email_address: { hits: ['contact alice.smith@mail.example.org now', 'mailto:bob+billing@corp.example.co.uk'], misses: ['logo@2x.png', 'svc-runner@my-project.iam.gserviceaccount.com'] },
  payment_card_number: { hits: [`card ${cardNumber(r, ' ')} ok`, cardNumber(r, '')], misses: ['4111 1111 1111 1112', '1767225600000000000'] },
  iban: { hits: [`IBAN ${iban(r, true)}`, iban(r, false)], misses: ['DE89370400440532013001', 'XX89370400440532013000'] },
  us_ssn: { hits: [`ssn ${ssn(r)}`, `social security number: ${ssn(r).replace(/-/g, '')}`], misses: ['666-12-3456', '123456789'] },
  phone_number: { hits: ['call +1 415 555 2671', '(415) 555-2671', '+44 20 7946 0958', '01 23 45 67 89'], misses: ['2024-01-15 12:30:45', '123-456-7890'] },
  ipv4_address: { hits: ['client 203.0.113.7 connected', '198.51.100.23:443'], misses: ['version 1.2.3', '127.0.0.1'] },
  ipv6_address: { hits: ['peer 2001:db8::8a2e:370:7334', '[fe80::1ff:fe23:4567:890a]:8080'], misses: ['12:30:45', '::1'] },
};

describe('rule catalogue', () => {
  it('has unique snake_case ids and at least 40 secret formats', () => {
    const ids = BUILTIN_RULES.map((rule) => rule.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z][a-z0-9_]*$/);
    const secretPatternRules = PATTERN_RULES.filter((rule) => rule.category === 'secret');
    expect(secretPatternRules.length).toBeGreaterThanOrEqual(40);
  });

  it('covers every family', () => {
    const families = new Set(BUILTIN_RULES.map((rule) => rule.family));
    for (const family of SECRET_FAMILIES) expect(families.has(family), family).toBe(true);
    expect(families.size).toBe(18);
  });

  it('has a case for every pattern rule and the key rules', () => {
    expect(Object.keys(CASES).sort()).toEqual(PATTERN_RULES.map((rule) => rule.id).sort());
    expect(Object.values(KEY_RULES).map((rule) => rule.id)).toEqual(['secret_key_value', 'http_auth_credentials']);
  });

  it('compiles linear-time patterns with bounded repetitions and lowercase keywords or a precheck', () => {
    for (const rule of PATTERN_RULES) {
      expect(rule.keywords.length > 0 || rule.precheck !== undefined, rule.id).toBe(true);
      for (const keyword of rule.keywords) expect(keyword, rule.id).toBe(keyword.toLowerCase());
      for (const pattern of rule.patterns) {
        const flags = pattern.flags.replace(/[gd]/g, '');
        expect(analyzePattern(pattern.source, flags).ok, `${rule.id}: ${pattern.source}`).toBe(true);
        expect(hasUnboundedQuantifier(pattern.source, flags), `${rule.id}: ${pattern.source}`).toBe(false);
        expect(pattern.global, rule.id).toBe(true);
      }
    }
  });
});

describe.each(Object.entries(CASES))('rule %s', (id, { hits, misses }) => {
  it.each(hits)('catches %s', (text) => {
    const { rules, out } = scan(text);
    expect(rules).toContain(id);
    expect(out).not.toBe(text);
  });

  it.each(misses)('leaves %s', (text) => {
    expect(scan(text).rules).not.toContain(id);
  });
});

describe('recall on generated credentials', () => {
  it('masks every one of 200 generated values per rule, and reports the rule that made it', () => {
    const random = seededRandom(99);
    const misses: string[] = [];
    const misattributed: string[] = [];
    for (let round = 0; round < 200; round++) {
      for (const [id, value] of Object.entries(sampleSecrets(random))) {
        const { rules, out } = scan(`seen: ${value} (end)`);
        if (typeof out !== 'string' || out.includes(value)) misses.push(`${id}: ${value.slice(0, 12)}…`);
        else if (!rules.includes(id)) misattributed.push(`${id} → ${rules.join(',')}`);
      }
    }
    expect(misses).toEqual([]);
    expect(misattributed).toEqual([]);
  });
});
