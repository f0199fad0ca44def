import { describe, expect, it } from "vitest";
import { FedLog } from "./fed-log.ts";

describe("FedLog", () => {
  it("counts the events fed up to a seq, exactly at feed edges", () => {
    const log = new FedLog();
    log.note(10, 4); // seqs 7..10
    log.note(12, 0); // an empty feed changes nothing
    log.note(15, 3); // seqs 13..15
    log.note(20, 2); // seqs 19, 20
    expect([log.upTo(6), log.upTo(10), log.upTo(14), log.upTo(15), log.upTo(20), log.upTo(99)])
      .toEqual([0, 4, 4, 7, 9, 9]);
  });

  it("keeps the count of pruned feeds as its base", () => {
    const log = new FedLog();
    log.note(10, 4);
    log.note(15, 3);
    log.note(20, 2);
    log.prune(15);
    expect([log.upTo(15), log.upTo(20)]).toEqual([7, 9]);
    expect(log.upTo(20) - log.upTo(15)).toBe(2); // what a range (15, 20] stands for
    log.prune(20);
    log.note(25, 5);
    expect([log.upTo(20), log.upTo(25)]).toEqual([9, 14]);
  });
});
