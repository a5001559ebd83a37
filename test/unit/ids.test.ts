import fc from "fast-check";
import { newId } from "../../provider/store/ids";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("ids are UUIDv7: version, variant, and the time in front", () => {
  const id = newId(0x0190_1234_5678);
  expect(id).toMatch(UUID_V7);
  expect(id.replace(/-/g, "").slice(0, 12)).toBe("019012345678");
});

test("ids made later sort after earlier ones, and never repeat", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 47 }), fc.integer({ min: 1, max: 2 ** 20 }), (t, dt) => {
      expect(newId(t) < newId(t + dt)).toBe(true);
    }),
  );
  const many = new Set(Array.from({ length: 5000 }, () => newId(1_700_000_000_000)));
  expect(many.size).toBe(5000);
});
