#!/usr/bin/env node
/**
 * `npm test`'s first step (`pretest`): makes a fresh machine with Node and npm able to run the
 * whole suite, as `.ci/run` does — the Deno binary of the `deno` npm package (npm may skip its
 * install script), Debian's `prometheus` (promtool and a real server, tests/prometheus.test.ts)
 * and `chromium` (tests/browser/), and the dashboard bundle the browser tests load. Installs the
 * Debian packages with apt-get when run as root; otherwise names them and exits 1.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const run = (cmd, args, options = {}) => execFileSync(cmd, args, { stdio: "inherit", cwd: root, ...options });

if (!existsSync(join(root, "node_modules/deno/deno"))) {
  run(process.execPath, ["./install.cjs"], { cwd: join(root, "node_modules/deno") });
}

const needed = [
  { pkg: "prometheus", files: ["/usr/bin/promtool", "/usr/bin/prometheus"] },
  { pkg: "chromium", files: [process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"] },
].filter(({ files }) => files.some((f) => !existsSync(f))).map(({ pkg }) => pkg);
if (needed.length) {
  const asRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (!asRoot || !existsSync("/usr/bin/apt-get")) {
    console.error(
      `The test suite needs the Debian packages ${needed.join(" and ")}: ` +
        `sudo apt-get install -y --no-install-recommends ${needed.join(" ")}`,
    );
    process.exit(1);
  }
  console.log(`Installing the Debian packages the tests use: ${needed.join(", ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  run("apt-get", ["update"], { env });
  run("apt-get", ["install", "-y", "--no-install-recommends", ...needed], { env });
}

run(process.execPath, ["frontend/build.mjs", "--if-needed"]);
