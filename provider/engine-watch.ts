// A dynamic provider outlives a `pulumi up` that is killed (SIGKILL, OOM): the engine starts
// it through a shell wrapper, and nothing tells it the engine is gone, so it would keep its
// store, BMC sessions and switch connections open forever. The engine's RPC address is the
// process's first argument; when that stops accepting connections, this process ends.
import net from "node:net";

const INTERVAL_MS = 2000;
const MISSES = 3;

let watching = false;

export function exitWhenEngineGone(): void {
  if (watching) return;
  watching = true;
  const address = process.argv[2] ?? "";
  const m = /^(127\.0\.0\.1|localhost|\[::1\]):(\d+)$/.exec(address);
  if (!m || !/dynamic-provider/.test(process.argv[1] ?? "")) return;
  let misses = 0;
  const timer = setInterval(() => {
    const socket = net.connect({ host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]) });
    socket.setTimeout(1000);
    const miss = () => {
      socket.destroy();
      if (++misses >= MISSES) process.kill(process.pid, "SIGTERM");
    };
    socket.once("connect", () => {
      misses = 0;
      socket.destroy();
    });
    socket.once("timeout", miss);
    socket.once("error", miss);
  }, INTERVAL_MS);
  timer.unref();
}
