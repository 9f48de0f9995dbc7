/**
 * A conservative static check that a JavaScript regular expression cannot backtrack
 * catastrophically, and the minimum length of anything it matches (the redactor skips values
 * shorter than every enabled rule can match).
 *
 * V8's engine backtracks, so an ambiguous pattern costs exponential (nested or overlapping
 * loops) or polynomial (two adjacent overlapping unbounded loops) time on a failing input. We
 * parse the pattern into a small tree and reject:
 * - a repeated group whose body can match the empty string (`(a?)*`, `(a*)*`);
 * - a variable-length quantifier inside a repeated group that can consume a character the rest
 *   of the iteration, or the next iteration, could also start with (`(a+)+`, `(\w+\s?)*`,
 *   `(a{1,3}){2,9}`) — a quantified atom followed by something disjoint (`(?: ?[A-Z]{4}){2,7}`,
 *   `(?:[a-z]{1,63}\.){1,8}`) is unambiguous and passes;
 * - an alternation repeated by a quantifier whose branches can start with the same character
 *   (`(a|ab)*`, `(\w|\d)+`);
 * - two unbounded quantifiers that can consume the same characters with only optional items
 *   between them (`\w+\d+`, `.*\s*.*`).
 * It is conservative: it may reject a pattern that is in fact safe, never the other way round
 * for the constructs above. Characters are tracked exactly for ASCII and as one "non-ASCII"
 * bucket beyond it. No state; pure functions.
 */

/** A set of characters: 128 ASCII bits plus one bit for "any code point ≥ 128". */
class CharSet {
  constructor(
    readonly bits = new Uint32Array(4),
    public nonAscii = false,
  ) {}

  static of(...codes: number[]): CharSet {
    const set = new CharSet();
    for (const code of codes) set.add(code);
    return set;
  }

  static any(): CharSet {
    const set = new CharSet(new Uint32Array([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff]), true);
    return set;
  }

  add(code: number): void {
    if (code >= 128) this.nonAscii = true;
    else this.bits[code >>> 5]! |= 1 << (code & 31);
  }

  addRange(from: number, to: number): void {
    for (let c = from; c <= Math.min(to, 127); c++) this.add(c);
    if (to >= 128) this.nonAscii = true;
  }

  has(code: number): boolean {
    return code >= 128 ? this.nonAscii : (this.bits[code >>> 5]! & (1 << (code & 31))) !== 0;
  }

  union(other: CharSet): CharSet {
    const bits = new Uint32Array(4);
    for (let i = 0; i < 4; i++) bits[i] = this.bits[i]! | other.bits[i]!;
    return new CharSet(bits, this.nonAscii || other.nonAscii);
  }

  intersects(other: CharSet): boolean {
    for (let i = 0; i < 4; i++) if ((this.bits[i]! & other.bits[i]!) !== 0) return true;
    return this.nonAscii && other.nonAscii;
  }

  complement(): CharSet {
    const bits = new Uint32Array(4);
    for (let i = 0; i < 4; i++) bits[i] = ~this.bits[i]! >>> 0;
    return new CharSet(bits, true);
  }

  /** Adds the other case of every ASCII letter (the `i` flag). */
  caseFolded(): CharSet {
    const folded = new CharSet(this.bits.slice(), this.nonAscii);
    for (let c = 65; c <= 90; c++) {
      if (this.has(c)) folded.add(c + 32);
      if (this.has(c + 32)) folded.add(c);
    }
    return folded;
  }

}

type RegexNode =
  | { type: 'char'; set: CharSet }
  | { type: 'seq'; items: RegexNode[] }
  | { type: 'alt'; options: RegexNode[] }
  | { type: 'group'; body: RegexNode }
  | { type: 'look'; body: RegexNode }
  | { type: 'assert' }
  | { type: 'backref' }
  | { type: 'repeat'; body: RegexNode; min: number; max: number; start: number; end: number };

