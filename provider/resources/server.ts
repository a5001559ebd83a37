// Server: a machine from the inventory, addressed, wired, netbooted and installed; created only
// once the installed OS has called home. The steps live in servers/lifecycle.ts; this file is
// the engine's view: inputs, outputs, what changes in place and what replaces.
import { peek, providerConfig, reportCpu, storeFor } from "../runtime";
import { readFacility, readMachine } from "../store/inventory-sql";
import {
  notInInventory,
  quarantineOrphan,
  readServer,
  serverTimeline,
  setServerState,
  type ServerRecord,
} from "../store/servers-sql";
import { flushProgress, progress } from "../servers/progress";
import { releaseAddresses, serverAddresses, type NetworkAddress } from "../servers/addresses";
import { secretsOf, withBmc } from "../servers/hardware";
import { NETWORK, REINSTALL_ON, REPLACE_ON, ServerInputs, differs } from "../servers/inputs";
import {
  createServer,
  deleteServer,
  reinstallServer,
  setBootOrder,
  type Provisioned,
} from "../servers/lifecycle";
import { applyNetwork, layer3Vlan } from "../servers/network";
import { readPorts, type PortState } from "../servers/ports";
import { authorize } from "../access/authorize";
import { guarded, type Opening, type Operation } from "../access/guard";
import { noLog } from "../hardware/commands";
import { UNKNOWN, checkWith, type CheckResult } from "./check";

export interface ServerOutputs extends ServerInputs {
  machine: string;
  /** The machine's rack, as the inventory says (else its first NIC's switch). */
  rack: string;
  plan: string;
  state: string;
  accessPublicIpv4?: string;
  accessPrivateIpv4?: string;
  accessPublicIpv6?: string;
  network: NetworkAddress[];
  /** Made at create and at each reinstall; the sdk marks it secret. */
  rootPassword?: string;
  /** What the BMC said at the last create, update or refresh. */
  power?: "on" | "off" | "unknown";
  /** What the switches said of the machine's ports at the last create, update or refresh. */
  ports?: PortState[];
  /**
   * The ports as this server's last create or update set them and read them back. When a
   * refresh finds `ports` differ (someone moved a cable or a VLAN at the switch), the next
   * `pulumi up` puts them back.
   */
  appliedPorts?: PortState[];
  timeline: { at: string; action: string }[];
}

const IN_PLACE = [
  "hostname",
  "tags",
  "description",
  "alwaysPxe",
  "wipeOnDelete",
  "provisionTimeoutSeconds",
  "reinstall",
  // Recorded now, on the disk at the next install (inputs.ts, REINSTALL_ON).
  "sshKeys",
  "customData",
] as const;

/** The inputs that decide the switch ports changed. */
const networkChanged = (olds: ServerOutputs, news: ServerInputs) =>
  NETWORK.some((k) => differs(olds[k] ?? (k === "vlans" ? [] : undefined), news[k]));

/**
 * The server is not the running install its inputs describe: a reinstall failed or was cut
 * short, or a delete was (its machine may be wiped). The next update installs it again, with
 * or without an input changed; a refresh that read this state must not hide it as no change.
 */
const UNFINISHED = new Set(["failed", "reinstalling", "deprovisioning"]);

/** A refresh found an active server's machine powered off (at its BMC, out of band). */
const poweredOff = (o: ServerOutputs) => o.state === "active" && o.power === "off";

/** A refresh found the switch ports other than this server last set them. */
const drifted = (o: ServerOutputs) =>
  o.ports !== undefined && o.appliedPorts !== undefined && differs(o.ports, o.appliedPorts);

function owner(inputs: ServerInputs): string {
  if (!inputs.owner) throw new Error("owner: missing; create Servers through the pulumi-baremetal sdk");
  return inputs.owner;
}

