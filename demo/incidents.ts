/**
 * The incident schedule of a demo run: six kinds of trouble at fixed offsets of a cycle
 * (default 10 minutes, repeating), or the whole cycle compressed into a run shorter than it.
 *
 * Pure arithmetic over the run's offset in ms: which incidents are on at an offset (the traffic
 * generator asks once per trace), which start or end in a stretch (for live notices), and the
 * printed timeline. Windows of one cycle never overlap, so each incident is seen alone against
 * the baseline around it. Stateless after construction.
 */
import { INCIDENT_KINDS, type IncidentKind } from '../schemas/demo-config.js';
import { NEW_VENDORS, SUB_PROCESSORS } from './estate.js';

/** Stripe's latency is multiplied by this during a latency spike. */
export const LATENCY_SPIKE_FACTOR = 12;
/** Share of Twilio calls failing (503) during an error burst. */
export const ERROR_BURST_FAILURE_SHARE = 0.7;
/** Share of search's inbound traffic left during a traffic cliff. */
export const TRAFFIC_CLIFF_REMAINING_SHARE = 0.05;

/** Where each incident sits in its cycle, as fractions of the cycle; `end: null` lasts to the end of the run. */
const WINDOWS: Readonly<Record<IncidentKind, { start: number; end: number | null }>> = {
  'latency-spike': { start: 0.1, end: 0.2 },
  'error-burst': { start: 0.24, end: 0.34 },
  'token-leak': { start: 0.38, end: 0.46 },
  'new-vendor': { start: 0.5, end: null },
  'auth-downgrade': { start: 0.58, end: 0.7 },
  'traffic-cliff': { start: 0.76, end: 0.88 },
};

export interface ScheduledIncident {
  readonly kind: IncidentKind;
  /** 0 for the first cycle. */
  readonly cycle: number;
  /** Offsets from the start of the run. */
  readonly startMs: number;
  /** null: lasts until the run ends. */
  readonly endMs: number | null;
  /** The service whose behaviour changes. */
  readonly service: string;
  /** The call edge's other side (`peer.service`), or '' when the incident concerns the service alone. */
  readonly peer: string;
  /** One line for people. */
  readonly description: string;
}

/** What the incidents change for a trace starting at a given offset. */
export interface IncidentEffects {
  stripeLatencyFactor: number;
  twilioFailureShare: number;
  slackTokenInQuery: boolean;
  /** How many of NEW_VENDORS are in use (they stay once they appear). */
  newVendorsLive: number;
  paymentsBearerDropped: boolean;
  searchTrafficShare: number;
}

export const CALM: Readonly<IncidentEffects> = Object.freeze({
  stripeLatencyFactor: 1,
  twilioFailureShare: 0,
  slackTokenInQuery: false,
  newVendorsLive: 0,
  paymentsBearerDropped: false,
  searchTrafficShare: 1,
});

export interface IncidentTransition {
  readonly incident: ScheduledIncident;
  readonly phase: 'start' | 'end';
  readonly atMs: number;
}

export class IncidentSchedule {
  readonly kinds: readonly IncidentKind[];
  /** The cycle actually used: `cycleS`, or the whole run when the run is shorter. */
  readonly cycleMs: number;
  /** True when the cycle was shrunk to fit the run. */
  readonly compressed: boolean;
  readonly durationMs: number | null;
  private readonly enabled: ReadonlySet<IncidentKind>;
  /** Each window in whole ms from the start of its cycle (end null: open). */
  private readonly windowMs: Readonly<Record<IncidentKind, { start: number; end: number | null }>>;

  constructor(options: { kinds: readonly IncidentKind[]; cycleS: number; durationS?: number | undefined }) {
    this.kinds = INCIDENT_KINDS.filter((kind) => options.kinds.includes(kind));
    this.enabled = new Set(this.kinds);
    this.durationMs = options.durationS === undefined ? null : options.durationS * 1000;
    this.compressed = this.durationMs !== null && this.durationMs < options.cycleS * 1000;
    this.cycleMs = this.compressed ? this.durationMs! : options.cycleS * 1000;
    const toMs = (fraction: number): number => Math.round(fraction * this.cycleMs);
    this.windowMs = Object.fromEntries(INCIDENT_KINDS.map((kind) => [kind, { start: toMs(WINDOWS[kind].start), end: WINDOWS[kind].end === null ? null : toMs(WINDOWS[kind].end!) }])) as Record<
      IncidentKind,
      { start: number; end: number | null }
    >;
  }

  /** The incidents of cycle `cycle` that start within the run, in time order. */
  cycle(cycle: number): ScheduledIncident[] {
    const out: ScheduledIncident[] = [];
    const base = cycle * this.cycleMs;
    for (const kind of this.kinds) {
      const window = this.windowMs[kind];
      const startMs = base + window.start;
      if (this.durationMs !== null && startMs >= this.durationMs) continue;
      const target = describe(kind, cycle);
      if (!target) continue;
      const endMs = window.end === null ? null : base + window.end;
      out.push({ kind, cycle, startMs, endMs: endMs !== null && this.durationMs !== null ? Math.min(endMs, this.durationMs) : endMs, ...target });
    }
    return out;
  }

  /** Every incident of the run (bounded runs), or of its first `cycles` cycles. */
  incidents(cycles = this.durationMs === null ? 1 : Math.ceil(this.durationMs / this.cycleMs)): ScheduledIncident[] {
    const out: ScheduledIncident[] = [];
    for (let c = 0; c < cycles; c++) out.push(...this.cycle(c));
    return out;
  }

