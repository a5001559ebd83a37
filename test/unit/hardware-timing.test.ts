// Bounded retries and read-back polling, the policy every hardware driver shares.
import { HardwareError } from "../../provider/hardware/errors";
import { pollUntil, retrying, withDeadline } from "../../provider/hardware/timing";
import { jsonDocuments } from "../../provider/hardware/switch/dialect";

const policy = { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 };

test("transient failures are retried up to the bound, then surface", async () => {
  let calls = 0;
  const busy = () => {
    calls++;
    return Promise.reject(new HardwareError("BmcBusy", "busy"));
  };
  await expect(retrying(policy, busy)).rejects.toMatchObject({ code: "BmcBusy" });
  expect(calls).toBe(3);

  calls = 0;
  const flaky = async () => {
    if (++calls < 3) throw new HardwareError("SwitchUnreachable", "connection reset");
    return "ok";
  };
  await expect(retrying(policy, flaky)).resolves.toBe("ok");
});

test("permanent failures (authentication, bad input) are not retried", async () => {
  for (const code of [
    "BmcAuthFailed",
    "SwitchAuthFailed",
    "InvalidPortName",
    "SwitchHostKeyMismatch",
  ] as const) {
    let calls = 0;
    await expect(
      retrying(policy, () => {
        calls++;
        return Promise.reject(new HardwareError(code, "no"));
      }),
    ).rejects.toMatchObject({ code });
    expect(calls).toBe(1);
  }
});

test("a deadline aborts the work and names the error", async () => {
  let aborted = false;
  const work = (signal: AbortSignal) =>
    new Promise<never>(() => signal.addEventListener("abort", () => (aborted = true)));
  await expect(withDeadline(20, "BmcTimeout", "BMC 10.0.0.1: no answer", work)).rejects.toMatchObject({
    code: "BmcTimeout",
    message: "BMC 10.0.0.1: no answer",
  });
  expect(aborted).toBe(true);
});

test("polling stops at the deadline with the last value read", async () => {
  let reads = 0;
  const e = await pollUntil({
    read: async () => ++reads,
    done: () => false,
    deadlineMs: 30,
    intervalMs: 5,
    onTimeout: (last) => new Error(`last ${last}`),
  }).catch((x: Error) => x);
  expect((e as Error).message).toBe(`last ${reads}`);
  expect(reads).toBeGreaterThan(1);
});

test("jsonDocuments finds each document in a transcript", () => {
  const text = 'applied [rev_id: 5]\n{\n  "a": "}{",\n  "b": [1]\n}\nnoise\n[{"c": 2}]\n';
  expect(jsonDocuments(text)).toEqual([{ a: "}{", b: [1] }, [{ c: 2 }]]);
});
