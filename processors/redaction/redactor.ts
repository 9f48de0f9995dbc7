/**
 * The redaction rule engine: rewrites OTLP trace and log data in place so that no value an enabled
 * rule matches leaves the collector, and reports one finding per match (rule, place, call edge,
 * keyed fingerprint — never the value) plus the identity metadata of the credential a span carried.
 * Both signals share one walk over resource, scope and records; only the record differs (a span's
 * name, attributes, events, links and status; a log record's body, attributes, event name and
 * severity text).
 *
 * How a string is treated depends on its attribute key (attribute-keys.ts):
 * - allowlisted keys are skipped; allowlisted values kept;
 * - secret-like keys (password, api_key, Authorization, Cookie…), and the argument after a
 *   secret-like flag in a command line array (`--account-key …`), are replaced whole — keeping
 *   an auth scheme readable — after identity facts are taken from the credential;
 * - SQL text has its literals replaced by `?` (their contents are still scanned, for findings);
 * - everything else, and what the steps above leave, goes through the pattern rules: the keyword
 *   prefilter picks the few rules that can match, their matches are validated, overlapping
 *   matches merge (the longest, then the most specific, names the span), and each span is
 *   replaced per its action: `[REDACTED:<rule>]`, `[HMAC:<rule>:<16 hex>]`, or the attribute is
 *   removed (values that are not attributes fall back to the mask).
 * Bytes values are scanned when they are printable UTF-8 (and rewritten as UTF-8), since SDKs
 * put text in bytes too; binary bytes are left alone (no rule can recognise a secret in them).
 * Values longer than MAX_SCANNED_CHARS are cut at that size and the unscanned tail is replaced
 * by a marker, so work per value is bounded and nothing unscanned passes through.
 *
 * State: the compiled rules, prefilter and per-service policies (built once), a bounded cache of
 * key classifications per policy, scratch buffers, and the per-family match counters. Not
 * reentrant (one redactor per stage). Never throws on any input: a value whose processing fails
 * is replaced by a marker rather than passed through.
 */
import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { RULE_FAMILIES, type Finding, type RuleFamily } from '../../schemas/findings.js';
import type { AnyValue, KeyValue, ResourceGroup, ScopeGroup, SignalLayout } from '../../schemas/otlp-common.js';
import { LOGS_LAYOUT, type LogRecord, type LogsData } from '../../schemas/otlp-logs.js';
import { TRACES_LAYOUT, type Span, type TracesData } from '../../schemas/otlp-traces.js';
import type { RedactionAction, RedactionConfig } from '../../schemas/redaction-config.js';
import { classifyKey, isCredentialKind, isSecretFlag, KeyKind } from './attribute-keys.js';
import { canonicalScheme, identityAttributes, IDENTITY_ATTRIBUTE_NAMES, type CredentialIdentity } from './credential-identity.js';
import { KeywordPrefilter } from './keyword-prefilter.js';
import type { CredentialFacts, PatternRule, RuleInfo } from './rule-definition.js';
import { compileCustomRule, KEY_RULES, PATTERN_RULES } from './rules.js';
import { replaceSqlLiterals } from './sql-literals.js';
import { IDENTITY_ATTRIBUTES, type FindingScope, type RedactionResult, type Redactor } from './types.js';
import { decodeBasicCredentials, decodeUtf8, isPrintableText, looksLikePlaceholder, PUBLIC_SAMPLE_SECRETS } from './validators.js';
import { callPeer, stringAttribute } from '../inventory/call-peer.js';

/** Longest stretch of one value that is scanned; the rest is replaced by a marker. */
export const MAX_SCANNED_CHARS = 256 * 1024;
/** Deeper arrays/maps are replaced by a marker: bounded recursion, and no real telemetry nests this deep. */
export const MAX_DEPTH = 32;
/** How far a match is grown over its alphabet before it is validated (then grown to the end of the run). */
const EXTENSION_PROBE = 512;
/** Key classifications cached per policy before the cache starts over (keys are client-controlled). */
const KEY_CACHE_LIMIT = 10_000;

const TRUNCATED_DEPTH = '[TRUNCATED:nested too deep to scan]';
const UNSCANNABLE = '[REDACTED:unscannable]';
const REMOVE: unique symbol = Symbol('remove');
type Redacted = AnyValue | typeof REMOVE;

/** How a finding's location is formed from its parent: `parent`, `parent["key"]`, `parent[3]`, `parent.kvlist["key"]`. */
const LOC_SELF = 0;
const LOC_ATTRIBUTE = 1;
const LOC_INDEX = 2;
const LOC_KVLIST = 3;
type LocMode = typeof LOC_SELF | typeof LOC_ATTRIBUTE | typeof LOC_INDEX | typeof LOC_KVLIST;

function locationOf(parent: string, mode: LocMode, segment: string | number): string {
  switch (mode) {
    case LOC_SELF:
      return parent;
    case LOC_ATTRIBUTE:
      return `${parent}[${JSON.stringify(segment)}]`;
    case LOC_INDEX:
      return `${parent}[${segment}]`;
    default:
      return `${parent}.kvlist[${JSON.stringify(segment)}]`;
  }
}