async function outputs(inputs: ServerInputs, p: Provisioned, prior?: ServerOutputs): Promise<ServerOutputs> {
  const store = await storeFor();
  const first = (type: string) => p.network.find((a) => a.type === type)?.address;
  const timeline = p.timeline ?? (await store.transact(() => serverTimeline(p.server.id), "read"));
  const out: ServerOutputs = {
    ...inputs,
    // The key the store holds the server and its address blocks under, which a renamed stack
    // or project (or an alias) no longer gives: a delete that finds no row releases by it.
    owner: p.server.owner,
    machine: p.machine.id,
    // A top-of-rack switch stands for its rack when the inventory names none.
    rack: p.machine.rack ?? p.machine.nics[0]?.switch ?? "unknown",
    plan: p.server.plan,
    state: p.server.state,
    network: p.network,
    timeline: timeline.map((t) => ({ at: t.at, action: t.action })),
    power: prior?.power ?? "on",
    ...(prior?.ports ? { ports: prior.ports } : {}),
    ...(prior?.appliedPorts ? { appliedPorts: prior.appliedPorts } : {}),
  };
  const rootPassword = p.rootPassword ?? prior?.rootPassword;
  if (rootPassword) out.rootPassword = rootPassword;
  for (const [key, type] of [
    ["accessPublicIpv4", "public_ipv4"],
    ["accessPrivateIpv4", "private_ipv4"],
    ["accessPublicIpv6", "public_ipv6"],
  ] as const) {
    const a = first(type);
    if (a) out[key] = a;
  }
  return out;
}

export async function check(
  _olds: unknown,
  news: Record<string, unknown>,
): Promise<CheckResult<ServerInputs>> {
  return checkWith(ServerInputs, news);
}

export async function diff(
  id: string,
  olds: ServerOutputs,
  news: ServerInputs,
): Promise<{ changes: boolean; replaces: string[]; deleteBeforeReplace: boolean }> {
  const replaces: string[] = REPLACE_ON.filter((k) => differs(olds[k], news[k]));
  // `machine` is also an output (the machine a plan gave); only a named one that changed replaces.
  if (news.machine !== undefined && news.machine !== olds.machine) replaces.push("machine");
  // `plan` likewise: a named machine's plan comes from the inventory.
  if (news.plan !== undefined && news.plan !== olds.plan) replaces.push("plan");

  const reinstall = REINSTALL_ON.filter((k) => differs(olds[k], news[k]));
  if (news.reinstall === "replace") replaces.push(...reinstall);
  const inPlace =
    UNFINISHED.has(olds.state) ||
    (await unfinishedInStore(id, news)) ||
    poweredOff(olds) ||
    drifted(olds) ||
    IN_PLACE.some((k) => differs(olds[k], news[k])) ||
    networkChanged(olds, news) ||
    reinstall.length > 0;
  const place = [news.facility, news.plan, news.machine];
  // (An unknown one, at preview, is looked up when it is known.)
  if (replaces.some((k) => k === "facility" || k === "plan" || k === "machine") && !place.includes(UNKNOWN)) {
    // The old server is taken apart before its replacement is made: a facility, plan or
    // machine the inventory does not have (a typo) must stop the run before that.
    const missing = await notInStore(news);
    if (missing) throw new Error(`${missing}; the server was not replaced`);
  }
  // The old server goes before its replacement comes, as Terraform replaces devices: the new one
  // carries the same owner key, and a create that finds a row under its key adopts it (that is
  // how an interrupted create is resumed), so created first it would take over the old server
  // and the old one's delete would then take it apart. A named machine also holds one server.
  // Said even with no replace here: the engine takes it for a replace that replaceOnChanges
  // adds (the sdk's deleteBeforeReplace option covers `pulumi up --replace`, which asks no diff).
  return { changes: replaces.length > 0 || inPlace, replaces, deleteBeforeReplace: true };
}

/**
 * Whether the store holds the server as not the running install its outputs say: a delete
 * that failed leaves the engine the server's old outputs (state active) while its row says
 * `deprovisioning` and its machine may be wiped; an update interrupted by a killed run leaves
 * `reinstalling`. Put back in the program (or left there), it must not look like no change.
 */
