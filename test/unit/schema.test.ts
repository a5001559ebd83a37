// schema.json must describe exactly what sdk/ offers and what the provider's zod schemas accept.
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";
import { toJSONSchema as zodJsonSchema, type z } from "zod";
import { IpReservationInputs } from "../../provider/resources/ip-reservation";
import { ServerInputs } from "../../provider/servers/inputs";
import { VlanInputs } from "../../provider/resources/vlan";
import { ProjectMemberInputs } from "../../provider/resources/project-member";

const root = path.resolve(__dirname, "../..");
const schema = JSON.parse(fs.readFileSync(path.join(root, "schema.json"), "utf8")) as {
  resources: Record<string, { inputProperties: object; properties: object; requiredInputs: string[] }>;
};

/** Property names of an interface and the `declare readonly` outputs of a class in an sdk file. */
function sdkShape(file: string, args: string, cls: string): { inputs: string[]; outputs: string[] } {
  const source = ts.createSourceFile(
    file,
    fs.readFileSync(path.join(root, "sdk", file), "utf8"),
    ts.ScriptTarget.ES2022,
  );
  const inputs: string[] = [];
  const outputs: string[] = [];
  source.forEachChild((node) => {
    if (ts.isInterfaceDeclaration(node) && node.name.text === args) {
      for (const m of node.members) if (m.name && ts.isIdentifier(m.name)) inputs.push(m.name.text);
    }
    if (ts.isClassDeclaration(node) && node.name?.text === cls) {
      for (const m of node.members) {
        if (ts.isPropertyDeclaration(m) && ts.isIdentifier(m.name)) outputs.push(m.name.text);
      }
    }
  });
  return { inputs, outputs };
}

const sorted = (xs: Iterable<string>) => [...xs].sort();

const RESOURCES: [kind: string, file: string, zod: z.ZodObject][] = [
  ["IpReservation", "ip-reservation.ts", IpReservationInputs],
  ["Server", "server.ts", ServerInputs],
  ["Vlan", "vlan.ts", VlanInputs],
  ["ProjectMember", "project-member.ts", ProjectMemberInputs],
];

test.each(RESOURCES)("%s: schema, sdk and provider agree", (kind, file, inputs) => {
  const res = schema.resources[`baremetal:index:${kind}`]!;
  const sdk = sdkShape(file, `${kind}Args`, kind);
  const zodKeys = Object.keys(inputs.shape).filter((k) => k !== "owner");
  expect(sorted(Object.keys(res.inputProperties))).toEqual(sorted(sdk.inputs));
  expect(sorted(sdk.inputs)).toEqual(sorted(zodKeys));
  expect(sorted(Object.keys(res.properties))).toEqual(sorted(sdk.outputs));
  // Required: what zod refuses to go without (no default, not optional).
  const required = zodKeys.filter((k) => !(inputs.shape[k] as z.ZodType).safeParse(undefined).success);
  expect(sorted(res.requiredInputs)).toEqual(sorted(required));
});

interface JsonShape {
  type?: string;
  enum?: unknown[];
  items?: JsonShape;
  properties?: Record<string, JsonShape>;
  description?: string;
  anyOf?: JsonShape[];
}

/** The shape zod accepts for one input, as JSON Schema (defaults and optionality aside). */
function zodShape(inputs: z.ZodObject, key: string): JsonShape {
  const json = zodToJson(inputs) as { properties: Record<string, JsonShape> };
  const p = json.properties[key]!;
  // An optional nullable field is anyOf [T, null]: the T is what the schema describes.
  return p.anyOf?.find((x) => x.type !== "null") ?? p;
}
const zodToJson = (s: z.ZodType) => zodJsonSchema(s, { io: "input", unrepresentable: "any" });

test.each(RESOURCES)(
  "%s: every input has zod's type, and its description names every allowed value",
  (kind, _f, inputs) => {
    const res = schema.resources[`baremetal:index:${kind}`]! as {
      inputProperties: Record<string, JsonShape>;
    };
    for (const [key, prop] of Object.entries(res.inputProperties)) {
      const want = zodShape(inputs, key);
      expect(`${key}: ${prop.type}`).toBe(`${key}: ${want.type}`);
      if (want.type === "array")
        expect(`${key}[]: ${prop.items?.type}`).toBe(`${key}[]: ${want.items?.type}`);
      // Enumerations are written out in the description (the reference docs show it).
      for (const value of want.enum ?? []) expect(`${key}: ${prop.description}`).toContain(String(value));
      for (const [sub, shape] of Object.entries(want.items?.properties ?? {})) {
        const mine = prop.items?.properties?.[sub];
        expect(`${key}[].${sub}: ${mine?.type}`).toBe(`${key}[].${sub}: ${shape.type}`);
        for (const value of shape.enum ?? [])
          expect(`${key}[].${sub}: ${mine?.description}`).toContain(String(value));
      }
    }
  },
);