  effectsAt(offsetMs: number): IncidentEffects {
    if (this.kinds.length === 0 || offsetMs < 0) return CALM;
    const cycle = Math.floor(offsetMs / this.cycleMs);
    const phaseMs = offsetMs - cycle * this.cycleMs;
    const on = (kind: IncidentKind): boolean => {
      if (!this.enabled.has(kind)) return false;
      const window = this.windowMs[kind];
      return phaseMs >= window.start && (window.end === null || phaseMs < window.end);
    };
    let newVendorsLive = 0;
    if (this.enabled.has('new-vendor')) {
      newVendorsLive = Math.min(NEW_VENDORS.length, cycle + (phaseMs >= this.windowMs['new-vendor'].start ? 1 : 0));
    }
    return {
      stripeLatencyFactor: on('latency-spike') ? LATENCY_SPIKE_FACTOR : 1,
      twilioFailureShare: on('error-burst') ? ERROR_BURST_FAILURE_SHARE : 0,
      slackTokenInQuery: on('token-leak'),
      newVendorsLive,
      paymentsBearerDropped: on('auth-downgrade'),
      searchTrafficShare: on('traffic-cliff') ? TRAFFIC_CLIFF_REMAINING_SHARE : 1,
    };
  }

  /** Incidents starting or ending in [fromMs, toMs). */
  transitions(fromMs: number, toMs: number): IncidentTransition[] {
    if (this.kinds.length === 0 || toMs <= fromMs) return [];
    const out: IncidentTransition[] = [];
    const first = Math.max(0, Math.floor(fromMs / this.cycleMs) - 1);
    const last = Math.floor(toMs / this.cycleMs);
    for (let c = first; c <= last; c++) {
      for (const incident of this.cycle(c)) {
        if (incident.startMs >= fromMs && incident.startMs < toMs) out.push({ incident, phase: 'start', atMs: incident.startMs });
        if (incident.endMs !== null && incident.endMs >= fromMs && incident.endMs < toMs) out.push({ incident, phase: 'end', atMs: incident.endMs });
      }
    }
    return out.sort((a, b) => a.atMs - b.atMs);
  }
}

function describe(kind: IncidentKind, cycle: number): { service: string; peer: string; description: string } | null {
  const stripe = SUB_PROCESSORS.stripe;
  const twilio = SUB_PROCESSORS.twilio;
  switch (kind) {
    case 'latency-spike':
      return { service: 'payments', peer: stripe.id, description: `${stripe.vendor} (${stripe.host}) answers ${LATENCY_SPIKE_FACTOR}× slower for payments and billing-worker` };
    case 'error-burst':
      return { service: 'notifications', peer: twilio.id, description: `${twilio.vendor} (${twilio.host}) answers 503 to ${ERROR_BURST_FAILURE_SHARE * 100}% of calls from notifications and auth` };
    case 'token-leak':
      return { service: 'webhook-relay', peer: SUB_PROCESSORS.slack.id, description: 'webhook-relay puts its Slack bot token in URL queries and log lines' };
    case 'new-vendor': {
      const vendor = NEW_VENDORS[cycle];
      if (!vendor) return null;
      return { service: vendor.caller, peer: vendor.subProcessor.id, description: `${vendor.caller} starts calling ${vendor.subProcessor.vendor} (${vendor.subProcessor.host}), never seen before` };
    }
    case 'auth-downgrade':
      return { service: 'checkout', peer: 'payments', description: 'checkout → payments calls lose their bearer token (Bearer → none)' };
    case 'traffic-cliff':
      return { service: 'search', peer: '', description: `search loses ${Math.round((1 - TRAFFIC_CLIFF_REMAINING_SHARE) * 100)}% of its inbound traffic` };
  }
}

/** `12:05` / `1:02:05` for an offset or a length in ms; with `tenths`, `0:02.4` (compressed short runs). */
export function formatOffset(ms: number, tenths = false): string {
  const totalTenths = Math.round(ms / 100);
  const total = tenths ? Math.floor(totalTenths / 10) : Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}${tenths ? `.${totalTenths % 10}` : ''}`;
}

/** Local wall-clock time of day, `14:03:12`. */
export function formatClock(epochMs: number): string {
  return new Date(epochMs).toTimeString().slice(0, 8);
}

/**
 * The timeline printed at start: one line per incident of the run (or of the first cycle when the
 * run is open-ended), with its offset, wall-clock time, kind, length and what happens.
 *
 *   incident timeline (cycle 10:00, repeating):
 *     +1:00     14:03:12  latency-spike   for 1:00      Stripe (api.stripe.com) answers 12× slower …
 */
export function formatTimeline(schedule: IncidentSchedule, startTimeMs: number): string {
  const incidents = schedule.incidents();
  if (incidents.length === 0) return 'incidents: none scheduled\n';
  const cycle = schedule.compressed
    ? `all compressed into the ${formatOffset(schedule.cycleMs)} run`
    : schedule.durationMs !== null && schedule.durationMs <= schedule.cycleMs
      ? `cycle ${formatOffset(schedule.cycleMs)}`
      : `cycle ${formatOffset(schedule.cycleMs)}, repeating${schedule.durationMs === null ? '; first cycle shown' : ''}`;
  const width = Math.max(...INCIDENT_KINDS.map((k) => k.length));
  const tenths = schedule.cycleMs < 60_000;
  const lines = incidents.map((incident) => {
    const offset = `+${formatOffset(incident.startMs, tenths)}`.padEnd(9);
    const length = incident.endMs === null ? 'from then on' : `for ${formatOffset(incident.endMs - incident.startMs, tenths)}`;
    return `  ${offset} ${formatClock(startTimeMs + incident.startMs)}  ${incident.kind.padEnd(width)}  ${length.padEnd(12)}  ${incident.description}`;
  });
  return `incident timeline (${cycle}):\n${lines.join('\n')}\n`;
}
