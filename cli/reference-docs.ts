// docs/reference/*.md, written from schema.json: one page per resource (inputs, outputs, which
// values are secret) and one for the provider's configuration. `npm run docs` writes them;
// test/unit/reference-docs.test.ts fails when the committed pages and schema.json disagree.
import fs from "node:fs";
import path from "node:path";

interface Property {
  type?: string;
  items?: { type?: string; $ref?: string };
  $ref?: string;
  description?: string;
  secret?: boolean;
}
interface Resource {
  description: string;
  inputProperties: Record<string, Property>;
  requiredInputs?: string[];
  properties: Record<string, Property>;
  required?: string[];
}
interface Schema {
  name: string;
  description: string;
  config?: { variables: Record<string, Property> };
  resources: Record<string, Resource>;
  types?: Record<string, { properties: Record<string, Property>; required?: string[] }>;
}

const typeOf = (p: Property): string => {
  const ref = (r: string) => r.split(":").at(-1)!;
  if (p.$ref) return ref(p.$ref);
  if (p.type === "array") return `${p.items?.$ref ? ref(p.items.$ref) : (p.items?.type ?? "any")}[]`;
  return p.type ?? "object";
};
const cell = (s: string | undefined) => (s ?? "").replace(/\|/g, "\\|").replace(/\n/g, " ");

function table(props: Record<string, Property>, required: string[]): string {
  const rows = Object.entries(props).map(
    ([name, p]) =>
      `| \`${name}\` | ${typeOf(p)} | ${required.includes(name) ? "yes" : ""} | ${
        p.secret ? "yes" : ""
      } | ${cell(p.description)} |`,
  );
  return ["| name | type | required | secret | description |", "|---|---|---|---|---|", ...rows].join("\n");
}

export function referenceDocs(schema: Schema): Record<string, string> {
  const pages: Record<string, string> = {};
  const index = [
    `# ${schema.name} reference`,
    "",
    schema.description,
    "",
    "Generated from `schema.json` by `npm run docs`.",
    "",
  ];
  for (const [token, r] of Object.entries(schema.resources)) {
    const kind = token.split(":").at(-1)!;
    const file = `${kind.replace(/([a-z])([A-Z])/g, "$1-$2").toLowerCase()}.md`;
    index.push(`- [${kind}](${file})`);
    const types = Object.entries(schema.types ?? {})
      .filter(([t]) => JSON.stringify(r).includes(`"#/types/${t}"`))
      .map(([t, def]) =>
        [`### ${t.split(":").at(-1)}`, "", table(def.properties, def.required ?? [])].join("\n"),
      );
    pages[file] = [
      `# ${kind}`,
      "",
      `\`import { ${kind} } from "pulumi-baremetal";\` (type token \`pulumi-nodejs:dynamic/baremetal:${kind}\`)`,
      "",
      r.description,
      "",
      "## Inputs",
      "",
      table(r.inputProperties, r.requiredInputs ?? []),
      "",
      "## Outputs",
      "",
      "Every input is also an output.",
      "",
      table(
        Object.fromEntries(Object.entries(r.properties).filter(([k]) => !(k in r.inputProperties))),
        r.required ?? [],
      ),
      ...(types.length ? ["", "## Types", "", ...types] : []),
      "",
    ].join("\n");
  }
  if (schema.config) {
    index.push("- [Configuration](configuration.md)");
    pages["configuration.md"] = [
      "# Configuration",
      "",
      "Stack config (`pulumi config set baremetal:<name>`), read by the provider.",
      "",
      table(
        Object.fromEntries(Object.entries(schema.config.variables).map(([k, v]) => [`baremetal:${k}`, v])),
        [],
      ),
      "",
    ].join("\n");
  }
  pages["README.md"] = index.join("\n") + "\n";
  return pages;
}

export const REFERENCE_DIR = path.resolve(
  __dirname,
  fs.existsSync(path.join(__dirname, "../schema.json")) ? ".." : "../..",
  "docs/reference",
);

if (require.main === module) {
  const root = path.dirname(path.dirname(REFERENCE_DIR));
  const schema = JSON.parse(fs.readFileSync(path.join(root, "schema.json"), "utf8")) as Schema;
  fs.mkdirSync(REFERENCE_DIR, { recursive: true });
  for (const [file, text] of Object.entries(referenceDocs(schema)))
    fs.writeFileSync(path.join(REFERENCE_DIR, file), text);
  console.log(`wrote ${Object.keys(referenceDocs(schema)).length} pages to ${REFERENCE_DIR}`);
}
