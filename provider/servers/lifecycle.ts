// How a Server is made, changed and taken apart. Create follows the design's path: claim (the
// owner key is recorded before any hardware is touched), addresses, switch ports, staged boot,
// PXE through the BMC, then wait for the installed OS to call home. Each step that changed
// something pushes its undo; a failure runs them in reverse and names the step and machine.
// A machine that was powered into an install, or whose wipe failed, goes to quarantine: it may
// hold a half-written or old OS and must not go back to the pool.
import { randomBytes, randomUUID } from "node:crypto";
import { AccessError } from "../access/errors";
import type { Opening, Operation } from "../access/guard";
import { installDiskOf, type MachineRecord } from "../inventory/types";
import { renderBoot, renderWipeIpxe } from "../provisioning/render";
import type { InterfaceConfig, ProvisionSpec } from "../provisioning/spec";
import { bootServerUrls } from "../provisioning/urls";
import { readFacility, readMachine, readPlan } from "../store/inventory-sql";
import { memberKeys } from "../store/projects-sql";
import { vlanPorts } from "../store/vlans-sql";
import {
  bootStaged,
  claimServer,
  closeSessions,
  finishServer,
  serverTimeline,
  setServerState,
  stageSession,
  type ServerRecord,
  type TimelineEvent,
} from "../store/servers-sql";
import { allocateAddresses, releaseAddresses, type NetworkAddress } from "./addresses";
import type { Bmc } from "../hardware/bmc";
import { secretsOf as secrets, withBmc } from "./hardware";
import { applyNetwork, forgetNetwork, layer3Vlan, portPlan, serverVlans } from "./network";
import { portsTo, resetPorts, type PortState } from "./ports";
import { NETWORK, REINSTALL_ON, differs, type ServerInputs } from "./inputs";
import { hashPassword, newRootPassword } from "./passwords";
import { progress, steps } from "./progress";
import { waitForSession } from "./session-watch";

/** What the lifecycle runs with: the operation `guarded` hands a change. */
export type Context = Operation;

export class StepFailed extends Error {
  constructor(
    readonly step: string,
    readonly machine: string | undefined,
    cause: unknown,
  ) {
    super(
      `step "${step}" failed${machine ? ` on machine ${machine}` : ""}: ${(cause as Error)?.message ?? String(cause)}`,
      { cause },
    );
    this.name = "StepFailed";
  }
}

export interface Provisioned {
  server: ServerRecord;
  machine: MachineRecord;
  network: NetworkAddress[];
  rootPassword?: string;
  /** The switch ports as the switch confirmed them during this create, when it set them. */
  ports?: PortState[];
  /** The server's events, when the last step read them with its change. */
  timeline?: TimelineEvent[];
}

function interfaces(machine: MachineRecord, network: NetworkAddress[]): InterfaceConfig[] {
  // Layer 3: every address on the first NIC (bonding comes with the network modes).
  return machine.nics.map((n, i) => ({
    name: n.name,
    mac: n.mac,
    addresses:
      i === 0
        ? network.map((a) => ({
            cidr: a.cidr,
            family: a.family,
            gateway: a.gateway,
            public: a.public,
            ...(a.routes ? { routes: a.routes } : {}),
          }))
        : [],
  }));
}

