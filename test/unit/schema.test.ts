// schema.json must describe exactly what sdk/ offers and what the provider's zod schemas accept.
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";
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

test("IpReservation: schema, sdk and provider agree", () => {
  const res = schema.resources["baremetal:index:IpReservation"]!;
  const sdk = sdkShape("ip-reservation.ts", "IpReservationArgs", "IpReservation");
  const zodKeys = Object.keys(IpReservationInputs.shape).filter((k) => k !== "owner");
  expect(sorted(Object.keys(res.inputProperties))).toEqual(sorted(sdk.inputs));
  expect(sorted(sdk.inputs)).toEqual(sorted(zodKeys));
  expect(sorted(Object.keys(res.properties))).toEqual(sorted(sdk.outputs));
  expect(sorted(res.requiredInputs)).toEqual(["project", "type"]);
});

test("Server: schema, sdk and provider agree", () => {
  const res = schema.resources["baremetal:index:Server"]!;
  const sdk = sdkShape("server.ts", "ServerArgs", "Server");
  const zodKeys = Object.keys(ServerInputs.shape).filter((k) => k !== "owner");
  expect(sorted(Object.keys(res.inputProperties))).toEqual(sorted(sdk.inputs));
  expect(sorted(sdk.inputs)).toEqual(sorted(zodKeys));
  expect(sorted(Object.keys(res.properties))).toEqual(sorted(sdk.outputs));
  expect(sorted(res.requiredInputs)).toEqual(["facility", "hostname", "operatingSystem", "project"]);
});

test("Vlan: schema, sdk and provider agree", () => {
  const res = schema.resources["baremetal:index:Vlan"]!;
  const sdk = sdkShape("vlan.ts", "VlanArgs", "Vlan");
  const zodKeys = Object.keys(VlanInputs.shape).filter((k) => k !== "owner");
  expect(sorted(Object.keys(res.inputProperties))).toEqual(sorted(sdk.inputs));
  expect(sorted(sdk.inputs)).toEqual(sorted(zodKeys));
  expect(sorted(Object.keys(res.properties))).toEqual(sorted(sdk.outputs));
  expect(sorted(res.requiredInputs)).toEqual(["facility", "project"]);
});

test("ProjectMember: schema, sdk and provider agree", () => {
  const res = schema.resources["baremetal:index:ProjectMember"]!;
  const sdk = sdkShape("project-member.ts", "ProjectMemberArgs", "ProjectMember");
  const zodKeys = Object.keys(ProjectMemberInputs.shape).filter((k) => k !== "owner");
  expect(sorted(Object.keys(res.inputProperties))).toEqual(sorted(sdk.inputs));
  expect(sorted(sdk.inputs)).toEqual(sorted(zodKeys));
  expect(sorted(Object.keys(res.properties))).toEqual(sorted(sdk.outputs));
  expect(sorted(res.requiredInputs)).toEqual(["project", "role", "user"]);
});
