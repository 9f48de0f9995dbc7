import { describe, expect, it } from 'vitest';
import { createLogRecord, createLogsData } from '../../schemas/otlp-logs.js';
import { encodeLogRows, LOG_COLUMNS } from './log-rows.js';

describe('otel_logs TabSeparated rows', () => {
  it('writes one line per record with one field per column, as the ClickHouse exporter fills them', () => {
    const record = createLogRecord({
      timeUnixNano: 1_700_000_000_000_000_001n,
      observedTimeUnixNano: 1_700_000_009_000_000_000n,
      severityNumber: 17,
      severityText: 'ERROR',
      body: { kvlist: [{ key: 'z', value: 'tab\there' }, { key: 'a', value: 1n }] },
      attributes: [{ key: "it's", value: 'back\\slash\nnewline' }],
      flags: 0x101,
      traceId: 'ab'.repeat(16),
      spanId: 'cd'.repeat(8),
      eventName: 'line1\nline2',
    });
    const data = createLogsData('svc', [record], { name: 'scope\tname', version: '1.0', attributes: [{ key: 's', value: true }] });
    data.resourceLogs[0]!.schemaUrl = 'https://opentelemetry.io/schemas/1.30.0';
    data.resourceLogs[0]!.scopeLogs[0]!.schemaUrl = 'https://opentelemetry.io/schemas/1.29.0';
    const { text, rows } = encodeLogRows([data]);
    expect(rows).toBe(1);
    expect(text.endsWith('\n')).toBe(true);
    const fields = text.slice(0, -1).split('\t');
    expect(fields).toHaveLength(LOG_COLUMNS.length);
    expect(Object.fromEntries(LOG_COLUMNS.map((column, i) => [column, fields[i]]))).toEqual({
      Timestamp: '1700000000.000000001',
      TraceId: 'ab'.repeat(16),
      SpanId: 'cd'.repeat(8),
      TraceFlags: '1',
      SeverityText: 'ERROR',
      SeverityNumber: '17',
      ServiceName: 'svc',
      // A structured body as JSON with sorted keys (pcommon AsString); its tab escaped for TSV.
      Body: '{"a":1,"z":"tab\\\\there"}',
      ResourceSchemaUrl: 'https://opentelemetry.io/schemas/1.30.0',
      ResourceAttributes: "{'service.name':'svc'}",
      ScopeSchemaUrl: 'https://opentelemetry.io/schemas/1.29.0',
      ScopeName: 'scope\\tname',
      ScopeVersion: '1.0',
      ScopeAttributes: "{'s':'true'}",
      LogAttributes: "{'it\\'s':'back\\\\slash\\nnewline'}",
      EventName: 'line1\\nline2',
    });
  });

  it('falls back to the observed time, renders plain bodies, and stores an impossible severity as 0', () => {
    const records = [
      createLogRecord({ observedTimeUnixNano: 5n, body: 'plain\ttext', severityNumber: 300 }),
      createLogRecord({ timeUnixNano: 7n, observedTimeUnixNano: 9n, body: null, severityNumber: -1 }),
      createLogRecord({ body: new Uint8Array([0xfb, 0xff]), severityNumber: 24 }),
    ];
    const lines = encodeLogRows([createLogsData('svc', records)]).text.trim().split('\n').map((line) => line.split('\t'));
    const column = (line: string[], name: (typeof LOG_COLUMNS)[number]) => line[LOG_COLUMNS.indexOf(name)];
    expect(lines.map((line) => column(line, 'Timestamp'))).toEqual(['0000000000.000000005', '0000000000.000000007', '0000000000.000000000']);
    expect(lines.map((line) => column(line, 'Body'))).toEqual(['plain\\ttext', '', '+/8=']);
    expect(lines.map((line) => column(line, 'SeverityNumber'))).toEqual(['0', '0', '24']);
  });

  it('writes nothing for requests without records', () => {
    expect(encodeLogRows([{ resourceLogs: [] }, createLogsData('svc', [])])).toEqual({ text: '', rows: 0 });
  });
});
