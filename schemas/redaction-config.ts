/**
 * Config of the redaction stage (`stages.redaction`): which rule families and rules run, what
 * they do to a match, the fingerprint key, custom rules, allowlists and per-service overrides.
 *
 * Every default lives here (an absent section means "everything on except IP addresses, mask");
 * unknown keys are rejected; custom patterns are compiled and checked for catastrophic
 * backtracking here, so the redactor never meets a bad pattern at run time. Every problem is
 * reported with its path and names the rule at fault.
 */
import { z } from 'zod';
import { BUILTIN_RULE_IDS } from '../processors/redaction/rules.js';
import { analyzePattern } from '../processors/redaction/regex-safety.js';
import { RULE_FAMILIES, type RuleFamily } from './findings.js';

/** `mask` → `[REDACTED:<rule>]`; `hash` → `[HMAC:<rule>:<16 hex>]`; `remove` drops the attribute. */
const actionSchema = z.enum(['mask', 'hash', 'remove'], { error: 'expected "mask", "hash" or "remove"' });
export type RedactionAction = z.infer<typeof actionSchema>;

const toggleSchema = z.strictObject({
  enabled: z.boolean({ error: 'expected true or false' }).optional(),
  action: actionSchema.optional(),
});

/** Families that stay off unless enabled: IP addresses identify infrastructure far more often than people. */
const FAMILIES_OFF_BY_DEFAULT: ReadonlySet<RuleFamily> = new Set(['ip_address']);

const familyDefaultsSchema = z.strictObject(
  Object.fromEntries(
    RULE_FAMILIES.map((family) => [
      family,
      z
        .strictObject({
          enabled: z.boolean({ error: 'expected true or false' }).default(!FAMILIES_OFF_BY_DEFAULT.has(family)),
          action: actionSchema.optional(),
        })
        .prefault({}),
    ]),
  ) as {
    [F in RuleFamily]: z.ZodPrefault<z.ZodObject<{ enabled: z.ZodDefault<z.ZodBoolean>; action: z.ZodOptional<typeof actionSchema> }, z.core.$strict>>;
  },
);

/** Overrides only: an absent family inherits the stage-wide setting. */
const familyOverridesSchema = z.partialRecord(z.enum(RULE_FAMILIES), toggleSchema);

const ruleOverridesSchema = z.record(z.string(), toggleSchema);

const allowSchema = z.strictObject({
  /** Attribute keys never scanned: exact, or a glob where `*` matches any run of characters. */
  keys: z.array(z.string().min(1, { error: 'expected a non-empty key or glob' })).default([]),
  /** Exact values never masked (e.g. a shared demo token). */
  values: z.array(z.string().min(1, { error: 'expected a non-empty value' })).default([]),
});

const customRuleSchema = z.strictObject({
  id: z.string().regex(/^[a-z][a-z0-9_]{1,63}$/, { error: 'expected a snake_case rule id (lowercase letters, digits, "_"; 2-64 characters)' }),
  /** The family it is counted and reported under; generic secrets by default. */
  family: z.enum(RULE_FAMILIES, { error: `expected one of ${RULE_FAMILIES.join(', ')}` }).default('secret_key_value'),
  /** JavaScript regex source. A `(?<secret>…)` group, when present, is all that gets masked. */
  pattern: z.string().min(1, { error: 'expected a regular expression' }).max(4096, { error: 'expected at most 4096 characters' }),
  /** Regex flags besides the global one the redactor adds. */
  flags: z.string().regex(/^(?!.*(.).*\1)[imsu]*$/, { error: 'expected a subset of "imsu"' }).default(''),
  /** Lowercase literals, at least one of which is in every value the pattern can match (the prefilter). */
  keywords: z
    .array(
      z
        .string()
        .min(2, { error: 'expected a keyword of at least 2 characters' })
        .regex(/^[\x20-\x7e]+$/, { error: 'expected printable ASCII (the prefilter works on ASCII)' })
        .refine((k) => k === k.toLowerCase(), { error: (iss) => `keyword ${JSON.stringify(iss.input)} must be lowercase (the prefilter ignores case)` }),
    )
    .min(1, { error: 'expected at least one keyword (rules without keywords would run on every value)' }),
  validator: z
    .union([z.enum(['luhn', 'mod97', 'jwt']), z.strictObject({ min_entropy: z.number().min(0).max(8) })], {
      error: 'expected "luhn", "mod97", "jwt" or { min_entropy: <bits per character> }',
    })
    .optional(),
  action: actionSchema.optional(),
});