/** `<scheme> <credentials>` of an Authorization header (RFC 7235 token68 or auth-params). */
const AUTH_SCHEME = /^(\s*)([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,63})(\s+)(\S[\s\S]*)$/;

interface Policy {
  /** By rule index: pattern rules first, then key rules. */
  readonly enabled: Uint8Array;
  readonly actions: readonly RedactionAction[];
  /** Shortest string any enabled pattern rule can match. */
  readonly minLength: number;
  readonly allowValues: ReadonlySet<string>;
  readonly allowKeyExact: ReadonlySet<string>;
  readonly allowKeyGlob: RegExp | undefined;
  readonly keyKinds: Map<string, KeyKind>;
}

/** Credentials whose fingerprints are remembered at once (see Redactor.fingerprint). */
const FINGERPRINT_CACHE_ENTRIES = 4096;

/** A merged match: [start, end) is replaced; `secret` is the winning rule's text (fingerprinted). */
interface ResolvedMatch {
  start: number;
  end: number;
  rule: PatternRule;
  secret: string;
}

interface RawMatch {
  start: number;
  end: number;
  rule: PatternRule;
}

/** The record a value belongs to while it is being redacted. */
interface Context {
  policy: Policy;
  scope: FindingScope;
  findings: Finding[];
  /** The identity to attach to the current span, and whether it came from an auth header. */
  identity: CredentialIdentity | undefined;
  identityFromAuthHeader: boolean;
  trackIdentity: boolean;
}

function globToRegExp(globs: readonly string[]): RegExp | undefined {
  if (globs.length === 0) return undefined;
  const alternatives = globs.map((glob) => glob.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*'));
  return new RegExp(`^(?:${alternatives.join('|')})$`);
}

function cutPoint(text: string): number {
  // Cut at a separator near the limit so a token straddling it is not split into a short tail.
  for (let i = MAX_SCANNED_CHARS; i > MAX_SCANNED_CHARS - 4096; i--) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 10 || c === 13 || c === 9 || c === 44 || c === 59 || c === 38 || c === 34) return i;
  }
  return MAX_SCANNED_CHARS;
}

class RuleEngine implements Redactor {
  readonly counts: Record<RuleFamily, number>;
  private readonly rules: readonly PatternRule[];
  /** Pattern rules (built-in, then custom), then key rules: the index space of a policy's arrays. */
  private readonly allRules: readonly RuleInfo[];
  private readonly ruleIndex = new Map<RuleInfo, number>();
  private readonly secretKeyValueIndex: number;
  private readonly httpAuthIndex: number;
  private readonly bearerIndex: number;
  private readonly basicIndex: number;
  private readonly prefilter: KeywordPrefilter;
  private readonly candidates: Int32Array;
  private readonly defaultPolicy: Policy;
  private readonly servicePolicies = new Map<string, Policy>();
  private readonly hmacKey: KeyObject;

  constructor(config: RedactionConfig, hmacKey: Buffer | string) {
    this.counts = Object.fromEntries(RULE_FAMILIES.map((family) => [family, 0])) as Record<RuleFamily, number>;
    this.rules = [...PATTERN_RULES, ...config.custom_rules.map(compileCustomRule)];
    const allRules: RuleInfo[] = [...this.rules, ...Object.values(KEY_RULES)];
    this.allRules = allRules;
    allRules.forEach((rule, index) => this.ruleIndex.set(rule, index));
    this.secretKeyValueIndex = this.ruleIndex.get(KEY_RULES.secretKeyValue)!;
    this.httpAuthIndex = this.ruleIndex.get(KEY_RULES.httpAuthCredentials)!;
    this.bearerIndex = this.rules.findIndex((rule) => rule.id === 'bearer_token');
    this.basicIndex = this.rules.findIndex((rule) => rule.id === 'http_basic_credentials');
    this.prefilter = new KeywordPrefilter(this.rules);
    this.candidates = new Int32Array(this.rules.length);
    const keyMaterial = typeof hmacKey === 'string' ? Buffer.from(hmacKey, 'utf8') : hmacKey;
    this.hmacKey = createSecretKey(keyMaterial.length > 0 ? keyMaterial : randomBytes(32));

    const customActions = new Map(config.custom_rules.map((rule) => [rule.id, rule.action]));
    const buildPolicy = (service: RedactionConfig['services'][string] | undefined): Policy => {
      const enabled = new Uint8Array(allRules.length);
      const actions = allRules.map((rule, index) => {
        const family = config.families[rule.family];
        const on = service?.rules?.[rule.id]?.enabled ?? config.rules[rule.id]?.enabled ?? service?.families?.[rule.family]?.enabled ?? family.enabled;
        enabled[index] = on ? 1 : 0;
        return (
          service?.rules?.[rule.id]?.action ??
          config.rules[rule.id]?.action ??
          customActions.get(rule.id) ??
          service?.families?.[rule.family]?.action ??
          family.action ??
          config.default_action
        );
      });
      const minLength = this.rules.reduce((min, rule, index) => (enabled[index] ? Math.min(min, rule.minLength) : min), Infinity);
      const allowKeys = [...config.allow.keys, ...(service?.allow?.keys ?? [])];
      return {
        enabled,
        actions,
        minLength,
        allowValues: new Set([...config.allow.values, ...(service?.allow?.values ?? [])]),
        allowKeyExact: new Set(allowKeys.filter((key) => !key.includes('*'))),
        allowKeyGlob: globToRegExp(allowKeys.filter((key) => key.includes('*'))),
        keyKinds: new Map(),
      };
    };
    this.defaultPolicy = buildPolicy(undefined);
    for (const [service, override] of Object.entries(config.services)) this.servicePolicies.set(service, buildPolicy(override));
  }

