// The switch's restricted shell, as test/lab/switch-shell does it on the real lab switch:
// the whole batch is checked before anything runs (one bad line refuses all of it, exit 126
// and `switch-shell: refused: <reason>`), then its lines run in order and the first failure
// ends the batch with that command's exit code. Refusal reasons quote like Python's repr(),
// since that is what the real shell prints.
import type { CommandResult, Iproute2Model } from "./iproute2-model";

export const REFUSED = 126;
const TOKEN = /^[A-Za-z0-9._:/@-]+$/;
const PORT = "swp[1-9][0-9]{0,3}";
// VLAN ids 1..4094: one bridge per VLAN.
const VID = "(?:[1-9][0-9]{0,2}|[1-3][0-9]{3}|40[0-8][0-9]|409[0-4])";
const BRIDGE = `vlan${VID}`;
const MAX_LINES = 256;
const MAX_BYTES = 65536;

const FORMS = [
  `ip link add name ${BRIDGE} type bridge`,
  `ip link del dev ${BRIDGE}`,
  `ip link set dev (?:${PORT}|${BRIDGE}) (?:up|down)`,
  `ip link set dev ${PORT} master ${BRIDGE}`,
  `ip link set dev ${PORT} nomaster`,
  `ip -j -d link show dev (?:${PORT}|${BRIDGE})`,
  "ip -j link show type bridge",
  "ip -j link show",
  "bridge -j vlan show",
  `bridge vlan (?:add|del) dev ${PORT} vid ${VID}(?: (?:pvid|untagged|master))*`,
  // The VLAN-aware switch (the `linux` dialect): ports join br0, VLANs live on br0 and ports.
  `ip link set dev ${PORT} master br0`,
  `bridge vlan (?:add|del) dev br0 vid ${VID} self`,
  `bridge -j vlan show dev ${PORT}`,
].map((f) => new RegExp(`^${f}$`));

/** Lines that change the switch (everything but the reads). */
const CHANGE = /^(ip link (add|del|set)|bridge vlan (add|del)) /;

export class Refused extends Error {}

/** Python's repr() of a printable-ASCII string: '...' unless it holds ' and no ". */
export function pyRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = "";
  for (const c of s) out += c === "\\" ? "\\\\" : c === quote ? `\\${c}` : c;
  return quote + out + quote;
}

/** Splits and checks a whole batch; throws Refused before anything could run. */
export function parseBatch(text: string): string[][] {
  if (!text.trim()) throw new Refused("no command (interactive sessions are not offered)");
  if (Buffer.byteLength(text) > MAX_BYTES) throw new Refused("command too long");
  // Tabs and spaces separate tokens; any other control character (\r, \0, ...) is refused.
  if (/[^\x20-\x7e\t\n]/.test(text)) throw new Refused("control or non-ASCII character");
  // `set -e`, which the linux dialects send first for a login shell, is what this shell does.
  const lines = text.split("\n").filter(
    (l) =>
      l.trim() &&
      l
        .trim()
        .split(/[ \t]+/)
        .join(" ") !== "set -e",
  );
  if (lines.length > MAX_LINES) throw new Refused("too many commands");
  return lines.map((line) => {
    const tokens = line.split(/[ \t]+/).filter(Boolean);
    for (const t of tokens) if (!TOKEN.test(t)) throw new Refused(`bad token ${pyRepr(t)}`);
    const joined = tokens.join(" ");
    if (!FORMS.some((f) => f.test(joined))) throw new Refused(`not a switch command: ${pyRepr(joined)}`);
    const flags = tokens[0] === "bridge" && tokens[1] === "vlan" ? tokens.slice(7) : [];
    if (new Set(flags).size !== flags.length) throw new Refused(`repeated flag in: ${pyRepr(joined)}`);
    return tokens;
  });
}

export const isChange = (tokens: string[]) => CHANGE.test(tokens.join(" ") + " ");

/**
 * One exec request's command, run to completion. `locked`: a fault that refuses any batch
 * holding a change (reads still work), the way a switch under someone else's config lock does.
 */
export function runBatch(model: Iproute2Model, text: string, opts: { locked?: boolean } = {}): CommandResult {
  let batch: string[][];
  try {
    batch = parseBatch(text);
    if (opts.locked && batch.some(isChange)) throw new Refused("configuration is locked (simulated fault)");
  } catch (e) {
    if (!(e instanceof Refused)) throw e;
    return { stdout: "", stderr: `switch-shell: refused: ${e.message}\n`, code: REFUSED };
  }
  let stdout = "";
  let stderr = "";
  for (const tokens of batch) {
    const r = model.run(tokens);
    stdout += r.stdout;
    stderr += r.stderr;
    if (r.code !== 0) return { stdout, stderr, code: r.code };
  }
  return { stdout, stderr, code: 0 };
}