const DIGITS = (() => {
  const s = new CharSet();
  s.addRange(48, 57);
  return s;
})();
const WORD = (() => {
  const s = DIGITS.union(new CharSet());
  s.addRange(65, 90);
  s.addRange(97, 122);
  s.add(95);
  return s;
})();
const SPACE = (() => {
  const s = CharSet.of(9, 10, 11, 12, 13, 32);
  s.nonAscii = true; // NBSP, line separators, BOM…
  return s;
})();
const LINE_TERMINATORS = CharSet.of(10, 13);

class ParseError extends Error {}

/** Recursive-descent parser for the JS regex syntax the redaction rules use. */
class RegexParser {
  private pos = 0;
  private readonly ignoreCase: boolean;
  private readonly dotAll: boolean;
  private readonly unicode: boolean;

  constructor(
    private readonly src: string,
    flags: string,
  ) {
    this.ignoreCase = flags.includes('i');
    this.dotAll = flags.includes('s');
    this.unicode = flags.includes('u') || flags.includes('v');
  }

  parse(): RegexNode {
    const node = this.parseAlternation();
    if (this.pos < this.src.length) throw new ParseError(`unexpected "${this.src[this.pos]}"`);
    return node;
  }

  private parseAlternation(): RegexNode {
    const options = [this.parseSequence()];
    while (this.src[this.pos] === '|') {
      this.pos++;
      options.push(this.parseSequence());
    }
    return options.length === 1 ? options[0]! : { type: 'alt', options };
  }

  private parseSequence(): RegexNode {
    const items: RegexNode[] = [];
    while (this.pos < this.src.length && this.src[this.pos] !== '|' && this.src[this.pos] !== ')') {
      const start = this.pos;
      const atom = this.parseAtom();
      items.push(this.parseQuantifier(atom, start));
    }
    return items.length === 1 ? items[0]! : { type: 'seq', items };
  }