  // -------------------------------------------------------------------------------------------
  // Public API

  redactTraces(data: TracesData): RedactionResult {
    return this.redactRequest(TRACES_LAYOUT, data, (span) => span.startTimeUnixNano, (span, ctx) => this.redactSpan(span, ctx), failClosed);
  }

  redactLogs(data: LogsData): RedactionResult {
    return this.redactRequest(LOGS_LAYOUT, data, logRecordTime, (record, ctx) => this.redactLogRecord(record, ctx), failClosedLogRecord);
  }

  /**
   * The walk both signals share: per resource group, the service's policy; resource and scope
   * attributes (their findings name the service and place, no record); then every record through
   * `redactRecord`, a record whose walk throws being emptied by `failClosedRecord`.
   */
  private redactRequest<D, R extends ResourceGroup, S extends ScopeGroup, I>(
    layout: SignalLayout<D, R, S, I>,
    data: D,
    timeOf: (record: I) => bigint,
    redactRecord: (record: I, ctx: Context) => void,
    failClosedRecord: (record: I) => void,
  ): RedactionResult {
    const findings: Finding[] = [];
    try {
      for (const resourceGroup of layout.resourceGroups(data) ?? []) {
        const resourceAttributes = resourceGroup.resource?.attributes ?? [];
        const rawService = stringAttribute(resourceAttributes, 'service.name');
        const policy = this.servicePolicies.get(rawService) ?? this.defaultPolicy;
        const scopeGroups = layout.scopeGroups(resourceGroup) ?? [];
        const firstRecord = scopeGroups[0] ? layout.records(scopeGroups[0])?.[0] : undefined;
        const ctx: Context = {
          policy,
          scope: { service: rawService, peer: '', traceId: '', spanId: '', timeUnixNano: firstRecord ? timeOf(firstRecord) : 0n },
          findings,
          identity: undefined,
          identityFromAuthHeader: false,
          trackIdentity: false,
        };
        const resourceStart = findings.length;
        if (resourceGroup.resource) resourceGroup.resource.droppedAttributesCount += this.redactAttributes(resourceAttributes, 'resource.attributes', ctx);
        // The service name as stored after redaction: a finding never carries what was masked.
        ctx.scope.service = stringAttribute(resourceAttributes, 'service.name');
        for (const scopeGroup of scopeGroups) {
          if (scopeGroup.scope) scopeGroup.scope.droppedAttributesCount += this.redactAttributes(scopeGroup.scope.attributes ?? [], 'scope.attributes', ctx);
        }
        for (let i = resourceStart; i < findings.length; i++) findings[i]!.service = ctx.scope.service;
        for (const scopeGroup of scopeGroups) {
          for (const record of layout.records(scopeGroup) ?? []) {
            try {
              redactRecord(record, ctx);
            } catch {
              failClosedRecord(record);
            }
          }
        }
      }
    } catch {
      // Only a request that is not OTLP-shaped at all gets here (the collector validates before
      // redaction); what was processed stays processed and nothing is thrown at the caller.
    }
    return { findings };
  }

  redactValue(value: AnyValue, key: string, location: string, scope: FindingScope, findings: Finding[]): AnyValue | undefined {
    const ctx: Context = {
      policy: this.servicePolicies.get(scope.service) ?? this.defaultPolicy,
      scope,
      findings,
      identity: undefined,
      identityFromAuthHeader: false,
      trackIdentity: false,
    };
    const kind = key === '' ? KeyKind.plain : this.keyKind(ctx.policy, key);
    const out = this.redactAny(value, kind, ctx, location, LOC_SELF, '', key !== '', 0);
    return out === REMOVE ? undefined : out;
  }

  // -------------------------------------------------------------------------------------------
  // Walking the data

