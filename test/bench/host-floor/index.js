// For npm run bench:provision: `count` resources of a dynamic provider that does nothing
// (provider.js), each registered as the sdk registers ours (sdk/provider-shim.ts): the same
// type of token and a one-line `__provider`, so the host's work per call is what it is for ours.
"use strict";
const path = require("node:path");
const pulumi = require("@pulumi/pulumi");

const count = new pulumi.Config().requireNumber("count");
const shim = `exports.handler = () => require(${JSON.stringify(path.join(__dirname, "provider.js"))});\n`;

for (let i = 0; i < count; i++) {
  new pulumi.CustomResource("pulumi-nodejs:dynamic/floor:Server", `server-${i}`, {
    hostname: `web-${i}`,
    project: "demo",
    facility: "lab",
    plan: "lab.small",
    operatingSystem: "flatcar_stable",
    tags: ["web", "v1"],
    __provider: shim,
  });
}
