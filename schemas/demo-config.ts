/**
 * Config of the demo estate (`demo:`), the simulated services `chainwatch start` can run
 * in-process and `chainwatch demo` runs against any collector: traffic rate, seed, which
 * scheduled incidents happen and how often they repeat.
 *
 * Every default lives here; unknown keys are rejected. The same schema validates the
 * `chainwatch demo` flags, so a flag and a config key accept exactly the same values.
 */
import { z } from 'zod';

/** The scheduled incidents, in the order they happen within a cycle. */
export const INCIDENT_KINDS = ['latency-spike', 'error-burst', 'token-leak', 'new-vendor', 'auth-downgrade', 'traffic-cliff'] as const;
export type IncidentKind = (typeof INCIDENT_KINDS)[number];

/** `all`, `none`, or a list of incident kinds. */
export type IncidentSelection = 'all' | 'none' | readonly IncidentKind[];

/** Highest traffic rate accepted (traces per second): far above what one process can export. */
export const MAX_DEMO_RATE = 100_000;

const incidentKind = z.enum(INCIDENT_KINDS, { error: (iss) => `expected one of ${INCIDENT_KINDS.join(', ')}, got ${JSON.stringify(iss.input)}` });

export const incidentSelectionSchema = z.union(
  [z.enum(['all', 'none']), z.array(incidentKind, { error: 'expected "all", "none" or a list of incidents' }).min(1, { error: 'expected at least one incident (or "none")' })],
  {
    // A list names what is wrong in it (an unknown incident); anything else gets the general rule.
    error: (iss) => {
      const listProblem = Array.isArray(iss.input) ? (iss as { errors?: { message?: string }[][] }).errors?.[1]?.[0]?.message : undefined;
      return listProblem ?? `expected "all", "none" or a list of: ${INCIDENT_KINDS.join(', ')}`;
    },
  },
);

export const demoConfigSchema = z
  .strictObject({
    /**
     * Run the demo estate inside `chainwatch start`. Without a config file (the quick start) it
     * runs unless `--no-demo`; with one, when this is true or `--demo` is given. @default false
     */
    enabled: z.boolean({ error: 'expected true or false' }).default(false),
    /** Traces per second across the estate (each trace is about a dozen spans). @default 20 */
    rate: z
      .number({ error: 'expected a number of traces per second' })
      .positive({ error: 'expected a positive number of traces per second' })
      .max(MAX_DEMO_RATE, { error: `expected at most ${MAX_DEMO_RATE} traces per second` })
      .default(20),
    /** Seed of every random choice: one seed gives one sequence of traces. @default random, printed at start */
    seed: z
      .int({ error: 'expected an integer seed' })
      .min(0, { error: 'expected a seed from 0 to 4294967295' })
      .max(0xffff_ffff, { error: 'expected a seed from 0 to 4294967295' })
      .optional(),
    /** Which incidents are scheduled. @default "all" */
    incidents: incidentSelectionSchema.default('all'),
    /** Incidents happen at fixed offsets of a cycle this long, repeating. @default 600 */
    cycle_s: z
      .int({ error: 'expected a whole number of seconds' })
      .min(10, { error: 'expected at least 10 seconds' })
      .max(86_400, { error: 'expected at most 86400 seconds' })
      .default(600),
  })
  .prefault({});

export type DemoConfig = z.infer<typeof demoConfigSchema>;

/** `--incidents` text: `all`, `none`, or a comma-separated list (validated by the schema afterwards). */
export function parseIncidentList(text: string): string | string[] {
  const trimmed = text.trim();
  if (trimmed === 'all' || trimmed === 'none') return trimmed;
  return trimmed
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
}

/** The incident kinds a selection names, in schedule order. */
export function selectedIncidents(selection: IncidentSelection): IncidentKind[] {
  if (selection === 'all') return [...INCIDENT_KINDS];
  if (selection === 'none') return [];
  return INCIDENT_KINDS.filter((kind) => selection.includes(kind));
}
