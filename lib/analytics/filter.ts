import { BatchflowError } from '../errors.ts';

/**
 * A job's filter over dimensions, e.g. `status = "active" and not region in ('eu', 'us')`.
 *
 * ```ebnf
 * filter      = disjunction ;
 * disjunction = conjunction , { "or" , conjunction } ;
 * conjunction = negation , { "and" , negation } ;
 * negation    = "not" , negation | "(" , disjunction , ")" | comparison ;
 * comparison  = dimension , ( ( "=" | "!=" ) , literal
 *                           | [ "not" ] , "in" , "(" , literal , { "," , literal } , ")" ) ;
 * dimension   = ( letter | "_" ) , { letter | digit | "_" } | "`" , { char | escape } , "`" ;
 * literal     = "'" , { char | escape } , "'" | '"' , { char | escape } , '"'
 *             | [ "-" ] , digit , { digit } , [ "." , digit , { digit } ] ;
 * escape      = "\" , ( "\" | "'" | '"' | "`" | "n" | "r" | "t" | "u" , 4 * hexdigit ) ;
 * ```
 *
 * Keywords (and, or, not, in) are case-insensitive; a dimension spelled like one is backquoted.
 * Dimensions are text, so values compare as text: a number literal stands for its canonical
 * decimal text (`007.50` → "7.5", `-0` → "0"). A missing dimension value equals nothing.
 * Positions in errors are 1-based UTF-16 offsets; at most 64 levels of nesting and 256
 * comparisons, so the tree (and the SQL built from it) stays shallow.
 */

/** A parsed filter: comparisons of one dimension with literal values (always text), combined. */
export type FilterExpr =
  | { readonly kind: 'compare'; readonly dimension: string; readonly op: '=' | '!='; readonly value: string }
  | { readonly kind: 'in'; readonly dimension: string; readonly negated: boolean; readonly values: readonly string[] }
  | { readonly kind: 'not'; readonly operand: FilterExpr }
  | { readonly kind: 'and' | 'or'; readonly left: FilterExpr; readonly right: FilterExpr };

/** A filter that cannot be parsed or does not fit the dataset; `position` is 1-based when known. */
export class FilterError extends BatchflowError {
  override name = 'FilterError';
  constructor(
    message: string,
    readonly position?: number,
  ) {
    super(`filter: ${message}`);
  }
}

/** Parses filter text into its syntax tree; throws FilterError with the position and what was expected. */
export function parseFilter(text: string): FilterExpr {
  const lexer = createLexer(text);
  const expr = parseDisjunction(lexer, 0);
  expectToken(lexer, 'end', ['and', 'or', 'end']);
  return expr;
}

/** The dimensions a filter reads, each once, in order of first appearance. */
export function filterDimensions(expr: FilterExpr): string[] {
  const seen = new Set<string>();
  const visit = (e: FilterExpr): void => {
    if (e.kind === 'compare' || e.kind === 'in') seen.add(e.dimension);
    else if (e.kind === 'not') visit(e.operand);
    else {
      visit(e.left);
      visit(e.right);
    }
  };
  visit(expr);
  return [...seen];
}

/** Throws FilterError naming the first dimension of the filter that is not among `dimensions`. */
export function validateFilter(expr: FilterExpr, dimensions: readonly string[]): void {
  const unknown = filterDimensions(expr).find((d) => !dimensions.includes(d));
  if (unknown !== undefined) {
    throw new FilterError(`unknown dimension ${JSON.stringify(unknown)}, expected one of ${dimensions.join(', ') || '(none)'}`);
  }
}

/** Whether dimension values satisfy the filter (a missing value equals nothing, as SQL NULL here). */
export function evaluateFilter(expr: FilterExpr, values: Readonly<Record<string, string>>): boolean {
  switch (expr.kind) {
    case 'compare':
      return (Object.hasOwn(values, expr.dimension) && values[expr.dimension] === expr.value) === (expr.op === '=');
    case 'in':
      return (Object.hasOwn(values, expr.dimension) && expr.values.includes(values[expr.dimension])) !== expr.negated;
    case 'not':
      return !evaluateFilter(expr.operand, values);
    case 'and':
      return evaluateFilter(expr.left, values) && evaluateFilter(expr.right, values);
    case 'or':
      return evaluateFilter(expr.left, values) || evaluateFilter(expr.right, values);
  }
}

