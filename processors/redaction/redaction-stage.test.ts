/**
 * The redaction stage takes either signal: it redacts trace and log requests in place and returns
 * their findings as messages for the findings topic, one per service, keyed by it.
 */
import { describe, expect, it } from 'vitest';
import { decodeFindings } from '../../schemas/findings.js';
import { createLogRecord, createLogsData } from '../../schemas/otlp-logs.js';
import { createSpan, createTracesData } from '../../schemas/otlp-traces.js';
import { redactionConfigSchema } from '../../schemas/redaction-config.js';
import { RedactionStage } from './redaction-stage.js';
import { githubToken, seededRandom } from './sample-credentials.js';

const token = githubToken(seededRandom(99), 'ghp_');

describe('redaction stage', () => {
  const stage = new RedactionStage({ config: redactionConfigSchema.parse({}), hmacKey: 'stage-test-key', findingsTopic: 'findings' });

  it('redacts a logs request and publishes its findings keyed by service', async () => {
    const data = createLogsData('orders', [createLogRecord({ body: `pushing with ${token}`, traceId: 'ab'.repeat(16) })]);
    const output = await stage.process(data);
    expect(data.resourceLogs[0]!.scopeLogs[0]!.logRecords[0]!.body).toBe('pushing with [REDACTED:github_pat]');
    expect(output.publish).toHaveLength(1);
    const [message] = output.publish![0]!.messages;
    expect(output.publish![0]!.topic).toBe('findings');
    expect(message!.key).toBe('orders');
    expect(decodeFindings(message!.value).map((f) => [f.location, f.rule, f.trace_id])).toEqual([['log.body', 'github_pat', 'ab'.repeat(16)]]);
  });

  it('redacts a trace request the same way, and publishes nothing when nothing matched', async () => {
    const data = createTracesData('orders', [createSpan({ name: `push ${token}` })]);
    const output = await stage.process(data);
    expect(data.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.name).toBe('push [REDACTED:github_pat]');
    expect(decodeFindings(output.publish![0]!.messages[0]!.value).map((f) => f.location)).toEqual(['span.name']);
    expect(await stage.process(createLogsData('orders', [createLogRecord({ body: 'all fine' })]))).toEqual({});
  });
});