  private redactSpan(span: Span, ctx: Context): void {
    const spanStart = ctx.findings.length;
    // One scope object per request, updated per span: findings copy its fields when recorded.
    const scope = ctx.scope;
    scope.traceId = span.traceId;
    scope.spanId = span.spanId;
    scope.timeUnixNano = span.startTimeUnixNano;
    scope.peer = '';
    ctx.identity = undefined;
    ctx.identityFromAuthHeader = false;
    ctx.trackIdentity = true;
    span.name = this.redactTopString(span.name, ctx, 'span.name');
    span.droppedAttributesCount += this.redactAttributes(span.attributes, 'span.attributes', ctx);
    const events = span.events ?? [];
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      event.name = this.redactTopString(event.name, ctx, `span.events[${i}].name`);
      if (event.attributes.length > 0) event.droppedAttributesCount += this.redactAttributes(event.attributes, `span.events[${i}].attributes`, ctx);
    }
    const links = span.links ?? [];
    for (let i = 0; i < links.length; i++) {
      const link = links[i]!;
      if (link.attributes.length > 0) link.droppedAttributesCount += this.redactAttributes(link.attributes, `span.links[${i}].attributes`, ctx);
    }
    if (span.status && typeof span.status.message === 'string' && span.status.message !== '') span.status.message = this.redactTopString(span.status.message, ctx, 'span.status.message');
    ctx.trackIdentity = false;