async function unfinishedInStore(id: string, news: ServerInputs): Promise<boolean> {
  const server = await peek(() => readServer("id", id));
  if (!server || !UNFINISHED.has(server.state)) return false;
  const where = server.failedStep ? ` (stopped at ${server.failedStep})` : "";
  progress(
    `${news.hostname}: the store has this server ${server.state}${where}; the update installs it again`,
  );
  await flushProgress();
  return true;
}

/**
 * What of the server's place the store's inventory lacks, read without changing anything (no
 * migration, no pools, no file made: this runs at preview too). A store that cannot be read
 * within a few seconds says nothing: the create names it then.
 */
async function notInStore(news: ServerInputs): Promise<string | undefined> {
  return peek(() => notInInventory({ facility: news.facility, plan: news.plan, machineId: news.machine }));
}

async function doCreate(
  op: Operation,
  inputs: ServerInputs,
  opening: Opening,
): Promise<{ id: string; outs: ServerOutputs }> {
  const p = await createServer(op, inputs, owner(inputs), opening);
  const result = { id: p.server.id, outs: await outputs(inputs, p) };
  // The switch step read the ports back already; an adopted, finished create did not touch them.
  result.outs.ports = p.ports ?? (await readPorts(op, p.machine));
  result.outs.appliedPorts = result.outs.ports;
  reportCpu();
  return result;
}

async function provisioned(id: string): Promise<{ server: ServerRecord; p: Provisioned } | undefined> {
  const store = await storeFor();
  const server = await store.transact(() => readServer("id", id), "read");
  if (!server) return undefined;
  const machine = (await store.transact(() => readMachine(server.machineId), "read"))!;
  const wanted = (server.spec as Partial<ServerInputs>).ipAddresses ?? [];
  const network = await serverAddresses(store, id, wanted);
  return { server, p: { server, machine, network } };
}

export async function read(id: string, props: ServerOutputs): Promise<{ id: string; props?: ServerOutputs }> {
  const config = providerConfig();
  await authorize(await storeFor(config), config.actor, props.project, "read");
  const found = await provisioned(id);
  // An empty id tells the engine the server is gone.
  if (!found) return { id: "" };
  const out = await outputs(props, found.p, props);
  // The physical truth, so `pulumi refresh` shows a machine someone powered off or re-cabled.
  out.ports = await readPorts({ store: await storeFor(config), config }, found.p.machine);
  out.power = await withBmc(found.p.machine, secretsOf(config), noLog, (bmc) =>
    bmc.powerState().catch(() => "unknown" as const),
  );
  return { id, props: out };
}

/**
 * Hands the engine the server as it now is (state failed, the new inputs) with the error as an
 * initialization error: the engine records it, shows it, and runs an update again at the next
 * `pulumi up` even when nothing changed, which retries the install. Without it the engine would
 * keep the old outputs, and putting the old inputs back would look like no change at all.
 */
async function failedUpdate(e: Error, id: string, olds: ServerOutputs, news: ServerInputs): Promise<never> {
  const now = await provisioned(id).catch(() => undefined);
  if (!now) throw e;
  const { rootPassword: _gone, ...after } = await outputs(news, now.p, olds);
  // The failed install may have powered the machine off, or not; a refresh reads it.
  const properties = { ...after, power: "unknown" as const };
  // The host records these as they are; the engine-internal key must stay with them.
  const provider = (news as Record<string, unknown>).__provider;
  throw Object.assign(e, {
    id,
    properties: { ...properties, ...(provider === undefined ? {} : { __provider: provider }) },
    reasons: [e.message],
  });
}