const serviceOverrideSchema = z.strictObject({
  families: familyOverridesSchema.optional(),
  rules: ruleOverridesSchema.optional(),
  /** Added to the stage-wide allowlists for this service. */
  allow: allowSchema.optional(),
});

export const redactionConfigSchema = z
  .strictObject({
    /** @default true */
    enabled: z.boolean({ error: 'expected true or false' }).default(true),
    /**
     * Key of the HMAC-SHA256 fingerprints and `hash` replacements. Without it, each process uses
     * a random key: fingerprints then only correlate within one process's lifetime.
     */
    hmac_key: z
      .string({ error: 'expected a string' })
      .min(32, { error: (iss) => `expected at least 32 characters, got ${typeof iss.input === 'string' ? iss.input.length : 0} (the key itself is not shown)` })
      .optional(),
    /** @default "mask" */
    default_action: actionSchema.default('mask'),
    families: familyDefaultsSchema.prefault({}),
    /** Per built-in or custom rule id; wins over its family's setting. */
    rules: ruleOverridesSchema.default({}),
    custom_rules: z.array(customRuleSchema).default([]),
    allow: allowSchema.prefault({}),
    /** Per `service.name` overrides of families, rules and allowlists. */
    services: z.record(z.string().min(1), serviceOverrideSchema).default({}),
  })
  .superRefine((cfg, ctx) => {
    const customIds = new Set<string>();
    cfg.custom_rules.forEach((rule, i) => {
      if (BUILTIN_RULE_IDS.has(rule.id)) {
        ctx.addIssue({ code: 'custom', path: ['custom_rules', i, 'id'], message: `rule id "${rule.id}" is already used by a built-in rule` });
      } else if (customIds.has(rule.id)) {
        ctx.addIssue({ code: 'custom', path: ['custom_rules', i, 'id'], message: `rule id "${rule.id}" is used by another custom rule` });
      }
      customIds.add(rule.id);
      const analysis = analyzePattern(rule.pattern, rule.flags);
      if (!analysis.ok) {
        const message =
          'risk' in analysis
            ? `rule "${rule.id}" may backtrack catastrophically (${analysis.risk.reason} "${analysis.risk.fragment}")`
            : `rule "${rule.id}" has an invalid pattern: ${analysis.error}`;
        ctx.addIssue({ code: 'custom', path: ['custom_rules', i, 'pattern'], message });
      } else if (analysis.minLength === 0) {
        ctx.addIssue({ code: 'custom', path: ['custom_rules', i, 'pattern'], message: `rule "${rule.id}" can match the empty string` });
      }
    });
    const checkRuleIds = (rules: Record<string, unknown> | undefined, path: (string | number)[]) => {
      for (const id of Object.keys(rules ?? {})) {
        if (!BUILTIN_RULE_IDS.has(id) && !customIds.has(id)) {
          ctx.addIssue({ code: 'custom', path: [...path, id], message: `unknown rule "${id}" (neither a built-in rule nor a custom rule id)` });
        }
      }
    };
    checkRuleIds(cfg.rules, ['rules']);
    for (const [service, override] of Object.entries(cfg.services)) checkRuleIds(override.rules, ['services', service, 'rules']);
  })
  .prefault({});

export type RedactionConfig = z.infer<typeof redactionConfigSchema>;