    if (ctx.findings.length > spanStart) {
      const peer = peerOf(span.attributes);
      for (let i = spanStart; i < ctx.findings.length; i++) ctx.findings[i]!.peer = peer;
    }
    if (ctx.identity) {
      span.attributes = span.attributes.filter((kv) => !IDENTITY_ATTRIBUTE_NAMES.has(kv.key));
      span.attributes.push(...identityAttributes(ctx.identity));
    } else if (recordedRequestHeadersWithoutCredential(span)) {
      span.attributes.push({ key: IDENTITY_ATTRIBUTES.authScheme, value: 'None' });
    }
  }

  /**
   * A log record: body (a string, or structured: every string inside a kvlist or array body is
   * scanned, under its key), attributes, event name and severity text. Findings carry the
   * record's trace and span ids and, like a span's, the peer its attributes name. No identity
   * metadata is added: that describes a call, which is a span.
   */
  private redactLogRecord(record: LogRecord, ctx: Context): void {
    const recordStart = ctx.findings.length;
    const scope = ctx.scope;
    scope.traceId = record.traceId;
    scope.spanId = record.spanId;
    scope.timeUnixNano = logRecordTime(record);
    scope.peer = '';
    ctx.identity = undefined;
    ctx.trackIdentity = false;
    if (record.body !== null && record.body !== undefined) {
      const body = this.redactAny(record.body, KeyKind.plain, ctx, 'log.body', LOC_SELF, '', false, 0);
      // Not removable, so never REMOVE; a marker if that ever changes.
      record.body = body === REMOVE ? UNSCANNABLE : body;
    }
    record.droppedAttributesCount += this.redactAttributes(record.attributes, 'log.attributes', ctx);
    record.eventName = this.redactTopString(record.eventName, ctx, 'log.event_name');
    record.severityText = this.redactTopString(record.severityText, ctx, 'log.severity_text');
    if (ctx.findings.length > recordStart) {
      const peer = peerOf(record.attributes);
      for (let i = recordStart; i < ctx.findings.length; i++) ctx.findings[i]!.peer = peer;
    }
  }

  /** A string that is not an attribute (span name, event name, status message): never removed. */
  private redactTopString(text: string, ctx: Context, location: string): string {
    if (typeof text !== 'string' || text.length < ctx.policy.minLength) return text;
    const out = this.redactAny(text, KeyKind.plain, ctx, location, LOC_SELF, '', false, 0);
    return typeof out === 'string' ? out : UNSCANNABLE;
  }

  /** Redacts a list of attributes in place; returns how many were removed. */
  private redactAttributes(attributes: KeyValue[], parent: string, ctx: Context): number {
    if (!Array.isArray(attributes)) return 0;
    let kept = 0;
    for (let i = 0; i < attributes.length; i++) {
      const kv = attributes[i]!;
      if (kv === null || typeof kv !== 'object') continue; // not a KeyValue: dropped
      const out = this.redactEntry(kv, ctx, parent, LOC_ATTRIBUTE);
      if (out === REMOVE) continue;
      if (out !== kv.value) kv.value = out;
      attributes[kept++] = kv;
    }
    const removed = attributes.length - kept;
    attributes.length = kept;
    return removed;
  }

  private redactEntry(kv: KeyValue, ctx: Context, parent: string, mode: typeof LOC_ATTRIBUTE | typeof LOC_KVLIST): Redacted {
    try {
      const value = kv.value;
      const key = typeof kv.key === 'string' ? kv.key : String(kv.key);
      const kind = this.keyKind(ctx.policy, key);
      if (kind === KeyKind.allowed) return value;
      // Hot path: a short plain string no rule can match.
      if (kind === KeyKind.plain && typeof value === 'string' && value.length < ctx.policy.minLength) return value;
      return this.redactAny(value, kind, ctx, parent, mode, key, true, 0);
    } catch {
      return UNSCANNABLE;
    }
  }

  private redactAny(value: AnyValue, kind: KeyKind, ctx: Context, parent: string, mode: LocMode, segment: string | number, removable: boolean, depth: number): Redacted {
    if (typeof value === 'string') {
      return isCredentialKind(kind)
        ? this.redactCredential(value, kind, ctx, parent, mode, segment, removable)
        : kind === KeyKind.sql
          ? this.redactSql(value, ctx, parent, mode, segment, removable)
          : this.redactText(value, ctx, parent, mode, segment, removable);
    }
    if (value === null || typeof value === 'boolean' || value === undefined) return value;
    if (typeof value === 'number' || typeof value === 'bigint') {
      // A numeric PIN or password is still a secret; other numbers carry nothing a rule matches.
      if (!isCredentialKind(kind)) return value;
      const text = String(value);
      const out = this.redactCredential(text, KeyKind.secret, ctx, parent, mode, segment, removable);
      return out === text ? value : out;
    }
    if (depth >= MAX_DEPTH) return TRUNCATED_DEPTH;
    if (value instanceof Uint8Array) return this.redactBytes(value, kind, ctx, parent, mode, segment, removable);
    if (Array.isArray(value)) {
      const location = locationOf(parent, mode, segment);
      // process.command_args and the like: the argument after `--password` is a password.
      let afterSecretFlag = false;
      for (let i = 0; i < value.length; i++) {
        const element = value[i]!;
        const elementKind = afterSecretFlag && kind === KeyKind.plain ? KeyKind.secret : kind;
        afterSecretFlag = typeof element === 'string' && isSecretFlag(element);
        const out = this.redactAny(element, elementKind, ctx, location, LOC_INDEX, i, false, depth + 1);
        if (out !== element) value[i] = out as AnyValue;
      }
      return value;
    }
    if (typeof value === 'object' && Array.isArray(value.kvlist)) {
      const location = locationOf(parent, mode, segment);
      const entries = value.kvlist;
      let kept = 0;
      for (let i = 0; i < entries.length; i++) {
        const kv = entries[i]!;
        if (kv === null || typeof kv !== 'object') continue;
        const childKind = this.keyKind(ctx.policy, typeof kv.key === 'string' ? kv.key : String(kv.key));
        const out = childKind === KeyKind.allowed ? kv.value : this.redactAny(kv.value, childKind, ctx, location, LOC_KVLIST, kv.key, true, depth + 1);
        if (out === REMOVE) continue;
        if (out !== kv.value) kv.value = out;
        entries[kept++] = kv;
      }
      entries.length = kept;
      return value;
    }
    return value;
  }

  private redactBytes(bytes: Uint8Array, kind: KeyKind, ctx: Context, parent: string, mode: LocMode, segment: string | number, removable: boolean): Redacted {
    const text = decodeUtf8(bytes);
    const printable = text !== undefined && isPrintableText(text);
    if (!printable && !isCredentialKind(kind)) return bytes;
    const asText = printable ? text : Buffer.from(bytes).toString('base64');
    const out = this.redactAny(asText, kind, ctx, parent, mode, segment, removable, 0);
    if (out === REMOVE) return REMOVE;
    return out === asText ? bytes : new Uint8Array(Buffer.from(out as string, 'utf8'));
  }

  // -------------------------------------------------------------------------------------------
  // Strings under credential keys

  private redactCredential(text: string, kind: KeyKind, ctx: Context, parent: string, mode: LocMode, segment: string | number, removable: boolean): Redacted {
    if (ctx.policy.allowValues.has(text)) return text;

    let prefix = '';
    let scheme: string | undefined;
    let credential = text.trim();
    if (kind === KeyKind.authorization) {
      const parsed = AUTH_SCHEME.exec(text);
      if (parsed) {
        prefix = parsed[1]! + parsed[2]! + parsed[3]!;
        scheme = canonicalScheme(parsed[2]!);
        credential = parsed[4]!.trimEnd();
      }
    } else if (kind === KeyKind.apiKey) {
      scheme = 'ApiKey';
    }
    // A template or sample under a secret key is not a secret, but may hold one (a PEM in a larger text).
    if (looksLikePlaceholder(credential)) return this.redactText(text, ctx, parent, mode, segment, removable);

    const policy = ctx.policy;
    const specific = this.wholeValueRule(credential, policy);
    let ruleIndex: number;
    let facts: CredentialFacts | undefined;
    if (specific) {
      ruleIndex = this.ruleIndex.get(specific)!;
      facts = specific.identity?.(credential, credential);
    } else if (scheme === 'Basic' && this.basicIndex >= 0 && policy.enabled[this.basicIndex] && decodeBasicCredentials(credential)) {
      ruleIndex = this.basicIndex;
      facts = this.rules[this.basicIndex]!.identity?.(credential, credential);
    } else if (scheme === 'Bearer' && this.bearerIndex >= 0 && policy.enabled[this.bearerIndex]) {
      ruleIndex = this.bearerIndex;
    } else if (kind === KeyKind.authorization && policy.enabled[this.httpAuthIndex]) {
      ruleIndex = this.httpAuthIndex;
    } else if (kind !== KeyKind.authorization && policy.enabled[this.secretKeyValueIndex]) {
      ruleIndex = this.secretKeyValueIndex;
    } else {
      // The key rule is disabled: the value still meets the pattern rules.
      return this.redactText(text, ctx, parent, mode, segment, removable);
    }
    const rule = this.allRules[ruleIndex]!;
    const action = policy.actions[ruleIndex]!;
    const fingerprint = this.fingerprint(credential);
    const applied = action === 'remove' && !removable ? 'mask' : action;
    this.record(ctx, rule, applied, fingerprint, locationOf(parent, mode, segment));
    this.offerIdentity(ctx, rule, facts, fingerprint, scheme, kind === KeyKind.authorization || kind === KeyKind.apiKey);
    if (applied === 'remove') return REMOVE;
    const start = kind === KeyKind.authorization ? prefix.length : text.indexOf(credential);
    return text.slice(0, start) + this.replacement(rule, applied, fingerprint) + text.slice(start + credential.length);
  }

  /** The enabled secret rule whose match covers all of `value`, if any (`Bearer <JWT>` → jwt). */
  private wholeValueRule(value: string, policy: Policy): PatternRule | undefined {
    if (value.length < policy.minLength || value.length > MAX_SCANNED_CHARS) return undefined;
    const matches = this.findMatches(value, policy);
    if (matches.length !== 1) return undefined;
    const only = matches[0]!;
    return only.start === 0 && only.end === value.length && only.rule.category === 'secret' ? only.rule : undefined;
  }

  // -------------------------------------------------------------------------------------------
  // SQL and free text

  private redactSql(text: string, ctx: Context, parent: string, mode: LocMode, segment: string | number, removable: boolean): Redacted {
    const literals: string[] = [];
    const sanitized = replaceSqlLiterals(text, literals);
    for (const literal of literals) {
      // The literal is gone already; its secrets are still worth a finding.
      if (literal.length < ctx.policy.minLength) continue;
      for (const match of this.findMatches(literal, ctx.policy)) {
        const fingerprint = this.fingerprint(match.secret);
        this.record(ctx, match.rule, 'mask', fingerprint, locationOf(parent, mode, segment));
        if (match.rule.category === 'secret') this.offerIdentity(ctx, match.rule, match.rule.identity?.(match.secret, literal), fingerprint, undefined, false);
      }
    }
    return this.redactText(sanitized, ctx, parent, mode, segment, removable);
  }

  private redactText(text: string, ctx: Context, parent: string, mode: LocMode, segment: string | number, removable: boolean): Redacted {
    const policy = ctx.policy;
    if (text.length < policy.minLength) return text;
    const tooLong = text.length > MAX_SCANNED_CHARS;
    const cut = tooLong ? cutPoint(text) : text.length;
    const scanned = tooLong ? text.slice(0, cut) : text;
    const tail = tooLong ? `[TRUNCATED:${text.length - cut} characters not scanned]` : '';
    const matches = this.findMatches(scanned, policy);
    if (matches.length === 0) return tooLong ? scanned + tail : text;
    if (policy.allowValues.has(text)) return text;

    const location = locationOf(parent, mode, segment);
    let out = '';
    let copied = 0;
    let remove = false;
    for (const match of matches) {
      const index = this.ruleIndex.get(match.rule)!;
      const action = policy.actions[index]!;
      const applied = action === 'remove' && !removable ? 'mask' : action;
      const fingerprint = this.fingerprint(match.secret);
      this.record(ctx, match.rule, applied, fingerprint, location);
      if (match.rule.category === 'secret') this.offerIdentity(ctx, match.rule, match.rule.identity?.(match.secret, scanned), fingerprint, undefined, false);
      if (applied === 'remove') remove = true;
      out += scanned.slice(copied, match.start) + this.replacement(match.rule, applied, fingerprint);
      copied = match.end;
    }
    if (remove) return REMOVE;
    return out + scanned.slice(copied) + tail;
  }

  // -------------------------------------------------------------------------------------------
  // Matching

  /** Validated, merged, non-overlapping matches of the enabled rules in `text`, in order. */
  private findMatches(text: string, policy: Policy): ResolvedMatch[] {
    const count = this.prefilter.candidates(text, this.candidates);
    if (count === 0) return [];
    let raw: RawMatch[] | undefined;
    for (let k = 0; k < count; k++) {
      const ruleIndex = this.candidates[k]!;
      const rule = this.rules[ruleIndex]!;
      if (!policy.enabled[ruleIndex] || text.length < rule.minLength) continue;
      const patterns = rule.patterns;
      for (let p = 0; p < patterns.length; p++) {
        const pattern = patterns[p]!;
        pattern.lastIndex = 0;
        let m: RegExpExecArray | null;
        while ((m = pattern.exec(text)) !== null) {
          const group = pattern.hasIndices ? m.indices?.groups?.secret : undefined;
          const start = group ? group[0] : m.index;
          const end = group ? group[1] : m.index + m[0].length;
          if (!this.accept(rule, text, m, start, end, policy)) {
            // The next attempt may start inside a rejected greedy candidate.
            pattern.lastIndex = m.index + 1;
            continue;
          }
          (raw ??= []).push({ start: this.acceptedStart, end: this.acceptedEnd, rule });
          // Resume after the accepted secret: a match inside it would merge into it anyway, and
          // re-extending over the same run for every match would be quadratic.
          pattern.lastIndex = Math.max(pattern.lastIndex, this.acceptedEnd, m.index + 1);
        }
      }
    }
    if (!raw) return [];
    return this.resolve(text, raw);
  }

  /** Span of the last accepted match (fields rather than an object: this runs for every candidate). */
  private acceptedStart = 0;
  private acceptedEnd = 0;

  /**
   * Trims, extends and validates a candidate [start, end); on success leaves the secret's span in
   * acceptedStart/acceptedEnd. False when validation, the placeholder list or the allowlist rejects it.
   * Extension is probed over at most EXTENSION_PROBE characters before validation (a rejected
   * candidate must not cost the rest of the value) and completed only once accepted; the caller
   * then resumes after the secret, so every character is extended over at most once.
   */
  private accept(rule: PatternRule, text: string, match: RegExpExecArray, start: number, end: number, policy: Policy): boolean {
    let first = start;
    let stop = end;
    if (rule.trim) {
      const length = rule.trim(text.slice(start, end));
      if (length <= 0) return false;
      stop = start + length;
    }
    const extendOver = rule.extendOver;
    if (extendOver) stop = extendForward(text, stop, extendOver, stop + EXTENSION_PROBE);
    const extendBackOver = rule.extendBackOver;
    if (extendBackOver) {
      const limit = Math.max(0, first - EXTENSION_PROBE);
      while (first > limit) {
        const c = text.charCodeAt(first - 1);
        if (c >= 128 || extendBackOver[c] !== 1) break;
        first--;
      }
    }
    const secret = text.slice(first, stop);
    if (rule.validate && !rule.validate(secret, match)) return false;
    if (rule.rejectPlaceholders && (looksLikePlaceholder(secret) || PUBLIC_SAMPLE_SECRETS.has(secret))) return false;
    if (policy.allowValues.has(secret)) return false;
    this.acceptedStart = first;
    this.acceptedEnd = extendOver ? extendForward(text, stop, extendOver, text.length) : stop;
    return true;
  }

  /**
   * Overlapping matches merge into one replaced span, so no part of a secret survives next to a
   * mask; the longest match names it, ties going to the more specific (higher-priority) rule.
   */
  private resolve(text: string, raw: RawMatch[]): ResolvedMatch[] {
    raw.sort((a, b) => a.start - b.start || b.end - a.end);
    const out: ResolvedMatch[] = [];
    let winner = raw[0]!;
    let start = winner.start;
    let end = winner.end;
    const flush = () => out.push({ start, end, rule: winner.rule, secret: text.slice(winner.start, winner.end) });
    for (let i = 1; i < raw.length; i++) {
      const next = raw[i]!;
      if (next.start < end) {
        end = Math.max(end, next.end);
        const nextLength = next.end - next.start;
        const winnerLength = winner.end - winner.start;
        if (nextLength > winnerLength || (nextLength === winnerLength && next.rule.priority > winner.rule.priority)) winner = next;
      } else {
        flush();
        winner = next;
        start = next.start;
        end = next.end;
      }
    }
    flush();
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Outputs

  /**
   * M2M calls carry the same credential on every call until it rotates, so fingerprints are
   * remembered: an HMAC is a fifth of the cost of a span with a credential. The cache lives in
   * this process's memory only (where the value already is while it is redacted), is bounded, and
   * is emptied when full.
   */
  private readonly fingerprints = new Map<string, string>();

  private fingerprint(value: string): string {
    let fp = this.fingerprints.get(value);
    if (fp === undefined) {
      fp = createHmac('sha256', this.hmacKey).update(value, 'utf8').digest('hex').slice(0, 32);
      if (this.fingerprints.size >= FINGERPRINT_CACHE_ENTRIES) this.fingerprints.clear();
      this.fingerprints.set(value, fp);
    }
    return fp;
  }

  private replacement(rule: RuleInfo, action: RedactionAction, fingerprint: string): string {
    return action === 'hash' ? `[HMAC:${rule.id}:${fingerprint.slice(0, 16)}]` : `[REDACTED:${rule.id}]`;
  }

  private record(ctx: Context, rule: RuleInfo, action: RedactionAction, fingerprint: string, location: string): void {
    this.counts[rule.family]++;
    ctx.findings.push({
      time_unix_nano: ctx.scope.timeUnixNano.toString(),
      rule: rule.id,
      family: rule.family,
      category: rule.category,
      location,
      action,
      service: ctx.scope.service,
      peer: ctx.scope.peer,
      trace_id: ctx.scope.traceId,
      span_id: ctx.scope.spanId,
      fingerprint,
    });
  }

  /** Keeps the span's first credential, unless a later one sits in an auth header (which wins). */
  private offerIdentity(ctx: Context, rule: RuleInfo, facts: CredentialFacts | undefined, fingerprint: string, scheme: string | undefined, fromAuthHeader: boolean): void {
    if (!ctx.trackIdentity || rule.category !== 'secret') return;
    if (ctx.identity && (ctx.identityFromAuthHeader || !fromAuthHeader)) return;
    const identity: CredentialIdentity = { kind: rule.id, fingerprint, ...this.scrubFacts(facts ?? {}, ctx.policy) };
    if (scheme !== undefined) identity.authScheme = scheme;
    ctx.identity = identity;
    ctx.identityFromAuthHeader = fromAuthHeader;
  }

  /** Claims may hold personal data (a `sub` that is an e-mail): masked like any other text. */
  private scrubFacts(facts: CredentialFacts, policy: Policy): CredentialFacts {
    const out: CredentialFacts = { ...facts };
    for (const field of ['issuer', 'subject', 'clientId', 'audience', 'scopes', 'environment'] as const) {
      const value = out[field];
      if (value === undefined || value.length < policy.minLength) continue;
      let scrubbed = '';
      let copied = 0;
      for (const match of this.findMatches(value, policy)) {
        scrubbed += value.slice(copied, match.start) + this.replacement(match.rule, 'mask', '');
        copied = match.end;
      }
      if (copied > 0) out[field] = scrubbed + value.slice(copied);
    }
    return out;
  }

  private keyKind(policy: Policy, key: string): KeyKind {
    let kind = policy.keyKinds.get(key);
    if (kind === undefined) {
      kind = policy.allowKeyExact.has(key) || policy.allowKeyGlob?.test(key) ? KeyKind.allowed : classifyKey(key);
      if (policy.keyKinds.size >= KEY_CACHE_LIMIT) policy.keyKinds.clear();
      policy.keyKinds.set(key, kind);
    }
    return kind;
  }
}

