import { describe, expect, it } from "vitest";
import { LabelPattern, MAX_PATTERN_LENGTH, PatternError } from "./label-pattern.ts";

const errorOf = (source: string) => {
  try {
    LabelPattern.compile(source);
    return null;
  } catch (e) {
    expect(e).toBeInstanceOf(PatternError);
    return (e as Error).message;
  }
};

describe("LabelPattern", () => {
  it("matches whole values as an anchored JavaScript RegExp does, for the syntax matchers use", () => {
    const patterns = [
      "s-.*",
      "s-[0-9]+",
      "web|db",
      "(web|db)-\\d{2}",
      "a{2,3}",
      "a{2,}b?",
      "[^x-z]*",
      "\\w+\\.example\\.com",
      "(?:ab)*c",
      "(?P<host>[a-z]+):(\\d+)",
      "x*?y+?",
      "",
      "ü+.",
      "\\s\\S\\D\\W",
    ];
    const values = [
      "",
      "s-",
      "s-1",
      "s-12x",
      "web",
      "db",
      "webdb",
      "db-07",
      "aa",
      "aaa",
      "aaaa",
      "aab",
      "abc",
      "xy",
      "mail.example.com",
      "a.example.com.",
      "abababc",
      "c",
      "host:80",
      "host:",
      "xyy",
      "y",
      "]",
      "a",
      "üüx",
      "ü",
      " x1!",
      "a{",
    ];
    for (const source of patterns) {
      const ours = LabelPattern.compile(source);
      const theirs = new RegExp(`^(?:${source.replace("(?P<", "(?<")})$`);
      for (const v of values) expect([source, v, ours.test(v)]).toEqual([source, v, theirs.test(v)]);
    }
  });

  it("takes ], { and } that open or close nothing as literals, as RE2 does", () => {
    expect(["]", "a", "b"].map((v) => LabelPattern.compile("[]a]").test(v))).toEqual([true, true, false]);
    expect(["a{", "a", "a}"].map((v) => LabelPattern.compile("a{1}[{}]").test(v))).toEqual([
      true,
      false,
      true,
    ]);
    expect(LabelPattern.compile("x{,2}").test("x{,2}")).toBe(true);
  });

  it("answers patterns that make backtracking engines exponential at once", () => {
    const value = "a".repeat(1000);
    // A backtracking engine takes 2^1000 steps for these; the program runs every thread in step.
    expect(LabelPattern.compile("(a+)+b").test(value)).toBe(false);
    expect(LabelPattern.compile("(a|a)*b").test(value)).toBe(false);
    expect(LabelPattern.compile("(a*)*").test(value)).toBe(true);
    expect(LabelPattern.compile(".*.*.*.*.*.*.*.*x").test(value)).toBe(false);
  });

  it("answers as RegExp does over many values, also once its transition table is full", () => {
    // (a|b)*a(a|b){12} needs 2^13 DFA states: past the table's cap the test goes on as a Pike VM.
    const sources = ["(a|b)*a(a|b){12}", "[ab]*b[ab]{3}", "(ab|a)*b?", "a{2,5}(b|ab)*", "[^b]*b.{0,20}"];
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const values = Array.from(
      { length: 400 },
      (_, k) =>
        Array.from({ length: Math.floor(random() * 60) }, () => "abc"[Math.floor(random() * (k % 2 ? 2 : 3))])
          .join(""),
    );
    for (const source of sources) {
      const ours = LabelPattern.compile(source);
      const theirs = new RegExp(`^(?:${source})$`);
      const mismatches = values.filter((v) => ours.test(v) !== theirs.test(v));
      expect([source, mismatches]).toEqual([source, []]);
      // Both answers occur: the comparison can fail.
      expect(new Set(values.map((v) => theirs.test(v))).size).toBe(2);
    }
  });

  it("answers each value on its own when values alternate or repeat (astral characters count once)", () => {
    const p = LabelPattern.compile("(a|😀)+.?");
    const values = ["a", "a", "😀😀", "b", "b", "😀x", "", "", "a😀a", "\ud83d", "x"];
    expect(values.map((v) => p.test(v))).toEqual(values.map((v) => /^(?:a|😀)+.?$/u.test(v)));
    expect(values.map((v) => p.test(v))).toEqual([
      true,
      true,
      true,
      false,
      false,
      true,
      false,
      false,
      true,
      false,
      false,
    ]);
  });

  it("refuses what it cannot match in linear time or does not support, with the reason", () => {
    expect(errorOf("a".repeat(MAX_PATTERN_LENGTH + 1))).toBe("pattern is longer than 256 characters");
    expect(errorOf("(a")).toBe("missing ) at position 2");
    expect(errorOf("a)")).toBe("unmatched ) at position 1");
    expect(errorOf("[a-")).toBe("missing ] at position 3");
    expect(errorOf("[z-a]")).toBe("range out of order at position 4");
    expect(errorOf("*a")).toBe("unexpected * at position 0");
    expect(errorOf("a**")).toBe("a repetition cannot be repeated directly at position 2");
    expect(errorOf("(a)\\1")).toBe("unsupported escape \\1 at position 4");
    expect(errorOf("(?=a)")).toBe("lookarounds and flags are not supported at position 1");
    expect(errorOf("(?i)a")).toBe("lookarounds and flags are not supported at position 1");
    expect(errorOf("^a")).toBe("^ is implied: a matcher matches the whole value at position 1");
    expect(errorOf("a{200}")).toBe("repetition {200} must be within 0..100, min <= max at position 1");
    const tooComplex = "pattern is too complex: over 512 steps per character once repetitions are expanded";
    expect(errorOf("(a{100}){100}")).toBe(tooComplex);
    expect(errorOf(".{0,99}.{0,99}.{0,99}")).toBe(tooComplex);
    expect(errorOf(".{0,99}.{0,99}")).toBeNull();
  });
});