/** Stages an install and PXE-boots it; resolves once the installed OS has called home. */
async function install(
  ctx: Context,
  server: ServerRecord,
  machine: MachineRecord,
  inputs: ServerInputs,
  network: NetworkAddress[],
  rootPasswordHash: string,
  onStep: (s: string) => void,
) {
  const bootServer = ctx.config.bootServerUrl;
  if (!bootServer)
    throw new Error("baremetal:bootServerUrl is not set: machines need a boot server to netboot from");
  // What the install needs from the store, in one read: the facility's provisioning VLAN, the
  // plan's install disk, and the project's members' keys as they are at this install.
  const { facility, hardware, memberKeysNow } = await ctx.store.transact(function* () {
    return {
      facility: yield* readFacility(server.facility),
      hardware: yield* readPlan(machine.plan),
      memberKeysNow: yield* memberKeys(server.project),
    };
  }, "read");
  if (!facility) throw new Error(`facility ${server.facility} has no provisioning VLAN in the inventory`);

  // The configs first: one that cannot be made must not cost a running server its ports (a
  // reinstall moves them to the provisioning VLAN).
  onStep("render");
  const token = randomBytes(24).toString("base64url");
  const spec: ProvisionSpec = {
    hostname: inputs.hostname,
    operatingSystem: inputs.operatingSystem,
    sshKeys: [...new Set([...inputs.sshKeys, ...memberKeysNow])],
    userData: inputs.userData,
    customData: inputs.customData,
    ipxeScriptUrl: inputs.ipxeScriptUrl,
    interfaces: interfaces(machine, network),
    installDisk: installDiskOf(hardware, inputs.operatingSystem),
    dns: ctx.config.dns,
    rootPasswordHash,
    token,
    urls: bootServerUrls(bootServer),
    images: ctx.config.images,
  };
  const staged = renderBoot(spec);

  onStep("switch");
  const ports = await portsTo(ctx, machine, facility.provisioningVlan);

  onStep("stage");
  await ctx.store.transact((at) =>
    stageSession(
      { token, serverId: server.id, machineId: machine.id, kind: "install", staged },
      ctx.config.actor,
      at,
    ),
  );

  onStep("power");
  await withBmc(machine, secrets(ctx.config), ctx.log, async (bmc) => {
    await bmc.setBootDevice("pxe", { persistent: inputs.alwaysPxe });
    // A cycle of a machine that is off is just "on" (setPowerConfirmed reads the state first).
    await bmc.setPower("cycle");
  });

  onStep("install");
  const deadline = Date.now() + inputs.provisionTimeoutSeconds * 1000;
  const plan = portPlan(inputs, layer3Vlan(facility));
  if (plan.mode === "access" && plan.vlan === facility.provisioningVlan) {
    await waitForSession(ctx.store, token, deadline - Date.now(), "install");
    return ports;
  }
  // A layer-3 network of its own: the installed system, with its static addresses and their
  // gateways, calls home from there, so its ports go there once the installer has written the
  // disk, before it boots it (as Ironic moves a node to the tenant network between deploy and
  // first boot); its phone-home retries meanwhile. Layer2 servers, and IPv6-only ones, call
  // home from the provisioning network by DHCPv4 (render/network.ts): theirs move after it.
  const early =
    facility.layer3Vlan !== undefined &&
    inputs.networkType !== "layer2" &&
    network.some((a) => a.family === 4);
  // Read again when the ports move, minutes after the install began: an inventory apply that
  // changed the facility meanwhile (its guard saw no server of it yet) is followed.
  const layer3Now = async () =>
    layer3Vlan((await ctx.store.transact(() => readFacility(server.facility), "read")) ?? facility);
  let moved: { vlan: number; ports: PortState[] } | undefined;
  if (early) {
    await waitForSession(ctx.store, token, deadline - Date.now(), "install", "written");
    onStep("network");
    const vlan = await layer3Now();
    moved = { vlan, ports: await applyNetwork(ctx, server.id, machine, inputs, vlan) };
    onStep("install");
  }
  await waitForSession(ctx.store, token, deadline - Date.now(), "install").catch((e: Error) => {
    if (!moved || !e.message.includes("no report within")) throw e;
    e.message +=
      `; the installed system calls home from the layer-3 network (VLAN ${moved.vlan}), ` +
      "so the boot server must be reachable from there";
    throw e;
  });
  if (moved) return moved.ports;
  onStep("network");
  return applyNetwork(ctx, server.id, machine, inputs, await layer3Now());
}

/**
 * An interrupted create left a claim under this resource's owner key, made with other inputs
 * that decide where the server is (project, facility, plan or machine, addresses). Taking it
 * over would put this run's server somewhere the program no longer says; taking it apart
 * would touch hardware the user may not expect. The user chooses.
 */