/** End of the run of `alphabet` characters from `from`, stopping at `limit`. */
function extendForward(text: string, from: number, alphabet: Uint8Array, limit: number): number {
  const end = Math.min(limit, text.length);
  let stop = from;
  while (stop < end) {
    const c = text.charCodeAt(stop);
    if (c >= 128 || alphabet[c] !== 1) break;
    stop++;
  }
  return stop;
}

/** When a log record happened: its time, else when it was observed (as the ClickHouse exporter stores it). */
function logRecordTime(record: LogRecord): bigint {
  return record.timeUnixNano !== 0n ? record.timeUnixNano : record.observedTimeUnixNano;
}

/** A log record whose walk failed part-way: nothing of it that may be unscanned survives. */
function failClosedLogRecord(record: LogRecord): void {
  try {
    record.body = UNSCANNABLE;
    record.attributes = [];
    record.eventName = '';
    record.severityText = '';
  } catch {
    // A frozen or exotic object: nothing more can be done without throwing.
  }
}

/** A span whose walk failed part-way: nothing of it that may be unscanned survives. */
function failClosed(span: Span): void {
  try {
    span.name = UNSCANNABLE;
    span.attributes = [];
    span.events = [];
    span.links = [];
    if (span.status) span.status.message = '';
  } catch {
    // A frozen or exotic object: nothing more can be done without throwing.
  }
}

