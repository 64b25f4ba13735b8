/**
 * Where start-up time goes: named marks in ms since the process started (`performance.now()`),
 * logged once as `{"event":"startup","marks":{...},"cpuMs":N}` when `serve` is ready. The launcher
 * (`./launcher.ts`) records the first mark before the bundle loads; `bench:server` prints the
 * medians beside the cold-start figure a readiness probe sees. Plain numbers on one global
 * object: the User Timing API would cost a module load of its own.
 */
const KEY = Symbol.for('cdk8s-model-server.startup-marks');

/** The marks recorded so far, shared by the launcher and the bundle. */
export function marks(): Record<string, number> {
  const holder = globalThis as { [KEY]?: Record<string, number> };
  return (holder[KEY] ??= {});
}

/** Marks `name` now (the first mark of a name wins, so a phase is timed once). */
export function markStartup(name: string): void {
  const all = marks();
  all[name] ??= Math.round(performance.now() * 10) / 10;
}

/** Every start-up mark so far, in ms since the process started. */
export function startupMarks(): Record<string, number> {
  return { ...marks() };
}

/** CPU time of the process so far (user + system, every thread), in ms. */
export function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return Math.round((user + system) / 100) / 10;
}