function refuseOtherClaim(prior: ServerRecord, inputs: ServerInputs): void {
  const spec = prior.spec as Partial<ServerInputs>;
  const other = [
    prior.project !== inputs.project && `project ${prior.project}`,
    prior.facility !== inputs.facility && `facility ${prior.facility}`,
    inputs.plan !== undefined && prior.plan !== inputs.plan && `plan ${prior.plan}`,
    inputs.machine !== undefined && prior.machineId !== inputs.machine && `machine ${prior.machineId}`,
    differs(spec.ipAddresses, inputs.ipAddresses) &&
      `ipAddresses ${JSON.stringify(spec.ipAddresses ?? null)}`,
  ].filter((x): x is string => typeof x === "string");
  if (other.length === 0) return;
  throw new Error(
    `an interrupted earlier create of this resource left server ${prior.id} (${prior.state}, machine ` +
      `${prior.machineId}) with ${other.join(", ")}: put those inputs back to let this run finish it, or take it ` +
      `apart with \`baremetal server delete ${prior.id}\` and run again`,
  );
}

/**
 * `opening` (the role check and the audit's started entry) runs first in the claim's
 * transaction: nothing is touched before it, and it costs no durable commit of its own.
 */
export async function createServer(
  ctx: Context,
  inputs: ServerInputs,
  owner: string,
  opening: Opening = function* () {},
): Promise<Provisioned> {
  const actor = ctx.config.actor;
  // `holds`: the undo gives back store records (addresses, VLAN port records); when it fails,
  // those records would belong to no server if the row went. `cuts`: what a power-off or a
  // port reset takes from the machine; when neither could be done it may still be on the
  // network with its addresses, so they are not given back (`whenCut`) and the row keeps them,
  // as for a failed `holds`.
  const undo: {
    what: string;
    holds?: () => Promise<boolean>;
    cuts?: "power" | "ports";
    whenCut?: boolean;
    run: () => Promise<void>;
  }[] = [];
  let step = "claim";
  let machine: MachineRecord | undefined;
  let server: ServerRecord | undefined;
  let quarantine = false;
  // Set when an undo that gives back records fails: the server row then stays (state failed), so
  // that what it still holds stays owned, and a new run or `baremetal server delete` finishes
  // the job. Deleted, its leftovers would belong to nothing.
  let undoFailed = false;
  const shown = steps(`${inputs.hostname}: `);
  const onStep = (s: string) => {
    step = s;
    if (s === "power") quarantine = true; // from here the disks may change
    shown.step(s, machine && `machine ${machine.id}`);
  };
  try {
    onStep("claim");
    const claimed = await ctx.store.transact(function* (at) {
      yield* opening();
      // Known before anything is claimed (and after the role check): without a boot server no
      // machine can be installed.
      if (!ctx.config.bootServerUrl) {
        throw new StepFailed(
          "configure",
          undefined,
          new Error("baremetal:bootServerUrl is not set: machines need a boot server to netboot from"),
        );
      }
      if (inputs.vlans.length > 0) {
        try {
          yield* serverVlans(inputs);
        } catch (e) {
          throw new StepFailed("network", undefined, e);
        }
      }
      return yield* claimServer(
        {
          id: randomUUID(),
          owner,
          project: inputs.project,
          facility: inputs.facility,
          plan: inputs.plan,
          machineId: inputs.machine,
          hostname: inputs.hostname,
          spec: { ...inputs, owner: undefined },
        },
        actor,
        at,
      );
    });
    ({ server, machine } = claimed);
    const s = server;
    const m = machine;
    if (claimed.adopted) refuseOtherClaim(s, inputs);
    // An earlier run that got as far as staging a boot may have set the ports and powered the
    // machine into an install, or finished one: whatever fails now, it must not go back to the
    // pool unwiped.
    const booted = claimed.adopted && (await ctx.store.transact(() => bootStaged(s.id), "read"));
    quarantine = booted;
    undo.push({
      what: "release the machine",
      run: async () => {
        if (undoFailed) {
          await ctx.store.transact((at) =>
            setServerState(s.id, { state: "failed", failedStep: step }, actor, at),
          );
          return;
        }
        await ctx.store.transact((at) =>
          finishServer(
            s.id,
            quarantine ? "quarantine" : "available",
            quarantine ? `provisioning failed at ${step}` : null,
            actor,
            at,
          ),
        );
      },
    });
    if (claimed.adopted)
      progress(`${inputs.hostname}: continuing what an interrupted run left on machine ${machine.id}`);
    const undoHardware = () => {
      undo.push({
        what: "reset switch ports",
        cuts: "ports",
        holds: async () => (await ctx.store.transact(() => vlanPorts({ serverId: s.id }), "read")).length > 0,
        run: async () => {
          await resetPorts(ctx, m);
          // Only once the switch took it: until then the records say what the ports carry.
          await forgetNetwork(ctx, s.id);
        },
      });
      undo.push({
        what: "power off",
        cuts: "power",
        run: () => withBmc(m, secrets(ctx.config), ctx.log, (bmc) => bmc.setPower("off")),
      });
    };

    onStep("addresses");
    undo.push({
      what: "release addresses",
      holds: async () => true,
      whenCut: true,
      run: () => releaseAddresses(ctx.store, s.id, owner, actor),
    });
    // Undone before the addresses go back: a machine still running with them on its ports
    // must be off and unwired before the next server can be given them.
    if (booted) undoHardware();
    const network = await allocateAddresses(ctx.store, s.id, inputs, owner, actor);

    // A prior run that finished everything but could not tell the engine: nothing to redo.
    // Its root password died with it (only the hash went into the config); say so.
    // With the same OS and network; a changed one is installed again on the same machine.
    const sameInstall = [...REINSTALL_ON, ...NETWORK].every((k) => !differs(s.spec[k], inputs[k]));
    if (claimed.adopted && server.state === "active" && sameInstall) {
      progress(
        `${inputs.hostname}: took over the finished install on machine ${machine.id}; its root password ` +
          `was never stored, so rootPassword stays empty: log in with the SSH keys, or reinstall for a new one`,
      );
      return { server, machine, network };
    }

    if (!booted) undoHardware();
    const rootPassword = newRootPassword();
    const ports = await install(
      ctx,
      server,
      machine,
      inputs,
      network,
      await hashPassword(rootPassword),
      onStep,
    );

    onStep("activate");
    // The spec as installed: an adopted claim may have been made with other inputs.
    // With what the outputs show, read in the same transaction.
    const active = await ctx.store.transact(function* (at) {
      return {
        server: yield* setServerState(
          s.id,
          { state: "active", hostname: inputs.hostname, spec: { ...inputs, owner: undefined } },
          actor,
          at,
        ),
        machine: (yield* readMachine(m.id))!,
        timeline: yield* serverTimeline(s.id),
      };
    });
    ({ server, machine } = active);
    shown.done();
    progress(`${inputs.hostname}: active on machine ${m.id}`);
    return {
      server,
      machine,
      network,
      rootPassword: ownPassword(inputs, rootPassword),
      ports,
      timeline: active.timeline,
    };
  } catch (e) {
    shown.done();
    // Refused before anything was claimed: the refusal (or the configure step's error) as it is.
    if ((e instanceof AccessError || e instanceof StepFailed) && !server) throw e;
    const failure = new StepFailed(step, machine?.id, e);
    const uncut = new Set<string>();
    for (const u of undo.reverse()) {
      if (u.whenCut && uncut.has("power") && uncut.has("ports")) {
        undoFailed = true;
        failure.message += `; the addresses stay held: the machine may still be on the network with them`;
        continue;
      }
      try {
        await u.run();
      } catch (cleanup) {
        if (u.cuts) uncut.add(u.cuts);
        if (u.holds && (await u.holds().catch(() => true))) undoFailed = true;
        failure.message += `; then could not ${u.what}: ${(cleanup as Error).message}`;
      }
    }
    if (undoFailed && server) {
      failure.message +=
        `; server ${server.id} stays, in state failed, holding what was not undone: run pulumi up ` +
        `again, or \`baremetal server delete ${server.id}\`, to finish`;
    }
    throw failure;
  }
}

