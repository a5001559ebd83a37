// The SSH transport against a real SSH server on 127.0.0.1:0 that speaks like a switch CLI (a
// prompt after each line, "% ..." for a line it refuses), as EOS is driven: a line at a time,
// a failed one undone, and a switch that goes away or asks for a password named at once, not
// at the deadline. The server has two host keys, as switches do (ed25519 and ECDSA), and can
// take its password by keyboard-interactive only, as PAM and TACACS+ logins do.
import type { AddressInfo } from "node:net";
import { Server, utils, type Connection } from "ssh2";
import { HardwareError } from "../../provider/hardware/errors";
import { SshSession, sshFingerprint } from "../../provider/hardware/switch/ssh";
import { ed25519Pair } from "../../provider/lab/switch-sim";
import { failure as failureOf } from "../helpers/failure";

const PROMPT = /(^|\n)[A-Za-z0-9._-]+(\([^)\n]*\))?[>#] ?$/;
const failure = (p: Promise<unknown>) => failureOf(p, HardwareError);

/** How the CLI answers a line: its output, or what it does instead. */
type Answer = string | "drop" | "password";

interface Cli {
  port: number;
  /** The fingerprints of its ed25519 key (the one a client is shown first) and its ECDSA key. */
  fingerprint: string;
  ecdsaFingerprint: string;
  heard: string[];
  answers: Map<string, Answer>;
  /** Passwords only by keyboard-interactive. */
  keyboardOnly: boolean;
  stop(): Promise<void>;
}

const fingerprintOf = (privateKey: string) => {
  const parsed = utils.parseKey(privateKey);
  if (parsed instanceof Error) throw parsed;
  return sshFingerprint((Array.isArray(parsed) ? parsed[0]! : parsed).getPublicSSH());
};

async function startCli(): Promise<Cli> {
  const host = ed25519Pair();
  const ecdsa = utils.generateKeyPairSync("ecdsa", { bits: 256 });
  const heard: string[] = [];
  const answers = new Map<string, Answer>();
  const connections = new Set<Connection>();
  const cli = { keyboardOnly: false } as Cli;
  const server = new Server({ hostKeys: [host.private, ecdsa.private] }, (conn) => {
    connections.add(conn);
    conn.on("close", () => connections.delete(conn));
    conn.on("error", () => undefined);
    conn.on("authentication", (ctx) => {
      if (ctx.username !== "admin") return ctx.reject();
      if (ctx.method === "password" && !cli.keyboardOnly && ctx.password === "pw") return ctx.accept();
      if (ctx.method === "keyboard-interactive") {
        return ctx.prompt([{ prompt: "Password: ", echo: false }], (answers) =>
          answers[0] === "pw" ? ctx.accept() : ctx.reject(),
        );
      }
      ctx.reject(cli.keyboardOnly ? ["keyboard-interactive"] : ["password", "keyboard-interactive"]);
    });
    conn.on("session", (accept) => {
      const session = accept();
      session.on("pty", (ok) => ok?.());
      session.on("shell", (ok) => {
        const ch = ok();
        let mode = ">";
        let pending = "";
        ch.write("Arista-like lab CLI\r\ntor1>");
        ch.on("data", (d: Buffer) => {
          pending += d.toString("utf8");
          for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
            const line = pending.slice(0, nl).trim();
            pending = pending.slice(nl + 1);
            heard.push(line);
            if (line === "exit") return ch.close();
            const answer = answers.get(line) ?? (line.startsWith("bad") ? "% Invalid input" : "");
            if (answer === "drop") return conn.end();
            // The echo of the line, as a terminal gives it; then the answer.
            ch.write(`${line}\r\n`);
            if (answer === "password") return ch.write("Password: ");
            if (line === "enable") mode = "#";
            if (line.startsWith("configure session")) mode = "(config-s-bm)#";
            if (line === "commit" || line === "abort") mode = "#";
            ch.write(`${answer ? `${answer}\r\n` : ""}tor1${mode}`);
          }
        });
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return Object.assign(cli, {
    port: (server.address() as AddressInfo).port,
    fingerprint: fingerprintOf(host.private),
    ecdsaFingerprint: fingerprintOf(ecdsa.private),
    heard,
    answers,
    async stop() {
      for (const c of connections) c.end();
      await new Promise((resolve) => server.close(resolve));
    },
  });
}

let cli: Cli;
let session: SshSession;

beforeAll(async () => {
  cli = await startCli();
});
afterAll(() => cli?.stop());

const sessionPinned = (hostKeyFingerprint: string) =>
  new SshSession(
    { host: "127.0.0.1", port: cli.port, username: "admin", password: "pw", hostKeyFingerprint },
    5_000,
  );

beforeEach(() => {
  cli.heard.length = 0;
  cli.answers.clear();
  cli.keyboardOnly = false;
  session = sessionPinned(cli.fingerprint);
});
afterEach(() => session.close());

const opts = { prompt: PROMPT, failed: [/^% /m], onFailure: ["abort"] };

test("one line at a time, each line's output without its echo or the prompt", async () => {
  cli.answers.set("show version", "EOS lab 4.30");
  const r = await session.shell(
    ["enable", "configure session bm", "vlan 10", "commit", "show version"],
    opts,
  );
  expect(r).toEqual({ stdout: "\n\n\n\nEOS lab 4.30", stderr: "", code: 0 });
  // (The closing "exit" goes out as the batch ends; whether the CLI has read it yet is a race.)
  expect(cli.heard.filter((l) => l !== "exit")).toEqual([
    "enable",
    "configure session bm",
    "vlan 10",
    "commit",
    "show version",
  ]);
});

test("a line the CLI refuses stops the batch, and the undo lines run", async () => {
  const r = await session.shell(["enable", "configure session bm", "bad line", "vlan 10", "commit"], opts);
  expect([r.code, r.stderr]).toEqual([1, "% Invalid input"]);
  expect(cli.heard.filter((l) => l !== "exit")).toEqual([
    "enable",
    "configure session bm",
    "bad line",
    "abort",
  ]);
});

test("a switch that goes away mid-batch is unreachable at once, not a timeout", async () => {
  cli.answers.set("commit", "drop");
  const e = await failure(session.shell(["enable", "configure session bm", "vlan 10", "commit"], opts));
  expect([e.code, e.transient]).toEqual(["SwitchUnreachable", true]);
  expect(e.message).toContain("the connection was lost before the CLI answered");
});

test("a CLI that asks for a password (an enable secret) is named, not waited on", async () => {
  cli.answers.set("enable", "password");
  const e = await failure(session.shell(["enable", "configure session bm"], opts));
  expect([e.code, e.transient]).toEqual(["SwitchAuthFailed", false]);
  expect(e.message).toContain("the CLI asks for a password (Password:)");
});

test("a pinned host key of another type than the one shown first is found; one the switch lacks is refused, naming its keys", async () => {
  const ecdsaPinned = sessionPinned(cli.ecdsaFingerprint);
  try {
    expect((await ecdsaPinned.shell(["enable"], opts)).code).toBe(0);
    // The next connection asks for that type at once.
    await ecdsaPinned.close();
    expect((await ecdsaPinned.shell(["enable"], opts)).code).toBe(0);
  } finally {
    await ecdsaPinned.close();
  }
  const impostor = sessionPinned(`SHA256:${"A".repeat(43)}`);
  const e = await failure(impostor.shell(["enable"], opts));
  expect([e.code, e.transient]).toEqual(["SwitchHostKeyMismatch", false]);
  expect(e.message).toContain(
    `it showed ${cli.fingerprint} (ssh-ed25519), ${cli.ecdsaFingerprint} (ecdsa-sha2-nistp256)`,
  );
  await impostor.close();
});

test("a password asked for by keyboard-interactive (PAM, TACACS+) is given", async () => {
  cli.keyboardOnly = true;
  expect((await session.shell(["enable"], opts)).code).toBe(0);
});
