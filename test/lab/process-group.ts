// Stopping what the lab started: each peer runs in its own process group (spawned detached),
// so a signal to the group reaches whatever it forked too.

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM to the group, SIGKILL if it lingers; bounded either way. */
export async function stopGroup(pid: number, name: string): Promise<void> {
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    try {
      process.kill(-pid, signal);
    } catch {
      return;
    }
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && alive(pid)) await sleep(25);
    if (!alive(pid)) return;
  }
  throw new Error(`${name} ${pid} survived SIGKILL`);
}