/** Wipes (unless asked not to), resets the ports, releases the addresses and returns the machine. */
export async function deleteServer(
  ctx: Context,
  server: ServerRecord,
  inputs: ServerInputs,
  owner: string,
): Promise<void> {
  const actor = ctx.config.actor;
  const machine = await ctx.store.transact(() => readMachine(server.machineId), "read");
  let machineTo: "available" | "quarantine" = "available";
  let reason: string | null = null;
  // Each step named in its error, with the machine; the row stays until the last one, so a
  // failed delete can simply be run again. A step that lasts (the wipe) is shown as it runs.
  const shown = steps(`${server.hostname}: delete: `);
  let step = "";
  const onStep = (s: string) => {
    step = s;
    shown.step(s, `machine ${server.machineId}`);
  };
  onStep("power off");
  try {
    if (machine) {
      await ctx.store.transact((at) => setServerState(server.id, { state: "deprovisioning" }, actor, at));
      await withBmc(machine, secrets(ctx.config), ctx.log, async (bmc) => {
        await bmc.setPower("off");
        if (!inputs.wipeOnDelete) {
          // Not wiped: the next tenant must not get this one's disks. An operator wipes the
          // machine or releases it knowingly (baremetal machine release).
          machineTo = "quarantine";
          reason = "not wiped: its server was deleted with wipeOnDelete false";
        } else {
          onStep("wipe");
          try {
            await wipe(ctx, server, machine, bmc, (inputs.provisionTimeoutSeconds ?? 1800) * 1000);
          } catch (e) {
            // Never back into the pool with the old OS on its disks.
            machineTo = "quarantine";
            reason = `wipe failed: ${(e as Error).message}`;
            progress(`${server.hostname}: ${reason}; machine ${machine.id} quarantined`);
          }
          onStep("power off after the wipe");
          await bmc.setPower("off");
        }
      });
      onStep("reset switch ports");
      await resetPorts(ctx, machine);
    }
    onStep("forget VLAN ports");
    await forgetNetwork(ctx, server.id);
    onStep("release addresses");
    await releaseAddresses(ctx.store, server.id, owner, actor);
    onStep("release the machine");
    await ctx.store.transact((at) => finishServer(server.id, machineTo, reason, actor, at));
    shown.done();
  } catch (e) {
    shown.done();
    const failure = new StepFailed(`delete: ${step}`, server.machineId, e);
    // The row says where the delete stopped (state deprovisioning alone looks like one still
    // under way); best effort, the error says it either way.
    if (machine) {
      await ctx.store
        .transact((at) =>
          setServerState(server.id, { state: "deprovisioning", failedStep: `delete: ${step}` }, actor, at),
        )
        .catch(() => undefined);
    }
    throw failure;
  }
}

