// The CLI's tables print what project members wrote: never as terminal control sequences.
import { printable, table } from "../../cli/table";

test("control characters in a cell are shown escaped, and the columns stay aligned", () => {
  expect(printable("x\u001b[31mred\u0007\u009b")).toBe("x\\u001b[31mred\\u0007\\u009b");
  expect(printable("two\nlines\ttab")).toBe("two\\u000alines\\u0009tab");
  expect(printable("plain café ✓")).toBe("plain café ✓");
  expect(
    table(
      ["NAME", "DESCRIPTION"],
      [
        ["web", "a\u001b[2Jb"],
        ["db", null],
      ],
    ),
  ).toBe("NAME  DESCRIPTION\nweb   a\\u001b[2Jb\ndb    -");
});
