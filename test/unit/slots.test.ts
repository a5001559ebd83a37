import { Slots } from "../../provider/hardware/slots";

/** A task that runs until `finish()` is called, recording when it started. */
function gate(log: string[], name: string) {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    run: async () => {
      log.push(`start ${name}`);
      await done;
      log.push(`end ${name}`);
      return name;
    },
    finish: () => finish(),
  };
}

const never = () => new AbortController().signal;
const tick = () => new Promise((resolve) => setImmediate(resolve));

test("at most `size` run at once; the rest start in arrival order as slots free", async () => {
  const slots = new Slots(2);
  const log: string[] = [];
  const gates = ["a", "b", "c", "d"].map((n) => gate(log, n));
  const results = gates.map((g) => slots.run(never(), g.run));
  await tick();
  expect(log).toEqual(["start a", "start b"]);
  expect(slots.queued).toBe(2);
  gates[1]!.finish();
  await tick();
  expect(log).toEqual(["start a", "start b", "end b", "start c"]);
  gates[0]!.finish();
  gates[2]!.finish();
  gates[3]!.finish();
  expect(await Promise.all(results)).toEqual(["a", "b", "c", "d"]);
  expect(log.filter((l) => l.startsWith("start"))).toEqual(["start a", "start b", "start c", "start d"]);
  expect(slots.queued).toBe(0);
});

test("a waiter whose signal aborts leaves the queue with the signal's reason and takes no slot", async () => {
  const slots = new Slots(1);
  const log: string[] = [];
  const first = gate(log, "first");
  const running = slots.run(never(), first.run);
  const impatient = new AbortController();
  const given = slots.run(impatient.signal, async () => "never runs");
  const later = gate(log, "later");
  const after = slots.run(never(), later.run);
  impatient.abort(new Error("deadline"));
  await expect(given).rejects.toThrow("deadline");
  expect(slots.queued).toBe(1);
  first.finish();
  later.finish();
  expect(await Promise.all([running, after])).toEqual(["first", "later"]);
  expect(log).toEqual(["start first", "end first", "start later", "end later"]);
});

test("an already aborted signal is refused at once, even with a slot free", async () => {
  const slots = new Slots(1);
  const signal = AbortSignal.abort(new Error("too late"));
  await expect(slots.run(signal, async () => "ran")).rejects.toThrow("too late");
  expect(await slots.run(never(), async () => "ran")).toBe("ran");
});

test("a holder that throws gives its slot back", async () => {
  const slots = new Slots(1);
  await expect(
    slots.run(never(), async () => {
      throw new Error("boom");
    }),
  ).rejects.toThrow("boom");
  expect(await slots.run(never(), async () => "next")).toBe("next");
});

test("size must be a positive integer", () => {
  for (const size of [0, -1, 1.5, NaN])
    expect(() => new Slots(size)).toThrow(/size must be a positive integer/);
});
