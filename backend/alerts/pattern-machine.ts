/**
 * Runs a compiled matcher program (label-pattern.ts) over a value in time
 * linear in its length. The program is simulated as a Pike VM (every thread
 * in step, no backtracking), and the thread sets it meets are kept as the
 * states of a lazily built DFA: once a state's transition on an ASCII
 * character is known, that character costs one table lookup instead of a step
 * of every thread. ASCII code points that every class of the program treats
 * alike share a column; at most MAX_CELLS transitions are kept per program,
 * and past that the test goes on as a plain Pike VM, so memory stays bounded
 * and time stays linear: at most (value length + 1) × program size thread
 * steps.
 */

export type Ranges = [number, number][];

/** One instruction of a program. */
export type Inst =
  | { op: "set"; ranges: Ranges; negated: boolean }
  | { op: "split"; x: number; y: number }
  | { op: "jmp"; x: number }
  | { op: "match" };

/** A class as a bitmap of the ASCII code points and ranges for the rest. */
interface CompiledSet {
  ascii: Uint32Array;
  ranges: Ranges;
  negated: boolean;
}

function compileSet(ranges: Ranges, negated: boolean): CompiledSet {
  const ascii = new Uint32Array(4);
  for (let code = 0; code < 128; code++) {
    let hit = false;
    for (const [lo, hi] of ranges) if (code >= lo && code <= hi) hit = true;
    if (hit !== negated) ascii[code >> 5] |= 1 << (code & 31);
  }
  return { ascii, ranges, negated };
}

function inSet(set: CompiledSet, code: number): boolean {
  if (code < 128) return (set.ascii[code >> 5] & (1 << (code & 31))) !== 0;
  let hit = false;
  for (const [lo, hi] of set.ranges) if (code >= lo && code <= hi) hit = true;
  return hit !== set.negated;
}

const SET = 0, SPLIT = 1, JMP = 2, MATCH = 3;
/** Transitions kept per program (states × ASCII classes), 2 bytes each: 16 KiB at most. */
const MAX_CELLS = 8192;
const UNKNOWN = -1;

/** A DFA state: a set of threads (program counters at `set` or `match` instructions). */
interface State {
  threads: Int32Array;
  accepting: boolean;
  /** Next state by ASCII class (UNKNOWN until first taken). */
  next: Int16Array;
}

export class PatternMachine {
  readonly #op: Uint8Array;
  readonly #x: Int32Array;
  readonly #y: Int32Array;
  readonly #sets: (CompiledSet | null)[];
  // Scratch space of `run` (never re-entered: it is synchronous), allocated once per program.
  readonly #mark: Int32Array;
  readonly #stack: Int32Array;
  readonly #scratch: Int32Array;
  #generation = 0;
  readonly #states: State[] = [];
  readonly #stateIds = new Map<string, number>();
  /** ASCII code point → class: code points every set treats alike share a class (and a column). */
  readonly #classOf = new Uint8Array(128);
  readonly #classes: number;
  readonly #maxStates: number;

