/** The incident schedule's arithmetic: offsets, compression, repetition, effects, notices, the printed timeline. */
import { describe, expect, it } from 'vitest';
import { INCIDENT_KINDS } from '../schemas/demo-config.js';
import { CALM, ERROR_BURST_FAILURE_SHARE, formatOffset, formatTimeline, IncidentSchedule, LATENCY_SPIKE_FACTOR, TRAFFIC_CLIFF_REMAINING_SHARE } from './incidents.js';

describe('incident schedule', () => {
  it('places every incident at its offset of the default 10-minute cycle, one after another', () => {
    const schedule = new IncidentSchedule({ kinds: INCIDENT_KINDS, cycleS: 600 });
    const incidents = schedule.incidents();
    expect(incidents.map((i) => i.kind)).toEqual([...INCIDENT_KINDS]);
    expect(incidents.map((i) => [i.startMs / 1000, i.endMs === null ? null : i.endMs / 1000])).toEqual([
      [60, 120],
      [144, 204],
      [228, 276],
      [300, null],
      [348, 420],
      [456, 528],
    ]);
    for (let i = 1; i < incidents.length; i++) expect(incidents[i]!.startMs).toBeGreaterThanOrEqual(incidents[i - 1]!.endMs ?? incidents[i - 1]!.startMs);
    expect(schedule.compressed).toBe(false);
  });

  it('compresses the whole cycle into a run shorter than it', () => {
    const schedule = new IncidentSchedule({ kinds: INCIDENT_KINDS, cycleS: 600, durationS: 30 });
    expect(schedule.compressed).toBe(true);
    expect(schedule.cycleMs).toBe(30_000);
    const incidents = schedule.incidents();
    expect(incidents).toHaveLength(6);
    expect(incidents[0]).toMatchObject({ kind: 'latency-spike', startMs: 3000, endMs: 6000, service: 'payments', peer: 'stripe' });
    expect(incidents.every((i) => i.startMs < 30_000 && (i.endMs ?? 0) <= 30_000)).toBe(true);
  });

  it('repeats in long runs, with a different never-seen vendor each cycle until they run out', () => {
    const schedule = new IncidentSchedule({ kinds: INCIDENT_KINDS, cycleS: 600, durationS: 1800 });
    const vendors = schedule.incidents().filter((i) => i.kind === 'new-vendor');
    expect(vendors.map((v) => [v.cycle, v.peer, v.service])).toEqual([
      [0, 'anthropic', 'catalog'],
      [1, 'huggingface', 'search'],
      [2, 'replicate', 'catalog'],
    ]);
    expect(schedule.incidents().filter((i) => i.kind === 'latency-spike').map((i) => i.startMs / 1000)).toEqual([60, 660, 1260]);
    // Vendors stay once they came.
    expect(schedule.effectsAt(299_000).newVendorsLive).toBe(0);
    expect(schedule.effectsAt(300_000).newVendorsLive).toBe(1);
    expect(schedule.effectsAt(899_000).newVendorsLive).toBe(1);
    expect(schedule.effectsAt(900_000).newVendorsLive).toBe(2);
    const open = new IncidentSchedule({ kinds: ['new-vendor'], cycleS: 60 });
    expect(open.cycle(3).map((i) => i.peer)).toEqual(['groq']);
    expect(open.cycle(4)).toEqual([]);
    expect(open.effectsAt(10 * 60_000).newVendorsLive).toBe(4);
  });

  it('tells what each incident changes while it is on, and nothing outside it', () => {
    const schedule = new IncidentSchedule({ kinds: INCIDENT_KINDS, cycleS: 100 });
    expect(schedule.effectsAt(5_000)).toEqual(CALM);
    expect(schedule.effectsAt(10_000).stripeLatencyFactor).toBe(LATENCY_SPIKE_FACTOR);
    expect(schedule.effectsAt(19_999).stripeLatencyFactor).toBe(LATENCY_SPIKE_FACTOR);
    expect(schedule.effectsAt(20_000).stripeLatencyFactor).toBe(1);
    expect(schedule.effectsAt(30_000).twilioFailureShare).toBe(ERROR_BURST_FAILURE_SHARE);
    expect(schedule.effectsAt(40_000).slackTokenInQuery).toBe(true);
    expect(schedule.effectsAt(60_000).paymentsBearerDropped).toBe(true);
    expect(schedule.effectsAt(80_000).searchTrafficShare).toBe(TRAFFIC_CLIFF_REMAINING_SHARE);
    expect(schedule.effectsAt(95_000)).toEqual({ ...CALM, newVendorsLive: 1 });
    // The next cycle starts calm again (but the vendor stays).
    expect(schedule.effectsAt(105_000)).toEqual({ ...CALM, newVendorsLive: 1 });
    expect(schedule.effectsAt(110_000).stripeLatencyFactor).toBe(LATENCY_SPIKE_FACTOR);
  });

  it('schedules only the incidents asked for', () => {
    const some = new IncidentSchedule({ kinds: ['traffic-cliff', 'error-burst'], cycleS: 100 });
    expect(some.incidents().map((i) => i.kind)).toEqual(['error-burst', 'traffic-cliff']);
    expect(some.effectsAt(12_000)).toEqual(CALM);
    const none = new IncidentSchedule({ kinds: [], cycleS: 100 });
    expect(none.incidents()).toEqual([]);
    expect(none.effectsAt(80_000)).toEqual(CALM);
    expect(none.transitions(0, 1e9)).toEqual([]);
  });

  it('lists the starts and ends falling in a stretch of the run, in order', () => {
    const schedule = new IncidentSchedule({ kinds: INCIDENT_KINDS, cycleS: 100 });
    expect(schedule.transitions(0, 25_000).map((t) => `${t.phase} ${t.incident.kind} ${t.atMs}`)).toEqual([
      'start latency-spike 10000',
      'end latency-spike 20000',
      'start error-burst 24000',
    ]);
    expect(schedule.transitions(25_000, 50_000).map((t) => `${t.phase} ${t.incident.kind}`)).toEqual(['end error-burst', 'start token-leak', 'end token-leak']);
    expect(schedule.transitions(100_000, 112_000).map((t) => `${t.phase} ${t.incident.kind} ${t.incident.cycle}`)).toEqual(['start latency-spike 1']);
  });

  it('prints a timeline with offset, wall-clock time, kind, length and what happens', () => {
    const start = new Date(2026, 0, 1, 14, 2, 12).getTime();
    const text = formatTimeline(new IncidentSchedule({ kinds: INCIDENT_KINDS, cycleS: 600 }), start);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('incident timeline (cycle 10:00, repeating; first cycle shown):');
    expect(lines).toHaveLength(7);
    expect(lines[1]).toMatch(/^ {2}\+1:00 +14:03:12 {2}latency-spike +for 1:00 +Stripe \(api\.stripe\.com\) answers 12× slower/);
    expect(lines[4]).toMatch(/^ {2}\+5:00 +14:07:12 {2}new-vendor +from then on +catalog starts calling Anthropic \(api\.anthropic\.com\), never seen before$/);
    expect(lines[5]).toContain('checkout → payments calls lose their bearer token (Bearer → none)');
    const short = formatTimeline(new IncidentSchedule({ kinds: ['latency-spike'], cycleS: 600, durationS: 24 }), start);
    expect(short).toMatch(/^incident timeline \(all compressed into the 0:24 run\):\n {2}\+0:02\.4 +14:02:14 {2}latency-spike +for 0:02\.4 /);
    expect(formatTimeline(new IncidentSchedule({ kinds: [], cycleS: 600 }), start)).toBe('incidents: none scheduled\n');
  });

  it('formats offsets as people read them', () => {
    expect(formatOffset(0)).toBe('0:00');
    expect(formatOffset(61_000)).toBe('1:01');
    expect(formatOffset(3_725_000)).toBe('1:02:05');
    expect(formatOffset(2_449, true)).toBe('0:02.4');
  });
});