  private parseQuantifier(atom: RegexNode, start: number): RegexNode {
    const c = this.src[this.pos];
    let min: number;
    let max: number;
    if (c === '*') [min, max] = [0, Infinity];
    else if (c === '+') [min, max] = [1, Infinity];
    else if (c === '?') [min, max] = [0, 1];
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.pos));
      if (!m) {
        if (this.unicode) throw new ParseError('incomplete quantifier');
        return atom; // a literal "{" outside unicode mode
      }
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
      this.pos += m[0].length - 1;
    } else {
      return atom;
    }
    this.pos++;
    if (this.src[this.pos] === '?') this.pos++; // lazy: same ambiguity
    if (atom.type === 'assert' || atom.type === 'look') return atom;
    return { type: 'repeat', body: atom, min, max, start, end: this.pos };
  }

  private parseAtom(): RegexNode {
    const c = this.src[this.pos]!;
    switch (c) {
      case '(':
        return this.parseGroup();
      case '[':
        return { type: 'char', set: this.fold(this.parseClass()) };
      case '.':
        this.pos++;
        return { type: 'char', set: this.dotAll ? CharSet.any() : LINE_TERMINATORS.complement() };
      case '^':
      case '$':
        this.pos++;
        return { type: 'assert' };
      case '\\':
        return this.parseEscapeAtom();
      case '*':
      case '+':
      case '?':
        throw new ParseError(`nothing to repeat before "${c}"`);
      default: {
        const code = this.src.codePointAt(this.pos)!;
        this.pos += code > 0xffff ? 2 : 1;
        return { type: 'char', set: this.fold(CharSet.of(code)) };
      }
    }
  }

  private parseGroup(): RegexNode {
    this.pos++; // (
    let look = false;
    if (this.src[this.pos] === '?') {
      const rest = this.src.slice(this.pos, this.pos + 3);
      if (rest.startsWith('?:')) this.pos += 2;
      else if (rest.startsWith('?=') || rest.startsWith('?!')) [this.pos, look] = [this.pos + 2, true];
      else if (rest === '?<=' || rest === '?<!') [this.pos, look] = [this.pos + 3, true];
      else if (rest.startsWith('?<')) {
        const close = this.src.indexOf('>', this.pos);
        if (close < 0) throw new ParseError('unterminated group name');
        this.pos = close + 1;
      } else {
        // Modifiers such as (?i:…): treated as a plain group.
        const colon = this.src.indexOf(':', this.pos);
        if (colon < 0) throw new ParseError('invalid group');
        this.pos = colon + 1;
      }
    }
    const body = this.parseAlternation();
    if (this.src[this.pos] !== ')') throw new ParseError('unterminated group');
    this.pos++;
    return look ? { type: 'look', body } : { type: 'group', body };
  }

  private parseEscapeAtom(): RegexNode {
    const next = this.src[this.pos + 1];
    if (next === undefined) throw new ParseError('\\ at end of pattern');
    if (next === 'b' || next === 'B') {
      this.pos += 2;
      return { type: 'assert' };
    }
    if (/[1-9]/.test(next) || (next === 'k' && this.src[this.pos + 2] === '<')) {
      this.pos += 2;
      if (next === 'k') this.pos = this.src.indexOf('>', this.pos) + 1 || this.src.length;
      else while (/[0-9]/.test(this.src[this.pos] ?? '')) this.pos++;
      return { type: 'backref' };
    }
    return { type: 'char', set: this.fold(this.parseEscapeSet()) };
  }

  /** The set of one escape (`\d`, `\n`, `\x41`, `\.`…); `pos` is at the backslash. */
  private parseEscapeSet(): CharSet {
    this.pos++;
    const c = this.src[this.pos]!;
    this.pos++;
    switch (c) {
      case 'd':
        return DIGITS;
      case 'D':
        return DIGITS.complement();
      case 'w':
        return WORD;
      case 'W':
        return WORD.complement();
      case 's':
        return SPACE;
      case 'S':
        return SPACE.complement();
      case 'n':
        return CharSet.of(10);
      case 'r':
        return CharSet.of(13);
      case 't':
        return CharSet.of(9);
      case 'v':
        return CharSet.of(11);
      case 'f':
        return CharSet.of(12);
      case '0':
        return CharSet.of(0);
      case 'c':
        this.pos++;
        return CharSet.any();
      case 'x': {
        const hex = /^[0-9A-Fa-f]{2}/.exec(this.src.slice(this.pos));
        if (!hex) return CharSet.of(120);
        this.pos += 2;
        return CharSet.of(parseInt(hex[0], 16));
      }
      case 'u': {
        const braced = /^\{([0-9A-Fa-f]{1,6})\}/.exec(this.src.slice(this.pos));
        if (braced && this.unicode) {
          this.pos += braced[0].length;
          return CharSet.of(parseInt(braced[1]!, 16));
        }
        const hex = /^[0-9A-Fa-f]{4}/.exec(this.src.slice(this.pos));
        if (!hex) return CharSet.of(117);
        this.pos += 4;
        return CharSet.of(parseInt(hex[0], 16));
      }
      case 'p':
      case 'P': {
        if (this.src[this.pos] === '{') this.pos = this.src.indexOf('}', this.pos) + 1 || this.src.length;
        return CharSet.any();
      }
      default:
        return CharSet.of(c.codePointAt(0)!);
    }
  }

  private parseClass(): CharSet {
    this.pos++; // [
    let negate = false;
    if (this.src[this.pos] === '^') {
      negate = true;
      this.pos++;
    }
    let set = new CharSet();
    while (this.pos < this.src.length && this.src[this.pos] !== ']') {
      if (this.src[this.pos] === '[') {
        // v-mode nested class or set operation: give up precision, stay conservative.
        let depth = 0;
        while (this.pos < this.src.length) {
          if (this.src[this.pos] === '\\') this.pos++;
          else if (this.src[this.pos] === '[') depth++;
          else if (this.src[this.pos] === ']' && --depth === 0) break;
          this.pos++;
        }
        this.pos++;
        set = CharSet.any();
        continue;
      }
      const low = this.classAtom();
      if (this.src[this.pos] === '-' && this.src[this.pos + 1] !== ']' && this.pos + 1 < this.src.length) {
        this.pos++;
        const high = this.classAtom();
        if (typeof low === 'number' && typeof high === 'number') {
          if (high < low) throw new ParseError('range out of order in character class');
          set.addRange(low, high);
        } else {
          set = set.union(typeof low === 'number' ? CharSet.of(low, 45) : low);
          set = set.union(typeof high === 'number' ? CharSet.of(high) : high);
        }
      } else {
        set = set.union(typeof low === 'number' ? CharSet.of(low) : low);
      }
    }
    if (this.src[this.pos] !== ']') throw new ParseError('unterminated character class');
    this.pos++;
    return negate ? set.complement() : set;
  }

  /** One class member: a code point, or a set for class escapes such as `\d`. */
  private classAtom(): number | CharSet {
    if (this.src[this.pos] === '\\') {
      const next = this.src[this.pos + 1];
      if (next === 'b') {
        this.pos += 2;
        return 8;
      }
      if (next !== undefined && 'dDwWsSpP'.includes(next)) return this.parseEscapeSet();
      const set = this.parseEscapeSet();
      for (let c = 0; c < 128; c++) if (set.has(c)) return c;
      return 0x80;
    }
    const code = this.src.codePointAt(this.pos)!;
    this.pos += code > 0xffff ? 2 : 1;
    return code;
  }

  private fold(set: CharSet): CharSet {
    return this.ignoreCase ? set.caseFolded() : set;
  }
}

