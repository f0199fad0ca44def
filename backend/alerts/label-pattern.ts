/**
 * Regular expressions of silence matchers (`=~`, `!~`), matched in time
 * linear in the label value: the pattern is compiled to a small program and
 * run by pattern-machine.ts (a Pike VM with a lazily built DFA, no
 * backtracking), so no pattern can make a match slow, unlike a backtracking
 * engine on `(a+)+$`. The syntax is
 * the part of RE2's (Alertmanager's) that matchers use: literals, `.`,
 * classes (`[a-z]`, `[^…]`, `\d \w \s` and their negations), groups (`(…)`,
 * `(?:…)`, `(?P<name>…)`), `|`, and `* + ? {n} {n,} {n,m}` (lazy forms
 * accepted). A match is anchored at both ends, as Alertmanager anchors it.
 * Backreferences, lookarounds and flags are refused.
 */

/** Longest pattern accepted, characters. */
export const MAX_PATTERN_LENGTH = 256;
/**
 * Largest compiled program (counted repetitions are expanded), instructions. A test costs at most
 * (value length + 1) × program size thread steps: with label values of up to 1,024 characters,
 * about 2 ms for the worst program accepted (docs/PERFORMANCE.md, "Silence matching").
 */
export const MAX_PROGRAM = 512;
const MAX_REPEAT = 100;

export class PatternError extends Error {}

import { type Inst, PatternMachine, type Ranges } from "./pattern-machine.ts";

type Node =
  | { t: "set"; ranges: Ranges; negated: boolean }
  | { t: "cat"; items: Node[] }
  | { t: "alt"; items: Node[] }
  | { t: "rep"; item: Node; min: number; max: number };

const DIGIT: Ranges = [[48, 57]];
const WORD: Ranges = [[48, 57], [65, 90], [95, 95], [97, 122]];
const SPACE: Ranges = [[9, 13], [32, 32]];
const META = new Set([..."\\.+*?()|[]{}^$"]);

class Parser {
  i = 0;
  readonly chars: string[];
  constructor(source: string) {
    this.chars = [...source];
  }
  fail(message: string): never {
    throw new PatternError(`${message} at position ${this.i}`);
  }
  peek(): string | undefined {
    return this.chars[this.i];
  }
  alt(): Node {
    const items = [this.cat()];
    while (this.peek() === "|") this.i++, items.push(this.cat());
    return items.length === 1 ? items[0] : { t: "alt", items };
  }
  cat(): Node {
    const items: Node[] = [];
    for (let c = this.peek(); c !== undefined && c !== "|" && c !== ")"; c = this.peek()) {
      items.push(this.repeat(this.atom()));
    }
    return { t: "cat", items };
  }
  repeat(item: Node): Node {
    let node = item;
    for (;;) {
      const c = this.peek();
      const at = this.i;
      let min: number, max: number;
      if (c === "*") (min = 0), (max = Infinity), this.i++;
      else if (c === "+") (min = 1), (max = Infinity), this.i++;
      else if (c === "?") (min = 0), (max = 1), this.i++;
      else if (c === "{" && /^\{\d+(,\d*)?\}/.test(this.chars.slice(this.i, this.i + 12).join(""))) {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(this.chars.slice(this.i, this.i + 12).join(""))!;
        min = Number(m[1]);
        max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
        if (min > MAX_REPEAT || (max !== Infinity && (max > MAX_REPEAT || max < min))) {
          this.fail(`repetition {${m[1]}${m[2] ?? ""}} must be within 0..${MAX_REPEAT}, min <= max`);
        }
        this.i += m[0].length;
      } else return node;
      if (this.peek() === "?") this.i++; // lazy: the same set of matches
      if (node.t === "rep") (this.i = at), this.fail("a repetition cannot be repeated directly");
      node = { t: "rep", item: node, min, max };
    }
  }
  atom(): Node {
    const c = this.chars[this.i++];
    if (c === "(") {
      if (this.peek() === "?") {
        const head = this.chars.slice(this.i, this.i + 3).join("");
        if (head.startsWith("?:")) this.i += 2;
        else if (head === "?P<" || head.startsWith("?<") && !/^\?<[=!]/.test(head)) {
          const close = this.chars.indexOf(">", this.i);
          const name = close < 0 ? "" : this.chars.slice(this.i + (head === "?P<" ? 3 : 2), close).join("");
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) this.fail("bad group name");
          this.i = close + 1;
        } else this.fail("lookarounds and flags are not supported");
      }
      const inner = this.alt();
      if (this.peek() !== ")") this.fail("missing )");
      this.i++;
      return inner;
    }
    if (c === ".") return { t: "set", ranges: [[10, 10]], negated: true };
    if (c === "[") return this.charClass();
    if (c === "\\") return this.escape(false);
    if (c === "^" || c === "$") this.fail(`${c} is implied: a matcher matches the whole value`);
    // `{`, `}` and `]` that do not open or close anything are literals, as in RE2.
    if (c === ")" || c === "*" || c === "+" || c === "?") {
      this.i--;
      this.fail(`unexpected ${c}`);
    }
    const code = c.codePointAt(0)!;
    return { t: "set", ranges: [[code, code]], negated: false };
  }
  escape(inClass: boolean): Node & { t: "set" } {
    const c = this.chars[this.i++];
    if (c === undefined) this.fail("trailing backslash");
    const set = (ranges: Ranges, negated = false) => ({ t: "set" as const, ranges, negated });
    switch (c) {
      case "d":
        return set(DIGIT);
      case "D":
        return set(DIGIT, true);
      case "w":
        return set(WORD);
      case "W":
        return set(WORD, true);
      case "s":
        return set(SPACE);
      case "S":
        return set(SPACE, true);
      case "t":
        return set([[9, 9]]);
      case "n":
        return set([[10, 10]]);
      case "r":
        return set([[13, 13]]);
      case "f":
        return set([[12, 12]]);
      case "v":
        return set([[11, 11]]);
    }
    if (META.has(c) || c === "-" || c === "/" || (!/[A-Za-z0-9]/.test(c) && c.codePointAt(0)! < 128)) {
      const code = c.codePointAt(0)!;
      return set([[code, code]]);
    }
    this.i--;
    return this.fail(`unsupported escape \\${c}${inClass ? " in a class" : ""}`);
  }
  charClass(): Node {
    const negated = this.peek() === "^";
    if (negated) this.i++;
    const ranges: Ranges = [];
    let first = true;
    for (;;) {
      const c = this.chars[this.i++];
      if (c === undefined) this.i--, this.fail("missing ]");
      if (c === "]" && !first) break;
      first = false;
      let lo: number;
      if (c === "\\") {
        const e = this.escape(true);
        if (e.negated || e.ranges.length !== 1 || e.ranges[0][0] !== e.ranges[0][1]) {
          if (e.negated) this.fail("negated classes (\\D, \\W, \\S) are not supported inside []");
          ranges.push(...e.ranges);
          continue;
        }
        lo = e.ranges[0][0];
      } else lo = c.codePointAt(0)!;
      if (this.peek() === "-" && this.chars[this.i + 1] !== "]" && this.chars[this.i + 1] !== undefined) {
        this.i++;
        const h = this.chars[this.i++];
        const hi = h === "\\" ? this.escape(true).ranges[0][0] : h.codePointAt(0)!;
        if (hi < lo) this.fail("range out of order");
        ranges.push([lo, hi]);
      } else ranges.push([lo, lo]);
    }
    return { t: "set", ranges, negated };
  }
}

