/**
 * Builds the dashboard into dist/dashboard/: esbuild bundles frontend/src/main.tsx (React, Chart.js),
 * Tailwind CSS compiles frontend/src/styles.css, both get content-hashed names under assets/ with
 * gzip twins, and index.html links them (no inline script or style, so the strict CSP holds).
 *
 *   node frontend/build.mjs             build
 *   node frontend/build.mjs --if-needed build only when a source (frontend/, shared/) is newer than the last build
 *
 * It builds into a fresh directory next to dist/dashboard/ and swaps it in with renames at the end, so a
 * failed build leaves the previous one in place and a running server never sees a half-written one.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const src = join(root, "frontend");
const final = join(root, "dist/dashboard");
const stamp = join(final, "index.html");
/** The build's own directory, renamed to `final` when complete. */
const out = join(root, `dist/.dashboard-${process.pid}`);

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

if (process.argv.includes("--if-needed") && existsSync(stamp)) {
  // shared/ holds code the bundle imports too (e.g. shared/aggregates.ts).
  const inputs = Math.max(
    newestSource(src),
    newestSource(join(root, "shared")),
    statSync(join(root, "package-lock.json")).mtimeMs,
  );
  if (inputs <= statSync(stamp).mtimeMs) {
    console.log("dashboard: up to date");
    process.exit(0);
  }
}

const started = performance.now();
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "assets"), { recursive: true });
process.on("exit", () => rmSync(out, { recursive: true, force: true })); // a failed build's leftovers

const js = await esbuild.build({
  entryPoints: [join(src, "src/main.tsx")],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2022"],
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
  legalComments: "none",
  write: false,
  logLevel: "warning",
});
const cssFile = join(out, "tmp.css");
execFileSync(
  process.execPath,
  [
    join(root, "node_modules/@tailwindcss/cli/dist/index.mjs"),
    "-i",
    join(src, "src/styles.css"),
    "-o",
    cssFile,
    "--minify",
  ],
  { cwd: root, stdio: ["ignore", "ignore", "inherit"] },
);
const css = readFileSync(cssFile);
rmSync(cssFile);

function emit(name, ext, bytes) {
  const hash = createHash("sha256").update(bytes).digest("hex").slice(0, 12);
  const file = `${name}-${hash}.${ext}`;
  writeFileSync(join(out, "assets", file), bytes);
  writeFileSync(join(out, "assets", `${file}.gz`), gzipSync(bytes, { level: 9 }));
  return file;
}
const jsFile = emit("app", "js", js.outputFiles[0].contents);
const cssName = emit("app", "css", css);
const iconName = emit("icon", "svg", readFileSync(join(src, "icon.svg")));

const html = readFileSync(join(src, "index.html"), "utf8")
  .replace("%CSS%", `/assets/${cssName}`)
  .replace("%JS%", `/assets/${jsFile}`)
  .replace("%ICON%", `/assets/${iconName}`);
writeFileSync(join(out, "index.html"), html);

// Swap in: the old build moves aside (one rename), the new one takes its name (one rename), old removed.
const old = `${final}.old-${process.pid}`;
if (existsSync(final)) renameSync(final, old);
renameSync(out, final);
rmSync(old, { recursive: true, force: true });

const size = (f) => statSync(join(final, "assets", f)).size;
console.log(
  `dashboard: built ${relative(root, final)} in ${Math.round(performance.now() - started)} ms — ` +
    `JS ${size(jsFile)} B (${size(`${jsFile}.gz`)} B gzip), CSS ${size(cssName)} B (${
      size(`${cssName}.gz`)
    } B gzip)`,
);