function minLength(node: RegexNode): number {
  switch (node.type) {
    case 'char':
      return 1;
    case 'seq':
      return node.items.reduce((sum, item) => sum + minLength(item), 0);
    case 'alt':
      return Math.min(...node.options.map(minLength));
    case 'group':
      return minLength(node.body);
    case 'repeat':
      return node.min === 0 ? 0 : node.min * minLength(node.body);
    default:
      return 0;
  }
}

function nullable(node: RegexNode): boolean {
  return minLength(node) === 0;
}

const EMPTY = new CharSet();

/** Characters a non-empty match of `node` can start with. */
function firstChars(node: RegexNode): CharSet {
  switch (node.type) {
    case 'char':
      return node.set;
    case 'seq': {
      let set = EMPTY;
      for (const item of node.items) {
        set = set.union(firstChars(item));
        if (!nullable(item)) break;
      }
      return set;
    }
    case 'alt':
      return node.options.reduce((set, option) => set.union(firstChars(option)), EMPTY);
    case 'group':
      return firstChars(node.body);
    case 'repeat':
      return node.max > 0 ? firstChars(node.body) : EMPTY;
    case 'backref':
      return CharSet.any();
    default:
      return EMPTY;
  }
}

/** Every character `node` can consume. */
function allChars(node: RegexNode): CharSet {
  switch (node.type) {
    case 'char':
      return node.set;
    case 'seq':
      return node.items.reduce((set, item) => set.union(allChars(item)), EMPTY);
    case 'alt':
      return node.options.reduce((set, option) => set.union(allChars(option)), EMPTY);
    case 'group':
    case 'repeat':
      return allChars(node.body);
    case 'backref':
      return CharSet.any();
    default:
      return EMPTY;
  }
}

function isVariable(node: RegexNode): boolean {
  return node.type === 'repeat' && node.min !== node.max;
}

export interface BacktrackingRisk {
  /** `nested quantifier`, `quantified overlapping alternation` or `adjacent overlapping quantifiers`. */
  reason: string;
  /** The part of the pattern at fault, e.g. `(a+)+`. */
  fragment: string;
}

class Analyzer {
  risk: BacktrackingRisk | undefined;

  constructor(private readonly src: string) {}

  private flag(reason: string, start: number, end: number): void {
    this.risk ??= { reason, fragment: this.src.slice(start, end) };
  }

