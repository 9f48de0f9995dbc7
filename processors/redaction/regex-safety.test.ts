import { describe, expect, it } from 'vitest';
import { analyzePattern, hasUnboundedQuantifier } from './regex-safety.js';

function risk(source: string, flags = ''): string | undefined {
  const analysis = analyzePattern(source, flags);
  if (analysis.ok) return undefined;
  return 'risk' in analysis ? `${analysis.risk.reason} "${analysis.risk.fragment}"` : `error: ${analysis.error}`;
}

describe('catastrophic backtracking check', () => {
  it.each([
    ['(a+)+', 'nested quantifier "(a+)+"'],
    ['^(a+)+$', 'nested quantifier "(a+)+"'],
    ['(\\w+\\s?)*', 'nested quantifier "(\\w+\\s?)*"'],
    ['(a*)*b', 'nested quantifier "(a*)*"'],
    ['(?:a?){2,30}', 'nested quantifier "(?:a?){2,30}"'],
    ['(a{1,3}){2,9}', 'nested quantifier "(a{1,3}){2,9}"'],
    ['acme_(?:[a-z0-9]+-?)+', 'nested quantifier "(?:[a-z0-9]+-?)+"'],
    ['(a|ab)*c', 'quantified overlapping alternation "(a|ab)*"'],
    ['(\\w|\\d)+', 'quantified overlapping alternation "(\\w|\\d)+"'],
    ['(A|a)+', 'quantified overlapping alternation "(A|a)+"', 'i'],
    ['\\w+\\d+x', 'adjacent overlapping quantifiers "\\w+\\d+"'],
    ['.*\\s?.*=', 'adjacent overlapping quantifiers ".*\\s?.*"'],
  ])('rejects %s', (source, expected, flags = '') => {
    expect(risk(source, flags)).toBe(expected);
  });

  it.each([
    'acme_[A-Za-z0-9]{32}',
    'acme_[a-z0-9]+',
    '(?:\\d[ -]?){12,18}\\d',
    '(?: ?[A-Z0-9]){11,30}',
    '(?:[A-Za-z0-9-]{1,63}\\.){1,8}[A-Za-z]{2,24}',
    '(?:ab|cd)+',
    '(?:https?|ftp)://[^\\s]+',
    '\\w+@',
    'eyJ[A-Za-z0-9_-]{5,4096}\\.[A-Za-z0-9_-]{2,16384}',
    '(?<=[?&])token=(?<secret>[^&]{1,100})',
  ])('accepts %s', (source) => {
    expect(risk(source)).toBeUndefined();
  });

  it('reports what V8 rejects', () => {
    expect(risk('(')).toMatch(/^error: Invalid regular expression/);
    expect(risk('[z-a]')).toMatch(/^error: /);
    expect(risk('a', 'q')).toMatch(/^error: /);
  });

  it('computes the minimum match length', () => {
    expect(analyzePattern('ghp_[A-Za-z0-9]{36}')).toEqual({ ok: true, minLength: 40 });
    expect(analyzePattern('(?<![a-z])ab(?:cd)?e{2,5}')).toEqual({ ok: true, minLength: 4 });
    expect(analyzePattern('a|bcd')).toEqual({ ok: true, minLength: 1 });
    expect(analyzePattern('x*')).toEqual({ ok: true, minLength: 0 });
  });

  it('finds unbounded quantifiers', () => {
    expect(hasUnboundedQuantifier('a{1,5}b?')).toBe(false);
    expect(hasUnboundedQuantifier('(?:a{1,5})+')).toBe(true);
    expect(hasUnboundedQuantifier('a{2,}')).toBe(true);
    expect(hasUnboundedQuantifier('[+*]{1,2}')).toBe(false);
  });
});
