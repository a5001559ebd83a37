// Makes `require("pulumi-baremetal")` resolve from anywhere in this checkout, as it does in a
// user's project after `npm install pulumi-baremetal`. The examples and the dynamic provider
// (whose serialized shim requires the package by name) both depend on it.
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const link = path.join(root, "node_modules", "pulumi-baremetal");
try {
  if (fs.realpathSync(link) === root) return;
  fs.rmSync(link, { recursive: true, force: true });
} catch {
  // missing: create below
}
fs.mkdirSync(path.dirname(link), { recursive: true });
fs.symlinkSync("..", link, "dir");