  /**
   * Walks `node`; `follow` holds what can come right after it, `loop` is the innermost
   * enclosing repeat whose next iteration makes any ambiguity exponential.
   */
  check(node: RegexNode, follow: CharSet, loop: Extract<RegexNode, { type: 'repeat' }> | undefined): void {
    if (this.risk) return;
    switch (node.type) {
      case 'seq': {
        const { items } = node;
        let after = follow;
        const follows: CharSet[] = new Array<CharSet>(items.length);
        for (let i = items.length - 1; i >= 0; i--) {
          follows[i] = after;
          after = nullable(items[i]!) ? firstChars(items[i]!).union(after) : firstChars(items[i]!);
        }
        for (let i = 0; i < items.length; i++) {
          this.checkAdjacentUnbounded(items, i);
          this.check(items[i]!, follows[i]!, loop);
        }
        return;
      }
      case 'alt':
        for (const option of node.options) this.check(option, follow, loop);
        return;
      case 'group':
        this.check(node.body, follow, loop);
        return;
      case 'look':
        this.check(node.body, EMPTY, undefined);
        return;
      case 'repeat': {
        if (loop && isVariable(node) && allChars(node.body).intersects(follow)) {
          this.flag('nested quantifier', loop.start, loop.end);
          return;
        }
        if (node.max > 1) {
          if (nullable(node.body)) {
            this.flag('nested quantifier', node.start, node.end);
            return;
          }
          const alternation = unwrapGroups(node.body);
          if (alternation.type === 'alt' && branchesOverlap(alternation.options)) {
            this.flag('quantified overlapping alternation', node.start, node.end);
            return;
          }
          this.check(node.body, firstChars(node.body).union(follow), loop ?? node);
        } else {
          this.check(node.body, follow, loop);
        }
        return;
      }
      default:
        return;
    }
  }

  /** `\w+\d+`-like pairs: polynomial backtracking on a long failing run. */
  private checkAdjacentUnbounded(items: RegexNode[], i: number): void {
    const item = unwrapGroups(items[i]!);
    if (item.type !== 'repeat' || item.max !== Infinity) return;
    const chars = allChars(item.body);
    for (let j = i + 1; j < items.length; j++) {
      const next = unwrapGroups(items[j]!);
      if (next.type === 'repeat' && next.max === Infinity && allChars(next.body).intersects(chars)) {
        this.flag('adjacent overlapping quantifiers', item.start, next.end);
        return;
      }
      if (!nullable(items[j]!)) return;
    }
  }
}

function unwrapGroups(node: RegexNode): RegexNode {
  let current = node;
  while (current.type === 'group') current = current.body;
  return current;
}

function branchesOverlap(options: RegexNode[]): boolean {
  if (options.some(nullable)) return true;
  const firsts = options.map(firstChars);
  for (let a = 0; a < firsts.length; a++) {
    for (let b = a + 1; b < firsts.length; b++) if (firsts[a]!.intersects(firsts[b]!)) return true;
  }
  return false;
}

export type PatternAnalysis =
  | { ok: true; minLength: number }
  | { ok: false; error: string }
  | { ok: false; risk: BacktrackingRisk };

/**
 * Compiles `source` with `flags` (to catch what V8 rejects) and analyses it. `error` is the
 * engine's or the parser's message; `risk` says which construct may backtrack catastrophically.
 */
export function analyzePattern(source: string, flags = ''): PatternAnalysis {
  try {
    new RegExp(source, flags);
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  let tree: RegexNode;
  try {
    tree = new RegexParser(source, flags).parse();
  } catch (err) {
    return { ok: false, error: `cannot analyse the pattern: ${(err as Error).message}` };
  }
  const analyzer = new Analyzer(source);
  analyzer.check(tree, EMPTY, undefined);
  if (analyzer.risk) return { ok: false, risk: analyzer.risk };
  return { ok: true, minLength: minLength(tree) };
}

/** True when the pattern has `*`, `+` or `{n,}` anywhere (built-in rules use bounded repeats only). */
export function hasUnboundedQuantifier(source: string, flags = ''): boolean {
  const walk = (node: RegexNode): boolean => {
    switch (node.type) {
      case 'repeat':
        return node.max === Infinity || walk(node.body);
      case 'seq':
        return node.items.some(walk);
      case 'alt':
        return node.options.some(walk);
      case 'group':
      case 'look':
        return walk(node.body);
      default:
        return false;
    }
  };
  return walk(new RegexParser(source, flags).parse());
}
