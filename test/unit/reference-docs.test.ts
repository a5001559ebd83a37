// docs/reference is written from schema.json; the committed pages must be what it says now,
// and schema.json's secrets must be the outputs the sdk marks secret.
import fs from "node:fs";
import path from "node:path";
import { REFERENCE_DIR, referenceDocs } from "../../cli/reference-docs";

const root = path.resolve(__dirname, "../..");
const schema = JSON.parse(fs.readFileSync(path.join(root, "schema.json"), "utf8"));

test("docs/reference agrees with schema.json (run `npm run docs` after changing it)", () => {
  const pages = referenceDocs(schema);
  expect(fs.readdirSync(REFERENCE_DIR).sort()).toEqual(Object.keys(pages).sort());
  for (const [file, text] of Object.entries(pages))
    expect(`${file}:\n${fs.readFileSync(path.join(REFERENCE_DIR, file), "utf8")}`).toBe(`${file}:\n${text}`);
});

test("the outputs schema.json calls secret are the ones the sdk marks secret", () => {
  for (const [token, r] of Object.entries(
    schema.resources as Record<string, { properties: Record<string, { secret?: boolean }> }>,
  )) {
    const kind = token.split(":").at(-1)!;
    const file = `${kind.replace(/([a-z])([A-Z])/g, "$1-$2").toLowerCase()}.ts`;
    const sdk = fs.readFileSync(path.join(root, "sdk", file), "utf8");
    const line = (/secretOutputs = \[.*$/m.exec(sdk) ?? /additionalSecretOutputs:.*$/m.exec(sdk))?.[0] ?? "";
    const marked = [...line.matchAll(/"(\w+)"/g)].map((m) => m[1]!);
    const secret = Object.entries(r.properties)
      .filter(([, p]) => p.secret)
      .map(([k]) => k);
    expect(`${kind}: ${secret.sort().join(",")}`).toBe(`${kind}: ${marked.sort().join(",")}`);
  }
});