/** The filter as text that parses back to the same tree (canonical spacing, quoting and parentheses). */
export function formatFilter(expr: FilterExpr): string {
  const operand = (e: FilterExpr) => (e.kind === 'and' || e.kind === 'or' ? `(${formatFilter(e)})` : formatFilter(e));
  switch (expr.kind) {
    case 'compare':
      return `${formatDimension(expr.dimension)} ${expr.op} ${quote(expr.value, '"')}`;
    case 'in':
      return `${formatDimension(expr.dimension)} ${expr.negated ? 'not in' : 'in'} (${expr.values.map((v) => quote(v, '"')).join(', ')})`;
    case 'not':
      return `not ${operand(expr.operand)}`;
    case 'and':
    case 'or':
      return `${operand(expr.left)} ${expr.kind} ${operand(expr.right)}`;
  }
}

const KEYWORDS = new Set(['and', 'or', 'not', 'in']);
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ESCAPES: Readonly<Record<string, string>> = { '\\': '\\', "'": "'", '"': '"', '`': '`', n: '\n', r: '\r', t: '\t' };
// Ample for a hand-written filter; small enough that recursion over the tree — here, in
// postgres.js and in Postgres's own parser — cannot overflow a stack.
const MAX_DEPTH = 64;
const MAX_COMPARISONS = 256;

function formatDimension(name: string): string {
  return IDENTIFIER.test(name) && !KEYWORDS.has(name.toLowerCase()) ? name : quote(name, '`');
}

function quote(text: string, mark: string): string {
  let out = mark;
  for (const ch of text) {
    if (ch === '\\' || ch === mark) out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else out += ch;
  }
  return out + mark;
}

type TokenKind = 'dimension' | 'keyword' | 'string' | 'number' | 'punct' | 'end' | 'invalid';

interface Token {
  readonly kind: TokenKind;
  /** The identifier, keyword (lower case), value or punctuation. */
  readonly value: string;
  /** 1-based position of the token's first character. */
  readonly at: number;
}

interface Lexer {
  peek(): Token;
  next(): Token;
  /** Comparisons parsed so far, bounded by MAX_COMPARISONS. */
  comparisons: number;
}

/** Tokens on demand, so a syntax error earlier in the text is reported before a lexical one later. */
/**
 * A string or dimension as Postgres can compare it. NUL: a text parameter cannot hold U+0000 (the
 * run failed with "invalid byte sequence" from the database), and ingestion rejects such values, so
 * no data holds one. A lone surrogate is sent as U+FFFD and would match data holding that instead.
 */
function checkedLiteral(token: Token): Token {
  const what = token.kind === 'string' ? 'string' : 'dimension';
  if (token.value.includes('\u0000')) throw new FilterError(`${what} starting at ${token.at} holds NUL (U+0000), which no dimension value can`, token.at);
  if (/\p{Surrogate}/u.test(token.value)) throw new FilterError(`${what} starting at ${token.at} holds a lone UTF-16 surrogate, which is not Unicode text`, token.at);
  return token;
}

