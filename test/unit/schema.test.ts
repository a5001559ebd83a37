// schema.json must describe exactly what sdk/ offers and what the provider's zod schemas accept.
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";
import type { z } from "zod";
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
