// Where an install writes the OS: the plan's own installDisk, else what its first disks are.
import { parseInventory, InventoryError } from "../../provider/inventory/schema";
import { installDiskOf, type PlanSpec } from "../../provider/inventory/types";

const plan = (over: Partial<PlanSpec> = {}): PlanSpec => ({
  name: "p",
  cpu: { cores: 8 },
  memoryGb: 64,
  disks: [{ count: 2, sizeGb: 480, type: "ssd" }],
  nics: [{ count: 2, speedGbps: 10 }],
  ...over,
});

test("NVMe-first plans install onto the first namespace; others onto /dev/sda; Ubuntu picks its own", () => {
  expect(installDiskOf(plan(), "flatcar_stable")).toBe("/dev/sda");
  expect(
    installDiskOf(plan({ disks: [{ count: 2, sizeGb: 3840, type: "nvme" }] }), "fedora_coreos_stable"),
  ).toBe("/dev/nvme0n1");
  expect(installDiskOf(plan(), "ubuntu_24_04")).toBeUndefined();
  expect(
    installDiskOf(plan({ installDisk: "/dev/disk/by-path/pci-0000:00:17.0-ata-2" }), "ubuntu_24_04"),
  ).toBe("/dev/disk/by-path/pci-0000:00:17.0-ata-2");
});

test("a plan's installDisk is a /dev path", () => {
  const file = (disk: string) => `
plans:
  - name: p
    cpu: { cores: 8 }
    memoryGb: 64
    disks: [{ count: 1, sizeGb: 480, type: ssd }]
    nics: [{ count: 1, speedGbps: 10 }]
    installDisk: "${disk}"
`;
  expect(parseInventory(file("/dev/nvme1n1")).plans[0]!.installDisk).toBe("/dev/nvme1n1");
  for (const bad of ["sda", "/dev/../etc/passwd", "/dev/sda; reboot"]) {
    const e = (() => {
      try {
        parseInventory(file(bad));
      } catch (x) {
        return x as InventoryError;
      }
      throw new Error(`${bad} was accepted`);
    })();
    expect(e.problems[0]).toMatch(/^plans\.0\.installDisk: a \/dev path, e\.g\. \/dev\/nvme0n1/);
  }
});
