/**
 * The redactor's prefilter: one pass over a value that says which rules can match it at all,
 * so most values (methods, routes, hosts, status codes, ids) never meet a rule regex.
 *
 * It is an Aho-Corasick automaton over every rule keyword, case-insensitive for ASCII, compiled
 * into a dense DFA table (gitleaks does the same; notes/redaction.md measured a prefilter as the
 * difference between 0.1 and 50 MB/s). In the same loop it measures the cheap features the
 * keyword-less rules key on: the longest run of digits (separators allowed), an '@', the number
 * of ':'. A hand-written loop rather than a keyword-alternation regex because it is one pass for
 * both jobs and reports which keywords hit; the benchmark (bench/redaction.bench.ts) measures it.
 *
 * State: immutable tables built once, plus a scratch "seen" stamp array reused across calls
 * (single-threaded; one prefilter per redactor). Work is linear in the value's length.
 */
import type { Precheck } from './rule-definition.js';

export interface PrefilterRule {
  readonly keywords: readonly string[];
  readonly precheck: Precheck | undefined;
}

const FEATURE_DIGIT = 1;
const FEATURE_SEPARATOR = 2;
const FEATURE_AT = 3;
const FEATURE_COLON = 4;

/** Per ASCII code: which feature it feeds (0 = none, breaks a digit run). */
const FEATURES = (() => {
  const table = new Uint8Array(128);
  for (let c = 48; c <= 57; c++) table[c] = FEATURE_DIGIT;
  for (const c of ' -.()/') table[c.charCodeAt(0)] = FEATURE_SEPARATOR;
  table[64] = FEATURE_AT;
  table[58] = FEATURE_COLON;
  return table;
})();

/** Separators tolerated in a row inside a digit run: ") " in "(415) 555-2671". */
const MAX_SEPARATORS_IN_RUN = 2;

export class KeywordPrefilter {
  /** ASCII code → input class of the DFA (0 = a character no keyword contains). */
  private readonly classOf = new Uint8Array(128);
  private readonly classCount: number;
  /**
   * The DFA, with states stored as row offsets (state * classCount) so the hot loop is one add
   * and one load per character: transitions[row + class] → next row.
   */
  private readonly transitions: Int32Array;
  /** By row: 1 when the state completes some keyword (sized like transitions; only row starts are set). */
  private readonly hasOutput: Uint8Array;
  /** For each state, the rule indices its keywords (and their suffixes) select: outputStart[s]..outputStart[s+1]. */
  private readonly outputStart: Int32Array;
  private readonly outputRules: Int32Array;
  private readonly digitRules: { rule: number; minRun: number }[] = [];
  private readonly atRules: number[] = [];
  private readonly colonRules: { rule: number; minColons: number }[] = [];
  private readonly seen: Uint32Array;
  private stamp = 0;

