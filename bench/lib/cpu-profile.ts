/**
 * A CPU profile of this process through the V8 inspector (`node:inspector`, which Deno and Node
 * both provide), for benchmarks: `start()` before the measured part, `stop(path)` after it writes
 * the `.cpuprofile` (open it in Chrome DevTools) and prints the functions with the most self time.
 */
import { Session } from "node:inspector/promises";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Starts sampling every `intervalUs` µs; the returned `stop` writes and summarises the profile. */
export async function startCpuProfile(intervalUs = 1000): Promise<{ stop: (path: string) => Promise<void> }> {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: intervalUs });
  await session.post("Profiler.start");
  return {
    async stop(path: string) {
      const { profile } = (await session.post("Profiler.stop")) as unknown as { profile: Profile };
      session.disconnect();
      await Deno.writeTextFile(path, JSON.stringify(profile));
      const byId = new Map(profile.nodes.map((n) => [n.id, n]));
      const self = new Map<string, number>();
      let total = 0;
      profile.samples.forEach((id, i) => {
        const f = byId.get(id)!.callFrame;
        const file = f.url.replace(/^.*\/(backend|bench|shared|node_modules)\//, "$1/");
        const key = `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
        const us = profile.timeDeltas[i] ?? 0;
        total += us;
        self.set(key, (self.get(key) ?? 0) + us);
      });
      console.log(`cpu profile: ${(total / 1e6).toFixed(1)} s sampled, written to ${path}; top self time:`);
      for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
        console.log(`  ${(us / 1000).toFixed(0).padStart(7)} ms  ${key}`);
      }
    },
  };
}