  constructor(prog: Inst[]) {
    const n = prog.length;
    this.#op = new Uint8Array(n);
    this.#x = new Int32Array(n);
    this.#y = new Int32Array(n);
    this.#sets = prog.map((inst, pc) => {
      if (inst.op === "set") return (this.#op[pc] = SET), compileSet(inst.ranges, inst.negated);
      if (inst.op === "split") (this.#op[pc] = SPLIT), (this.#x[pc] = inst.x), (this.#y[pc] = inst.y);
      else if (inst.op === "jmp") (this.#op[pc] = JMP), (this.#x[pc] = inst.x);
      else this.#op[pc] = MATCH;
      return null;
    });
    this.#mark = new Int32Array(n);
    this.#stack = new Int32Array(2 * n + 1);
    this.#scratch = new Int32Array(n);
    const classIds = new Map<string, number>();
    const sets = this.#sets.filter((set) => set !== null);
    for (let code = 0; code < 128; code++) {
      const signature = sets.map((set) => (inSet(set, code) ? "1" : "0")).join("");
      let id = classIds.get(signature);
      if (id === undefined) classIds.set(signature, id = classIds.size);
      this.#classOf[code] = id;
    }
    this.#classes = classIds.size;
    this.#maxStates = Math.min(1024, Math.floor(MAX_CELLS / this.#classes));
  }

  /** Instructions of the program. */
  get size(): number {
    return this.#op.length;
  }

  /** Whether the whole of `value` is accepted. */
  run(value: string): boolean {
    if (this.#generation > 0x3fffffff) (this.#generation = 0), this.#mark.fill(0);
    let count = this.#add(this.#scratch, 0, 0, ++this.#generation);
    let id = this.#stateId(this.#scratch, count);
    if (id === UNKNOWN) return this.#pike(this.#scratch.slice(0, count), value, 0);
    let state = this.#states[id];
    for (let i = 0; i < value.length; i++) {
      let code = value.charCodeAt(i);
      if (code >= 0xd800 && code <= 0xdbff && i + 1 < value.length) {
        const low = value.charCodeAt(i + 1);
        if (low >= 0xdc00 && low <= 0xdfff) (code = (code - 0xd800) * 0x400 + low - 0xdc00 + 0x10000), i++;
      }
      const column = code < 128 ? this.#classOf[code] : -1;
      id = column >= 0 ? state.next[column] : UNKNOWN;
      if (id === UNKNOWN) {
        count = this.#step(state.threads, code);
        id = this.#stateId(this.#scratch, count);
        // The table is full: the rest of the value runs as a plain Pike VM.
        if (id === UNKNOWN) return this.#pike(this.#scratch.slice(0, count), value, i + 1);
        if (column >= 0) state.next[column] = id;
      }
      state = this.#states[id];
      if (state.threads.length === 0) return false;
    }
    return state.accepting;
  }

  /** Runs `value` from index `from` with `threads` as a Pike VM (no table). */
  #pike(threads: Int32Array, value: string, from: number): boolean {
    let current: Int32Array = threads;
    let next: Int32Array = new Int32Array(this.#op.length);
    let count = threads.length;
    for (let i = from; i < value.length && count > 0; i++) {
      let code = value.charCodeAt(i);
      if (code >= 0xd800 && code <= 0xdbff && i + 1 < value.length) {
        const low = value.charCodeAt(i + 1);
        if (low >= 0xdc00 && low <= 0xdfff) (code = (code - 0xd800) * 0x400 + low - 0xdc00 + 0x10000), i++;
      }
      const generation = ++this.#generation;
      let n = 0;
      for (let t = 0; t < count; t++) {
        const set = this.#sets[current[t]];
        if (set !== null && inSet(set, code)) n = this.#add(next, n, current[t] + 1, generation);
      }
      const swap = current.length === next.length ? current : new Int32Array(this.#op.length);
      current = next;
      next = swap;
      count = n;
    }
    for (let t = 0; t < count; t++) if (this.#op[current[t]] === MATCH) return true;
    return false;
  }

  /** The threads after `code` from `threads`, into the scratch list; returns their count. */
  #step(threads: Int32Array, code: number): number {
    const generation = ++this.#generation;
    let count = 0;
    for (let t = 0; t < threads.length; t++) {
      const set = this.#sets[threads[t]];
      if (set !== null && inSet(set, code)) {
        count = this.#add(this.#scratch, count, threads[t] + 1, generation);
      }
    }
    return count;
  }

  /** The id of the kept state of a thread list, made if there is room; UNKNOWN when the table is full. */
  #stateId(list: Int32Array, count: number): number {
    const threads = list.slice(0, count).sort();
    const key = threads.join(",");
    const id = this.#stateIds.get(key);
    if (id !== undefined) return id;
    if (this.#states.length >= this.#maxStates) return UNKNOWN;
    let accepting = false;
    for (const pc of threads) if (this.#op[pc] === MATCH) accepting = true;
    const state: State = { threads, accepting, next: new Int16Array(this.#classes).fill(UNKNOWN) };
    this.#stateIds.set(key, this.#states.length);
    this.#states.push(state);
    return this.#states.length - 1;
  }

  /** Adds the threads reachable from `pc` without consuming (marked in this step) to `list`. */
  #add(list: Int32Array, count: number, pc: number, generation: number): number {
    const op = this.#op, mark = this.#mark, stack = this.#stack;
    let top = 0;
    stack[top++] = pc;
    while (top > 0) {
      const p = stack[--top];
      if (mark[p] === generation) continue;
      mark[p] = generation;
      const o = op[p];
      if (o === JMP) stack[top++] = this.#x[p];
      else if (o === SPLIT) (stack[top++] = this.#y[p]), (stack[top++] = this.#x[p]);
      else list[count++] = p;
    }
    return count;
  }
}
