/**
 * Structured logs: one JSON object per line on stdout (errors on stderr),
 * filtered by `LOG_LEVEL`. Uses only `console`, so it works on every runtime.
 */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** A structured logger. `fields` are merged into the JSON line. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** Whether a line at `level` would be written (to skip building costly fields). */
  enabled(level: LogLevel): boolean;
}

/** Where a log line goes: by default stdout, warn and error on stderr. */
export type LogSink = (line: string, level: Exclude<LogLevel, "silent">) => void;

const consoleSink: LogSink = (line, lvl) => {
  if (lvl === "error" || lvl === "warn") console.error(line);
  else console.log(line);
};

/** Creates a logger writing JSON lines at or above `level` (to `options.sink`, default the console). */
export function createLogger(level: LogLevel, options: { sink?: LogSink; now?: () => number } = {}): Logger {
  const min = ORDER[level];
  const sink = options.sink ?? consoleSink;
  const now = options.now ?? Date.now;
  const write = (lvl: Exclude<LogLevel, "silent">, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < min) return;
    sink(JSON.stringify({ level: lvl, time: new Date(now()).toISOString(), msg, ...fields }), lvl);
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    enabled: (lvl) => ORDER[lvl] >= min,
  };
}