function createLexer(text: string): Lexer {
  let i = 0;
  let ahead: Token | undefined;
  const quoted = (kind: TokenKind, mark: string): Token => {
    const start = i++;
    let value = '';
    for (;;) {
      if (i >= text.length) throw new FilterError(`unterminated ${kind === 'string' ? 'string' : 'dimension'} starting at ${start + 1}, expected ${mark}`, start + 1);
      const ch = text[i++];
      if (ch === mark) return checkedLiteral({ kind, value, at: start + 1 });
      if (ch !== '\\') {
        value += ch;
        continue;
      }
      const esc = text[i] ?? '';
      if (esc === 'u' && /^[0-9A-Fa-f]{4}$/.test(text.slice(i + 1, i + 5))) {
        value += String.fromCharCode(parseInt(text.slice(i + 1, i + 5), 16));
        i += 5;
      } else if (Object.hasOwn(ESCAPES, esc)) {
        value += ESCAPES[esc];
        i++;
      } else {
        throw new FilterError(`unknown escape "\\${esc}" at ${i}, expected one of \\\\ \\' \\" \\\` \\n \\r \\t \\uXXXX`, i);
      }
    }
  };
  const scan = (): Token => {
    while (i < text.length && /\s/.test(text[i])) i++;
    const at = i + 1;
    if (i >= text.length) return { kind: 'end', value: '', at };
    const rest = text.slice(i);
    const ch = text[i];
    if (ch === '"' || ch === "'") return quoted('string', ch);
    if (ch === '`') return quoted('dimension', ch);
    const number = /^-?(\d+)(?:\.(\d+))?/.exec(rest);
    if (number) {
      i += number[0].length;
      return { kind: 'number', value: canonicalDecimal(number[0].startsWith('-'), number[1], number[2] ?? ''), at };
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
    if (word) {
      i += word[0].length;
      const lower = word[0].toLowerCase();
      return KEYWORDS.has(lower) ? { kind: 'keyword', value: lower, at } : { kind: 'dimension', value: word[0], at };
    }
    const punct = /^(!=|[=(),])/.exec(rest);
    if (punct) {
      i += punct[0].length;
      return { kind: 'punct', value: punct[0], at };
    }
    // One whole code point, so the message shows the character rather than half a surrogate pair.
    const bad = String.fromCodePoint(text.codePointAt(i)!);
    i += bad.length;
    return { kind: 'invalid', value: bad, at };
  };
  return {
    comparisons: 0,
    peek: () => (ahead ??= scan()),
    next: () => {
      const t = ahead ?? scan();
      ahead = undefined;
      return t;
    },
  };
}

/** Decimal text without redundant zeros, so `42`, `042` and `42.0` all compare as "42". */
function canonicalDecimal(negative: boolean, whole: string, fraction: string): string {
  const w = whole.replace(/^0+(?=\d)/, '');
  const f = fraction.replace(/0+$/, '');
  const digits = f ? `${w}.${f}` : w;
  return negative && /[1-9]/.test(digits) ? `-${digits}` : digits;
}

function describe(t: Token): string {
  if (t.kind === 'end') return 'end';
  if (t.kind === 'string') return `string ${JSON.stringify(t.value)}`;
  if (t.kind === 'number') return `number ${t.value}`;
  return JSON.stringify(t.value);
}

function fail(t: Token, expected: readonly string[]): never {
  const list = expected.length > 1 ? `${expected.slice(0, -1).join(', ')} or ${expected.at(-1)}` : expected[0];
  throw new FilterError(`unexpected ${describe(t)} at ${t.at}, expected ${list}`, t.at);
}

function accept(lexer: Lexer, kind: TokenKind, value?: string): boolean {
  const t = lexer.peek();
  if (t.kind !== kind || (value !== undefined && t.value !== value)) return false;
  lexer.next();
  return true;
}

function expectToken(lexer: Lexer, kind: TokenKind, expected: readonly string[], value?: string): void {
  if (!accept(lexer, kind, value)) fail(lexer.peek(), expected);
}

function parseDisjunction(lexer: Lexer, depth: number): FilterExpr {
  let left = parseConjunction(lexer, depth);
  while (accept(lexer, 'keyword', 'or')) left = { kind: 'or', left, right: parseConjunction(lexer, depth) };
  return left;
}

function parseConjunction(lexer: Lexer, depth: number): FilterExpr {
  let left = parseNegation(lexer, depth);
  while (accept(lexer, 'keyword', 'and')) left = { kind: 'and', left, right: parseNegation(lexer, depth) };
  return left;
}

function parseNegation(lexer: Lexer, depth: number): FilterExpr {
  const t = lexer.peek();
  if (depth >= MAX_DEPTH) throw new FilterError(`nesting deeper than ${MAX_DEPTH} at ${t.at}`, t.at);
  if (accept(lexer, 'keyword', 'not')) return { kind: 'not', operand: parseNegation(lexer, depth + 1) };
  if (accept(lexer, 'punct', '(')) {
    const inner = parseDisjunction(lexer, depth + 1);
    expectToken(lexer, 'punct', ['and', 'or', ')'], ')');
    return inner;
  }
  if (t.kind !== 'dimension') fail(t, ['a dimension', 'not', '(']);
  if (++lexer.comparisons > MAX_COMPARISONS) throw new FilterError(`more than ${MAX_COMPARISONS} comparisons at ${t.at}`, t.at);
  lexer.next();
  return parseComparison(lexer, t.value);
}

function parseComparison(lexer: Lexer, dimension: string): FilterExpr {
  const op = lexer.peek();
  if (op.kind === 'punct' && (op.value === '=' || op.value === '!=')) {
    lexer.next();
    return { kind: 'compare', dimension, op: op.value, value: parseLiteral(lexer) };
  }
  const negated = accept(lexer, 'keyword', 'not');
  expectToken(lexer, 'keyword', negated ? ['in'] : ['=', '!=', 'in', 'not in'], 'in');
  expectToken(lexer, 'punct', ['('], '(');
  const values = [parseLiteral(lexer)];
  while (accept(lexer, 'punct', ',')) values.push(parseLiteral(lexer));
  expectToken(lexer, 'punct', [',', ')'], ')');
  return { kind: 'in', dimension, negated, values };
}

function parseLiteral(lexer: Lexer): string {
  const t = lexer.peek();
  if (t.kind !== 'string' && t.kind !== 'number') fail(t, ['a string', 'a number']);
  lexer.next();
  return t.value;
}