/**
 * Netboots the machine into the wipe image and waits for its report, as long as the server's
 * provisionTimeoutSeconds allows a netboot to take. Past it, the delete quarantines the
 * machine and powers it off (a machine whose one-time PXE failed boots its old disk).
 */
async function wipe(
  ctx: Context,
  server: ServerRecord,
  machine: MachineRecord,
  bmc: Bmc,
  timeoutMs: number,
): Promise<void> {
  const bootServer = ctx.config.bootServerUrl;
  if (!bootServer) throw new Error("baremetal:bootServerUrl is not set");
  const facility = await ctx.store.transact(() => readFacility(server.facility), "read");
  if (facility) await portsTo(ctx, machine, facility.provisioningVlan);
  const token = randomBytes(24).toString("base64url");
  const ipxe = renderWipeIpxe(token, bootServerUrls(bootServer), ctx.config.images);
  await ctx.store.transact((at) =>
    stageSession(
      { token, serverId: server.id, machineId: machine.id, kind: "wipe", staged: { ipxe } },
      ctx.config.actor,
      at,
    ),
  );
  await bmc.setBootDevice("pxe", { persistent: false });
  await bmc.setPower("on");
  await waitForSession(ctx.store, token, timeoutMs, "wipe");
}

/**
 * alwaysPxe changed on an installed server: the BMC's lasting boot order follows it, the
 * network first (the boot server then sends each boot on to the disk, or serves a custom
 * iPXE script again) or the disk.
 */