/** The called side of a span or log record, for findings (the same naming as the inventory's call edges). */
function peerOf(attributes: KeyValue[]): string {
  return callPeer(attributes)?.peer ?? '';
}

/**
 * Builds the redactor from a parsed config. `options.hmacKey` is used when the config has no
 * `hmac_key` (the caller passes a random per-process key then).
 */
export function createRedactor(config: RedactionConfig, options: { hmacKey: Buffer | string }): Redactor {
  if (!config.enabled) return createPassThroughRedactor();
  return new RuleEngine(config, config.hmac_key ?? options.hmacKey);
}

/** `enabled: false`: the same interface, touching nothing. */
function createPassThroughRedactor(): Redactor {
  const counts = Object.fromEntries(RULE_FAMILIES.map((family) => [family, 0])) as Record<RuleFamily, number>;
  return {
    counts,
    redactTraces: () => ({ findings: [] }),
    redactLogs: () => ({ findings: [] }),
    redactValue: (value) => value,
  };
}

/**
 * Evidence of an unauthenticated call: an outgoing span (client or producer) whose request headers
 * were recorded (the instrumentation captures headers) and carried no credential. Absence of
 * headers proves nothing, so such spans get no scheme at all rather than a false `None`.
 */
function recordedRequestHeadersWithoutCredential(span: Span): boolean {
  if (span.kind !== 3 && span.kind !== 4) return false;
  for (const kv of span.attributes) if (kv.key.startsWith('http.request.header.')) return true;
  return false;
}
