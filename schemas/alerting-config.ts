/**
 * Config of the alerting stage (`stages.alerting`): how it reads the alerts topic (the consumer
 * batching fields every consuming stage has), the webhook receivers it delivers to, and how it
 * retries a delivery.
 *
 * Every default lives here; unknown keys are rejected; cross-field rules (unique receiver names,
 * backoff caps not below their first delay) are checked in `superRefine` with the path of the
 * offending key. A receiver's secret and URL are never echoed in an error message: a webhook URL
 * often carries a token of its own (path or query), and the secret signs every delivery.
 */
import { z } from 'zod';
import { checkRetryRange, consumerStageFields, positiveInt } from './config-fields.js';
import { ALERT_SEVERITIES } from './alerts.js';


const WEBHOOK_SECRET_PREFIX = 'whsec_';
/** Standard Webhooks recommends keys of 24 to 64 bytes. */
const MIN_SECRET_BYTES = 24;
const MAX_SECRET_BYTES = 64;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The HMAC key of a Standard Webhooks secret (`whsec_` + base64), or a description of what is
 * wrong with it that does not repeat it. Shared by the config check and the signer.
 */
export function decodeWebhookSecret(secret: string): { key: Buffer } | { problem: string } {
  if (!secret.startsWith(WEBHOOK_SECRET_PREFIX)) return { problem: `expected a Standard Webhooks secret: "${WEBHOOK_SECRET_PREFIX}" followed by base64 (the value does not start with "${WEBHOOK_SECRET_PREFIX}")` };
  const encoded = secret.slice(WEBHOOK_SECRET_PREFIX.length);
  if (encoded === '' || !BASE64.test(encoded)) {
    return { problem: `expected a Standard Webhooks secret: "${WEBHOOK_SECRET_PREFIX}" followed by base64 (the part after "${WEBHOOK_SECRET_PREFIX}" is not valid base64)` };
  }
  const key = Buffer.from(encoded, 'base64');
  if (key.length < MIN_SECRET_BYTES || key.length > MAX_SECRET_BYTES) {
    return { problem: `expected a Standard Webhooks secret of ${MIN_SECRET_BYTES} to ${MAX_SECRET_BYTES} bytes after base64 decoding (this one decodes to ${key.length} bytes)` };
  }
  return { key };
}

const receiverName = z.string({ error: 'expected a receiver name' }).min(1, { error: 'expected a receiver name, got ""' });

const webhookUrl = z.string({ error: 'expected an http(s) URL' }).superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'expected an http(s) URL (the value is not a URL)' });
    return;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: `expected an http(s) URL, got a ${url.protocol.slice(0, -1)}: URL` });
  // fetch refuses such a URL; a receiver authenticates deliveries by their signature instead.
  if (url.username !== '' || url.password !== '') ctx.addIssue({ code: 'custom', message: 'the URL must not contain user:password@ (deliveries are authenticated by their signature)' });
});

const webhookSecret = z.string({ error: 'expected a Standard Webhooks secret ("whsec_" followed by base64)' }).superRefine((value, ctx) => {
  const decoded = decodeWebhookSecret(value);
  if ('problem' in decoded) ctx.addIssue({ code: 'custom', message: decoded.problem });
});

export const receiverConfigSchema = z.strictObject({
  /** Shown in the alert log, metrics, logs and the payload's `receiver`; never the URL. */
  name: receiverName,
  /** Where deliveries are POSTed. Redirects are not followed. */
  url: webhookUrl,
  /** Standard Webhooks signing secret, `whsec_` + base64 of 24 to 64 random bytes. */
  secret: webhookSecret,
  /** Events of a lower severity are logged as below_min_severity, not sent. @default "warning" */
  min_severity: z.enum(ALERT_SEVERITIES, { error: `expected one of ${ALERT_SEVERITIES.join(', ')}` }).default('warning'),
  /** One request (until the response headers) may take this long; then it counts as failed and is retried. @default 10000 */
  timeout_ms: positiveInt('a timeout in milliseconds').default(10_000),
  /** Requests per event at most (the first one included), then the delivery is logged failed. @default 8 */
  max_attempts: z
    .int({ error: 'expected a whole number of attempts from 1 to 20' })
    .min(1, { error: 'expected a whole number of attempts from 1 to 20' })
    .max(20, { error: 'expected a whole number of attempts from 1 to 20' })
    .default(8),
});

export const alertingStageConfigSchema = z
  .strictObject({
    /** Batching and retries of the stage itself (a refused alert-log insert); batch_size @default 100. */
    ...consumerStageFields(100),
    /** Every event goes to every receiver whose min_severity it reaches. @default [] */
    receivers: z.array(receiverConfigSchema, { error: 'expected a list of receivers' }).default([]),
    /** Delivery retry backoff (full jitter; a Retry-After in seconds wins, up to the cap): first delay. @default 1000 */
    delivery_initial_ms: positiveInt().default(1000),
    /** Delivery retry backoff cap, also the longest Retry-After honoured. @default 60000 */
    delivery_max_ms: positiveInt().default(60_000),
  })
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    cfg.receivers.forEach((r, i) => {
      const first = seen.get(r.name);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['receivers', i, 'name'], message: `duplicate receiver name: the same as receivers[${first}]` });
      else seen.set(r.name, i);
    });
    checkRetryRange(cfg, ctx);
    if (cfg.delivery_max_ms < cfg.delivery_initial_ms) ctx.addIssue({ code: 'custom', path: ['delivery_max_ms'], message: `must be at least delivery_initial_ms (${cfg.delivery_initial_ms})` });
  })
  .prefault({});

export type AlertingStageConfig = z.infer<typeof alertingStageConfigSchema>;
export type ReceiverConfig = z.infer<typeof receiverConfigSchema>;