export function setBootOrder(ctx: Context, machine: MachineRecord, alwaysPxe: boolean): Promise<void> {
  return withBmc(machine, secrets(ctx.config), ctx.log, (bmc) =>
    bmc.setBootDevice(alwaysPxe ? "pxe" : "disk", { persistent: true }),
  );
}

/**
 * A new OS on the same machine and addresses. A failure powers the machine off (it may hold a
 * half-written disk), closes its session and leaves the server in state failed, which the
 * next update takes as a reason to install again.
 */
export async function reinstallServer(
  ctx: Context,
  server: ServerRecord,
  inputs: ServerInputs,
  owner: string,
): Promise<Provisioned> {
  const actor = ctx.config.actor;
  const machine = (await ctx.store.transact(() => readMachine(server.machineId), "read"))!;
  // Before anything changes: the server keeps running as it is.
  if (inputs.vlans.length > 0) {
    await ctx.store
      .transact(() => serverVlans(inputs), "read")
      .catch((e: unknown) => {
        throw new StepFailed("network", machine.id, e);
      });
  }
  let step = "reinstall";
  let powered = false;
  let moved = false;
  const shown = steps(`${inputs.hostname}: reinstall: `);
  try {
    await ctx.store.transact((at) =>
      setServerState(server.id, { state: "reinstalling", spec: { ...inputs, owner: undefined } }, actor, at),
    );
    step = "addresses";
    const network = await allocateAddresses(ctx.store, server.id, inputs, owner, actor);
    const rootPassword = newRootPassword();
    const ports = await install(
      ctx,
      server,
      machine,
      inputs,
      network,
      await hashPassword(rootPassword),
      (s) => {
        step = s;
        if (s === "switch") moved = true;
        if (s === "power") powered = true;
        shown.step(s, `machine ${machine.id}`);
      },
    );
    shown.done();
    const updated = await ctx.store.transact((at) =>
      setServerState(server.id, { state: "active", hostname: inputs.hostname }, actor, at),
    );
    return { server: updated, machine, network, rootPassword: ownPassword(inputs, rootPassword), ports };
  } catch (e) {
    shown.done();
    const failure = new StepFailed(step, machine.id, e);
    const undo = async (what: string, run: () => Promise<unknown>) => {
      try {
        await run();
      } catch (cleanup) {
        failure.message += `; then could not ${what}: ${(cleanup as Error).message}`;
      }
    };
    if (powered)
      await undo("power off", () =>
        withBmc(machine, secrets(ctx.config), ctx.log, (bmc) => bmc.setPower("off")),
      );
    // The install moved the ports to the provisioning network: back to the server's own, so the
    // machine (still running its OS when the BMC refused the power step) is not left there, and
    // the VLAN records say what the switch carries.
    if (moved)
      await undo("put the ports back on the server's network", async () => {
        const facility = await ctx.store.transact(() => readFacility(server.facility), "read");
        if (!facility) throw new Error(`facility ${server.facility} is no longer in the inventory`);
        await applyNetwork(ctx, server.id, machine, inputs, layer3Vlan(facility));
      });
    await undo("record the failure", () =>
      ctx.store.transact((at) =>
        (function* () {
          yield* closeSessions(machine.id, `reinstall failed at ${step}`, at);
          return yield* setServerState(server.id, { state: "failed", failedStep: step }, actor, at);
        })(),
      ),
    );
    throw failure;
  }
}

/**
 * The root password, for what our installers put on the disk; a custom iPXE script boots an OS
 * we hand nothing to, so it has none, and no output pretends otherwise.
 */
const ownPassword = (inputs: ServerInputs, password: string): string | undefined =>
  inputs.operatingSystem === "custom_ipxe" ? undefined : password;