  constructor(rules: readonly PrefilterRule[]) {
    this.seen = new Uint32Array(rules.length);
    // Input classes: one per distinct keyword character, upper case folded onto lower case.
    let classes = 1;
    for (const rule of rules) {
      for (const keyword of rule.keywords) {
        for (let i = 0; i < keyword.length; i++) {
          const c = keyword.charCodeAt(i);
          if (c >= 128) throw new Error(`prefilter keyword "${keyword}" must be ASCII`);
          if (this.classOf[c] === 0) {
            this.classOf[c] = classes;
            if (c >= 97 && c <= 122) this.classOf[c - 32] = classes;
            classes++;
          }
        }
      }
    }
    this.classCount = classes;

    // Trie.
    const children: Map<number, number>[] = [new Map()];
    const outputs: Set<number>[] = [new Set()];
    rules.forEach((rule, index) => {
      for (const keyword of rule.keywords) {
        let state = 0;
        for (let i = 0; i < keyword.length; i++) {
          const cls = this.classOf[keyword.charCodeAt(i)]!;
          let next = children[state]!.get(cls);
          if (next === undefined) {
            next = children.length;
            children.push(new Map());
            outputs.push(new Set());
            children[state]!.set(cls, next);
          }
          state = next;
        }
        outputs[state]!.add(index);
      }
      const check = rule.precheck;
      if (check?.minDigitRun !== undefined) this.digitRules.push({ rule: index, minRun: check.minDigitRun });
      if (check?.at) this.atRules.push(index);
      if (check?.minColons !== undefined) this.colonRules.push({ rule: index, minColons: check.minColons });
    });

    // Failure links by breadth-first search, folded into a complete DFA.
    const stateCount = children.length;
    this.transitions = new Int32Array(stateCount * classes);
    const fail = new Int32Array(stateCount);
    const queue: number[] = [];
    for (let cls = 1; cls < classes; cls++) {
      const next = children[0]!.get(cls);
      if (next !== undefined) {
        this.transitions[cls] = next;
        queue.push(next);
      }
    }
    for (let head = 0; head < queue.length; head++) {
      const state = queue[head]!;
      for (const rule of outputs[fail[state]!]!) outputs[state]!.add(rule);
      for (let cls = 1; cls < classes; cls++) {
        const next = children[state]!.get(cls);
        const viaFail = this.transitions[fail[state]! * classes + cls]!;
        if (next === undefined) {
          this.transitions[state * classes + cls] = viaFail;
        } else {
          this.transitions[state * classes + cls] = next;
          fail[next] = viaFail;
          queue.push(next);
        }
      }
    }
    for (let i = 0; i < this.transitions.length; i++) this.transitions[i] = this.transitions[i]! * classes;
    this.hasOutput = new Uint8Array(stateCount * classes);
    this.outputStart = new Int32Array(stateCount + 1);
    const flat: number[] = [];
    for (let state = 0; state < stateCount; state++) {
      this.outputStart[state] = flat.length;
      this.hasOutput[state * classes] = outputs[state]!.size > 0 ? 1 : 0;
      flat.push(...outputs[state]!);
    }
    this.outputStart[stateCount] = flat.length;
    this.outputRules = Int32Array.from(flat);
  }

  /**
   * Writes the indices of the rules that may match `text` into `out` (each at most once) and
   * returns how many. `out` must hold as many entries as there are rules.
   */
  candidates(text: string, out: Int32Array): number {
    let count = 0;
    const stamp = this.nextStamp();
    const { classOf, transitions, classCount, hasOutput, outputStart, outputRules, seen } = this;
    let row = 0;
    let run = 0;
    let separators = 0;
    let longestRun = 0;
    let hasAt = false;
    let colons = 0;
    const n = text.length;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= 128) {
        row = 0;
        run = 0;
        continue;
      }
      row = transitions[row + classOf[c]!]!;
      if (hasOutput[row] !== 0) {
        const state = row / classCount;
        for (let k = outputStart[state]!, to = outputStart[state + 1]!; k < to; k++) {
          const rule = outputRules[k]!;
          if (seen[rule] !== stamp) {
            seen[rule] = stamp;
            out[count++] = rule;
          }
        }
      }
      const feature = FEATURES[c]!;
      if (feature === FEATURE_DIGIT) {
        run++;
        separators = 0;
        if (run > longestRun) longestRun = run;
      } else if (feature === FEATURE_SEPARATOR) {
        if (++separators > MAX_SEPARATORS_IN_RUN) run = 0;
      } else {
        run = 0;
        if (feature === FEATURE_AT) hasAt = true;
        else if (feature === FEATURE_COLON) colons++;
      }
    }
    for (const { rule, minRun } of this.digitRules) {
      if (longestRun >= minRun && seen[rule] !== stamp) {
        seen[rule] = stamp;
        out[count++] = rule;
      }
    }
    if (hasAt) {
      for (const rule of this.atRules) {
        if (seen[rule] !== stamp) {
          seen[rule] = stamp;
          out[count++] = rule;
        }
      }
    }
    for (const { rule, minColons } of this.colonRules) {
      if (colons >= minColons && seen[rule] !== stamp) {
        seen[rule] = stamp;
        out[count++] = rule;
      }
    }
    return count;
  }

  private nextStamp(): number {
    if (this.stamp === 0xffffffff) {
      this.seen.fill(0);
      this.stamp = 0;
    }
    return ++this.stamp;
  }
}
