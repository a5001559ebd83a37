// Step lines: only a step that lasts is shown, and nothing is shown after done(); lines to the
// engine go one call at a time, batched while one is in flight and for a gathering time.
import { batchedLines, steps } from "../../provider/servers/progress";

let lines: string[];
let restore: () => void;

beforeEach(() => {
  jest.useFakeTimers();
  lines = [];
  process.env.BAREMETAL_PROGRESS = "1";
  const spy = jest.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk).trim());
    return true;
  });
  restore = () => spy.mockRestore();
});

afterEach(() => {
  restore();
  delete process.env.BAREMETAL_PROGRESS;
  jest.useRealTimers();
});

test("a step shows once it has lasted; quick steps do not", () => {
  const s = steps("web-1: ", 1000);
  s.step("claim");
  jest.advanceTimersByTime(10);
  s.step("stage", "machine m01");
  jest.advanceTimersByTime(999);
  expect(lines).toEqual([]);
  jest.advanceTimersByTime(1);
  expect(lines).toEqual(["baremetal: web-1: stage (machine m01)"]);
  s.step("install", "machine m01");
  jest.advanceTimersByTime(5000);
  expect(lines).toEqual(["baremetal: web-1: stage (machine m01)", "baremetal: web-1: install (machine m01)"]);
});

test("done() drops a pending line", () => {
  const s = steps("web-1: ", 1000);
  s.step("install");
  s.done();
  jest.advanceTimersByTime(5000);
  expect(lines).toEqual([]);
});

test("a threshold of 0 shows every step at once", () => {
  const s = steps("web-1: ", 0);
  s.step("claim");
  s.step("power", "machine m02");
  expect(lines).toEqual(["baremetal: web-1: claim", "baremetal: web-1: power (machine m02)"]);
});

describe("lines to the engine", () => {
  // A fake Log RPC: records each call's text and holds its completion until the test releases it.
  const engine = () => {
    const sent: string[] = [];
    const pending: (() => void)[] = [];
    const { line } = batchedLines((text, done) => {
      sent.push(text);
      pending.push(done);
    });
    return { sent, line, finish: () => pending.shift()!() };
  };

  test("one call in flight; lines that come meanwhile go together, in order, in the next", () => {
    const e = engine();
    e.line("web-1: active on machine m01");
    expect(e.sent).toEqual(["web-1: active on machine m01"]);
    e.line("web-2: active on machine m02");
    e.line("web-3: active on machine m03");
    expect(e.sent).toHaveLength(1);
    e.finish();
    expect(e.sent).toEqual([
      "web-1: active on machine m01",
      "web-2: active on machine m02\nweb-3: active on machine m03",
    ]);
    e.finish();
    e.line("web-4: install (machine m04)");
    expect(e.sent).toHaveLength(3);
    expect(e.sent[2]).toBe("web-4: install (machine m04)");
  });

  test("with a gathering time, the first line of a batch waits for the lines that follow it", () => {
    const sent: string[] = [];
    const pending: (() => void)[] = [];
    const { line } = batchedLines((text, done) => {
      sent.push(text);
      pending.push(done);
    }, 200);
    line("web-1: install (machine m01)");
    jest.advanceTimersByTime(150);
    line("web-2: install (machine m02)");
    expect(sent).toEqual([]);
    jest.advanceTimersByTime(50);
    expect(sent).toEqual(["web-1: install (machine m01)\nweb-2: install (machine m02)"]);
    // While that call is in flight, lines wait for it, not for a new gathering time.
    line("web-3: install (machine m03)");
    pending.shift()!();
    expect(sent).toHaveLength(2);
    expect(sent[1]).toBe("web-3: install (machine m03)");
    pending.shift()!();
    // Idle again: the next line starts a new gathering time.
    line("web-4: active on machine m04");
    jest.advanceTimersByTime(199);
    expect(sent).toHaveLength(2);
    jest.advanceTimersByTime(1);
    expect(sent[2]).toBe("web-4: active on machine m04");
  });

  test("flush sends what is gathering and resolves once everything given before it is delivered", async () => {
    const sent: string[] = [];
    const pending: (() => void)[] = [];
    const lines = batchedLines((text, done) => {
      sent.push(text);
      pending.push(done);
    }, 200);
    await lines.flush(); // nothing given: resolves at once
    lines.line("web-1: install (machine m01)");
    let flushed = false;
    const first = lines.flush().then(() => (flushed = true));
    expect(sent).toEqual(["web-1: install (machine m01)"]); // not held for the gathering time
    lines.line("web-2: active on machine m02"); // given after the flush: not waited for
    await Promise.resolve();
    expect(flushed).toBe(false);
    pending.shift()!();
    await first;
    expect(flushed).toBe(true);
    expect(sent).toEqual(["web-1: install (machine m01)", "web-2: active on machine m02"]);
    // A flush while that call is in flight waits for it.
    let second = false;
    const p2 = lines.flush().then(() => (second = true));
    await Promise.resolve();
    expect(second).toBe(false);
    pending.shift()!();
    await p2;
  });

  test("a call that throws, or completes twice, holds nothing back", () => {
    let calls = 0;
    const sent: string[] = [];
    let done: () => void = () => undefined;
    const { line } = batchedLines((text, d) => {
      calls++;
      if (calls === 1) throw new Error("engine gone");
      sent.push(text);
      done = d;
    });
    line("lost");
    line("a");
    expect(sent).toEqual(["a"]);
    line("b");
    const first = done;
    first();
    first(); // a second completion of the same call must not let two calls run at once
    line("c");
    expect(sent).toEqual(["a", "b"]);
    done();
    expect(sent).toEqual(["a", "b", "c"]);
  });
});
