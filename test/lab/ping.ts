import { spawnSync } from "node:child_process";

/**
 * Whether `address` answers ping from inside `namespace` within `deadlineMs`.
 * One `ping -c1` is not enough right after a port moves: the neighbour entry an earlier failed
 * ping left behind makes the first send fail at once with "host unreachable", and ping counts
 * that error against -c. So ping again until a reply or the deadline; "unreachable" still
 * means no reply for the whole deadline.
 */
export function reaches(namespace: string, address: string, deadlineMs = 3_000): boolean {
  const end = Date.now() + deadlineMs;
  for (let attempt = 0; attempt < 50; attempt++) {
    const r = spawnSync("ip", ["netns", "exec", namespace, "ping", "-q", "-c1", "-W1", address], {
      timeout: 5_000,
    });
    if (r.status === 0) return true;
    if (Date.now() >= end) return false;
    spawnSync("sleep", ["0.2"]);
  }
  return false;
}