const tooComplex = () =>
  new PatternError(
    `pattern is too complex: over ${MAX_PROGRAM} steps per character once repetitions are expanded`,
  );

function emit(node: Node, prog: Inst[]): void {
  if (prog.length > MAX_PROGRAM) throw tooComplex();
  switch (node.t) {
    case "set":
      prog.push({ op: "set", ranges: node.ranges, negated: node.negated });
      return;
    case "cat":
      for (const item of node.items) emit(item, prog);
      return;
    case "alt": {
      const jumps: { op: "jmp"; x: number }[] = [];
      node.items.forEach((item, k) => {
        if (k < node.items.length - 1) {
          const split = { op: "split" as const, x: prog.length + 1, y: 0 };
          prog.push(split);
          emit(item, prog);
          const jmp = { op: "jmp" as const, x: 0 };
          prog.push(jmp);
          jumps.push(jmp);
          split.y = prog.length;
        } else emit(item, prog);
      });
      for (const j of jumps) j.x = prog.length;
      return;
    }
    case "rep": {
      for (let k = 0; k < node.min; k++) emit(node.item, prog);
      if (node.max === Infinity) {
        const split = { op: "split" as const, x: prog.length + 1, y: 0 };
        const start = prog.length;
        prog.push(split);
        emit(node.item, prog);
        prog.push({ op: "jmp", x: start });
        split.y = prog.length;
        return;
      }
      const splits: { op: "split"; x: number; y: number }[] = [];
      for (let k = node.min; k < node.max; k++) {
        const split = { op: "split" as const, x: prog.length + 1, y: 0 };
        prog.push(split);
        splits.push(split);
        emit(node.item, prog);
      }
      for (const s of splits) s.y = prog.length;
      return;
    }
  }
}

/** A compiled matcher pattern. */
export class LabelPattern {
  readonly #machine: PatternMachine;
  // The last value tested and its answer: instances of one rule share most label values, so the
  // same value often meets the same pattern many times in a row.
  #lastValue: string | null = null;
  #lastAnswer = false;

  private constructor(prog: Inst[]) {
    this.#machine = new PatternMachine(prog);
  }

  /** Instructions of the compiled program (what a test costs per character, at most). */
  get size(): number {
    return this.#machine.size;
  }

  /** Compiles `source`; throws PatternError (with the reason) when it is too long or not supported. */
  static compile(source: string): LabelPattern {
    if ([...source].length > MAX_PATTERN_LENGTH) {
      throw new PatternError(`pattern is longer than ${MAX_PATTERN_LENGTH} characters`);
    }
    const parser = new Parser(source);
    const tree = parser.alt();
    if (parser.i < parser.chars.length) parser.fail("unmatched )");
    const prog: Inst[] = [];
    emit(tree, prog);
    prog.push({ op: "match" });
    if (prog.length > MAX_PROGRAM) throw tooComplex();
    return new LabelPattern(prog);
  }

  /** Whether the whole of `value` matches: at most (value length + 1) × program size steps. */
  test(value: string): boolean {
    if (value === this.#lastValue) return this.#lastAnswer;
    const answer = this.#machine.run(value);
    this.#lastValue = value;
    this.#lastAnswer = answer;
    return answer;
  }
}