async function doUpdate(
  op: Operation,
  id: string,
  olds: ServerOutputs,
  news: ServerInputs,
): Promise<{ outs: ServerOutputs }> {
  const { store, config } = op;
  const found = await provisioned(id);
  if (!found) throw new Error(`server ${id} is no longer in the store; run pulumi refresh`);
  // A reinstall that failed (or was interrupted), or an interrupted delete, is installed
  // again, even with no input changed.
  if (UNFINISHED.has(found.server.state) || REINSTALL_ON.some((k) => differs(olds[k], news[k]))) {
    // The stored owner key, not this run's: the addresses a reinstall keeps are held under it.
    const p = await reinstallServer(op, found.server, news, found.server.owner).catch((e) =>
      failedUpdate(e as Error, id, olds, news),
    );
    const ports = p.ports ? { ports: p.ports, appliedPorts: p.ports } : {};
    return { outs: { ...(await outputs(news, p, olds)), ...ports } };
  }
  if (differs(olds.alwaysPxe, news.alwaysPxe)) await setBootOrder(op, found.p.machine, news.alwaysPxe);
  // The program says the server runs: one found powered off is powered on, from its disk (or
  // as alwaysPxe says) as any boot of it.
  let power = olds.power;
  if (poweredOff(olds) && found.server.state === "active") {
    await withBmc(found.p.machine, secretsOf(config), op.log, (bmc) => bmc.setPower("on"));
    progress(`${news.hostname}: machine ${found.p.machine.id} was found powered off; powered on`);
    power = "on";
  }
  let ports = olds.ports;
  // Inputs that change the ports, or ports a refresh found moved: the switch gets the plan again.
  if (drifted(olds) || networkChanged(olds, news)) {
    const facility = await store.transact(() => readFacility(found.server.facility), "read");
    if (!facility) throw new Error(`facility ${found.server.facility} is no longer in the inventory`);
    ports = await applyNetwork(op, id, found.p.machine, news, layer3Vlan(facility));
  }
  const server = await store.transact((at) =>
    setServerState(
      id,
      { state: found.server.state, hostname: news.hostname, spec: { ...news, owner: undefined } },
      config.actor,
      at,
    ),
  );
  return {
    outs: {
      ...(await outputs(news, { ...found.p, server }, olds)),
      ...(ports ? { ports, appliedPorts: ports } : {}),
      ...(power ? { power } : {}),
    },
  };
}

async function doRemove(op: Operation, id: string, props: ServerOutputs): Promise<void> {
  const { store, config } = op;
  const server = await store.transact(() => readServer("id", id), "read");
  // Already gone is fine: delete must be safe to repeat after an interrupted run. Blocks still
  // kept under its owner key (nothing else can hold them while no server has that key) go too.
  if (!server) {
    const key = owner(props);
    if (!(await store.transact(() => readServer("owner", key), "read"))) {
      await releaseAddresses(store, id, key, config.actor);
      const machine = await store.transact((at) => quarantineOrphan(key, config.actor, at));
      if (machine) progress(`${props.hostname}: server row gone; machine ${machine} it held is quarantined`);
    }
    return;
  }
  await deleteServer(op, server, props, server.owner);
}

const mutation = (i: ServerInputs) => ({
  kind: "Server",
  project: i.project,
  owner: i.owner ?? null,
  permission: "server.write" as const,
});

async function context() {
  const config = providerConfig();
  return { config, store: await storeFor(config) };
}

export async function create(inputs: ServerInputs): Promise<{ id: string; outs: ServerOutputs }> {
  return guarded(
    await context(),
    { ...mutation(inputs), action: "create" },
    (op, opening) => doCreate(op, inputs, opening),
    (r) => ({
      id: r.id,
      after: r.outs,
    }),
    { opensItself: true },
  );
}

export async function update(
  id: string,
  olds: ServerOutputs,
  news: ServerInputs,
): Promise<{ outs: ServerOutputs }> {
  return guarded(
    await context(),
    { ...mutation(news), action: "update", id, before: olds },
    (op) => doUpdate(op, id, olds, news),
    (r) => ({ id, after: r.outs }),
  );
}

export async function remove(id: string, props: ServerOutputs): Promise<void> {
  return guarded(
    await context(),
    { ...mutation(props), action: "delete", id, before: props },
    (op) => doRemove(op, id, props),
    () => ({ id, after: null }),
  );
}
