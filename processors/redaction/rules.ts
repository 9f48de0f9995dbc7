/**
 * The rule catalogue: every built-in pattern rule (provider tokens, structural credentials,
 * personal data), the key rules the redactor applies to values of secret-like attribute keys, and
 * the compilation of custom rules from config.
 *
 * Built once at module load; immutable afterwards. Rule ids are unique (a test asserts it) and
 * stable, since they appear in masks, findings and config.
 */
import type { RedactionConfig } from '../../schemas/redaction-config.js';
import { definePatternRule, defineKeyRule, type PatternRule, type RuleInfo } from './rule-definition.js';
import { CREDENTIAL_RULES } from './rules-credentials.js';
import { PERSONAL_DATA_RULES } from './rules-personal-data.js';
import { PROVIDER_TOKEN_RULES } from './rules-provider-tokens.js';
import { ibanValid, luhnValid, parseJwt, shannonEntropy } from './validators.js';

export const PATTERN_RULES: readonly PatternRule[] = Object.freeze([...PROVIDER_TOKEN_RULES, ...CREDENTIAL_RULES, ...PERSONAL_DATA_RULES]);

/** Rules applied by attribute key rather than by pattern. */
export const KEY_RULES = Object.freeze({
  /** The whole value of a secret-like key (password, api_key, client_secret, cookie…) or of the argument after a secret-like flag. */
  secretKeyValue: defineKeyRule('secret_key_value', 'secret_key_value'),
  /** Authorization-header credentials of a scheme other than Basic/Bearer (Digest, AWS4-HMAC-SHA256, Token…). */
  httpAuthCredentials: defineKeyRule('http_auth_credentials', 'http_auth'),
});

export const BUILTIN_RULES: readonly RuleInfo[] = Object.freeze([...PATTERN_RULES, ...Object.values(KEY_RULES)]);

export const BUILTIN_RULE_IDS: ReadonlySet<string> = new Set(BUILTIN_RULES.map((rule) => rule.id));

export type CustomRuleConfig = RedactionConfig['custom_rules'][number];

const DIGITS_ONLY = /\D/g;

function customValidator(validator: CustomRuleConfig['validator']): ((secret: string) => boolean) | undefined {
  if (validator === undefined) return undefined;
  if (validator === 'luhn') return (secret) => luhnValid(secret.replace(DIGITS_ONLY, ''));
  if (validator === 'mod97') return (secret) => ibanValid(secret.replace(/\s/g, '').toUpperCase());
  if (validator === 'jwt') return (secret) => parseJwt(secret) !== undefined;
  const { min_entropy: minEntropy } = validator;
  return (secret) => shannonEntropy(secret) >= minEntropy;
}

/** A custom rule from config; its pattern was already checked by the config schema. */
export function compileCustomRule(spec: CustomRuleConfig): PatternRule {
  const validate = customValidator(spec.validator);
  return definePatternRule({
    id: spec.id,
    family: spec.family,
    keywords: spec.keywords,
    patterns: [spec.pattern],
    flags: spec.flags,
    ...(validate ? { validate } : {}),
  });
}
