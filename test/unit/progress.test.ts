// Step lines: only a step that lasts is shown, and nothing is shown after done().
import { steps } from "../../provider/servers/progress";

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
