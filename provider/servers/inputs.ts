// Server inputs, as `check` validates them: every field named in its error, with what is valid.
import { z } from "zod";
import { descriptionField, nameField, tagsField } from "../resources/fields";
import { OPERATING_SYSTEMS } from "../provisioning/spec";
import { SSH_KEY, checkUrl } from "../provisioning/render/checks";
import { checkUserData } from "../provisioning/render";

// At most 64 characters in all: Linux's HOST_NAME_MAX, past which systemd refuses
// /etc/hostname (Flatcar and FCOS write the whole name there) and the host gets a default one.
const HOSTNAME = /^(?=.{1,64}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

export const SSH_KEY_RULE =
  'each ssh key is one OpenSSH public key line, e.g. "ssh-ed25519 AAAA... me@laptop": type ssh-ed25519, ' +
  "ssh-rsa, ecdsa-sha2-nistp256/384/521 or its sk- form, and a comment in printable ASCII";

export const ADDRESS_TYPES = ["public_ipv4", "private_ipv4", "public_ipv6"] as const;
/** layer3: routed addresses only; hybrid: layer 3 plus tagged VLANs; layer2: VLANs only. */
export const NETWORK_TYPES = ["layer3", "hybrid", "layer2"] as const;

const ipAddress = z
  .strictObject({
    type: z.enum(ADDRESS_TYPES, { error: `type must be one of ${ADDRESS_TYPES.join(", ")}` }),
    /** Size of the block the server gets, as a prefix length (31: two IPv4 addresses). */
    prefixLength: z.number().int().optional(),
    /** Draw the address from this IpReservation (its id) instead of a new block. */
    reservationId: z.string().min(1, "reservationId must not be empty: an IpReservation's id").optional(),
  })
  .superRefine((a, ctx) => {
    const [lo, hi] = a.type === "public_ipv6" ? [64, 127] : [24, 31];
    if (a.prefixLength !== undefined && (a.prefixLength < lo || a.prefixLength > hi)) {
      ctx.addIssue({
        code: "custom",
        path: ["prefixLength"],
        message: `for ${a.type}, prefixLength is ${lo}-${hi}`,
      });
    }
    if (a.prefixLength !== undefined && a.reservationId !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["reservationId"],
        message: "give prefixLength or reservationId, not both",
      });
    }
  });

/** What a server gets when it asks for nothing: Equinix Metal's defaults. */
export const DEFAULT_ADDRESSES = [
  { type: "public_ipv4", prefixLength: 31 },
  { type: "private_ipv4", prefixLength: 31 },
  { type: "public_ipv6", prefixLength: 127 },
] as const;

function emptyIsNone(v: unknown): unknown {
  return v === "" ? undefined : v;
}

/** customData travels in the stored spec, the stack's state and the machine's config. */
const CUSTOM_DATA_MAX = 65536;

export const ServerInputs = z
  .strictObject({
    project: nameField("project"),
    facility: nameField("facility"),
    plan: nameField("plan").optional(),
    /** One machine by inventory id, instead of any machine of a plan. */
    machine: nameField("machine").optional(),
    hostname: z
      .string({ error: "hostname must be a string" })
      .regex(
        HOSTNAME,
        "hostname must be DNS labels of letters, digits and '-' (1-63 each), joined by dots, at most 64 characters in all",
      ),
    operatingSystem: z.enum(OPERATING_SYSTEMS, {
      error: `operatingSystem must be one of ${OPERATING_SYSTEMS.join(", ")}`,
    }),
    // An empty string is no value: given, it would differ from none and reinstall the server.
    userData: z.preprocess(emptyIsNone, z.string().max(65536, "userData is at most 64 KiB").optional()),
    customData: z.record(z.string(), z.unknown()).optional(),
    ipxeScriptUrl: z.preprocess(
      emptyIsNone,
      z
        .string()
        .max(65536, "ipxeScriptUrl is at most 64 KiB (a URL, or a script starting with #!ipxe)")
        .optional(),
    ),
    alwaysPxe: z.boolean().default(false),
    sshKeys: z.array(z.string().regex(SSH_KEY, SSH_KEY_RULE)).max(64).default([]),
    tags: tagsField,
    description: descriptionField,
    networkType: z
      .enum(NETWORK_TYPES, { error: `networkType must be one of ${NETWORK_TYPES.join(", ")}` })
      .default("layer3"),
    /** VLAN ids (of Vlans of this project in this facility) the server's ports carry. */
    vlans: z
      .array(
        z
          .number({ error: "each vlan is a VLAN id (a number, e.g. vlan.vid)" })
          .int("each vlan is a whole number")
          .min(2, "each vlan is a VLAN id 2-4094")
          .max(4094, "each vlan is a VLAN id 2-4094"),
      )
      .max(64, "at most 64 vlans")
      .default([]),
    /** layer2 with several VLANs: the one carried untagged. */
    nativeVlan: z
      .number({ error: (i) => (i.code === "invalid_type" ? "nativeVlan must be a number" : undefined) })
      .int("nativeVlan must be a whole number (a VLAN id)")
      .optional(),
    ipAddresses: z
      .array(ipAddress)
      .max(8)
      .default(DEFAULT_ADDRESSES.map((a) => ({ ...a }))),
    /** Erase the disks before the machine goes back to the pool; without, it waits in quarantine. */
    wipeOnDelete: z.boolean().default(true),
    /** How long to wait for the installed OS to call home; dynamic providers get no customTimeouts. */
    provisionTimeoutSeconds: z.number().int().min(5).max(86400).default(1800),
    /** A userData or OS change: reinstall the same machine (default) or replace the server. */
    reinstall: z.enum(["in-place", "replace"]).default("in-place"),
    /** Set by the sdk: `<organization>/<project>/<stack>/<resource name>`. */
    owner: z.string().optional(),
  })
  .superRefine((v, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
    if (v.networkType === "layer3" && v.vlans.length > 0) {
      issue(
        "vlans",
        "a layer3 server carries no VLANs: use networkType hybrid (layer 3 plus tagged VLANs) or layer2",
      );
    }
    if (new Set(v.vlans).size !== v.vlans.length) issue("vlans", "each VLAN id at most once");
    const drawn = v.ipAddresses.flatMap((a) => (a.reservationId === undefined ? [] : [a.reservationId]));
    const twice = drawn.filter((id, i) => drawn.indexOf(id) !== i);
    if (twice.length > 0) {
      issue(
        "ipAddresses",
        `reservationId ${twice[0]} is named twice: one address is drawn from each entry, so name each reservation once`,
      );
    }
    // PostgreSQL's text and jsonb refuse NUL; refused here on every store, naming the field.
    for (const field of ["userData", "ipxeScriptUrl"] as const) {
      if (v[field]?.includes("\0")) issue(field, `${field} may not contain a NUL character`);
    }
    if (v.customData !== undefined) {
      const json = JSON.stringify(v.customData);
      if (json.includes("\\u0000")) issue("customData", "customData may not contain a NUL character");
      if (Buffer.byteLength(json) > CUSTOM_DATA_MAX) {
        issue("customData", `customData is at most 64 KiB as JSON (it is ${Buffer.byteLength(json)} bytes)`);
      }
    }
    // Its ports carry only its VLANs, and the facility's routed networks (public and private)
    // are not on them: an address from their pools would be held and unreachable, its
    // gateway the server's default route to nowhere.
    if (v.networkType === "layer2" && v.ipAddresses.length > 0) {
      issue(
        "ipAddresses",
        `a layer2 server has no layer 3 addresses (asked for ${v.ipAddresses.map((a) => a.type).join(", ")}): ` +
          "its ports carry only its VLANs, where the facility's public and private networks are not; give ipAddresses [] " +
          "and address it on its VLANs (their own DHCP, or userData), or use networkType hybrid to keep layer 3",
      );
    }
    if (v.nativeVlan !== undefined) {
      if (v.networkType !== "layer2")
        issue(
          "nativeVlan",
          "nativeVlan is for layer2 servers (hybrid's native VLAN is the facility's layer 3 network)",
        );
      else if (!v.vlans.includes(v.nativeVlan))
        issue("nativeVlan", `nativeVlan ${v.nativeVlan} must be one of vlans`);
    }
    if ((v.plan === undefined) === (v.machine === undefined)) {
      ctx.addIssue({ code: "custom", path: ["plan"], message: "give exactly one of plan or machine" });
    }
    if (v.operatingSystem === "custom_ipxe") {
      // Nothing of ours runs in the OS a custom script boots, and there is no metadata service:
      // these would be accepted and silently go nowhere.
      for (const field of ["userData", "customData", "sshKeys"] as const) {
        const value = v[field];
        if (value !== undefined && !(Array.isArray(value) && value.length === 0)) {
          issue(
            field,
            `${field} goes to our installers (flatcar, fcos, ubuntu); operatingSystem custom_ipxe boots your own script, which gets nothing from us: put it in that script's own config`,
          );
        }
      }
    }
    try {
      checkUserData(v.operatingSystem, v.userData);
    } catch (e) {
      issue("userData", (e as Error).message);
    }
    if (v.operatingSystem === "custom_ipxe" && !v.ipxeScriptUrl) {
      ctx.addIssue({
        code: "custom",
        path: ["ipxeScriptUrl"],
        message: "operatingSystem custom_ipxe needs ipxeScriptUrl (a URL or a script starting with #!ipxe)",
      });
    }
    if (v.ipxeScriptUrl && !v.ipxeScriptUrl.startsWith("#!ipxe")) {
      try {
        checkUrl("ipxeScriptUrl", v.ipxeScriptUrl);
      } catch (e) {
        ctx.addIssue({
          code: "custom",
          path: ["ipxeScriptUrl"],
          message: `${(e as Error).message}; give an http(s) URL, or a script starting with #!ipxe`,
        });
      }
    }
    if (v.ipxeScriptUrl && v.operatingSystem !== "custom_ipxe") {
      ctx.addIssue({
        code: "custom",
        path: ["ipxeScriptUrl"],
        message: `ipxeScriptUrl is the script of operatingSystem custom_ipxe; ${v.operatingSystem} boots our installer (with alwaysPxe, the boot server sends every later boot to the disk)`,
      });
    }
  });

export type ServerInputs = z.output<typeof ServerInputs>;

/**
 * Inputs whose change replaces the server (a new machine), reinstalls it, or re-wires its ports.
 * sshKeys and customData are not among them: they go onto the disk at an install, and a key
 * added should not erase a server; a change is recorded and applies at the next install.
 */
export const REPLACE_ON = ["project", "facility", "ipAddresses"] as const;
export const REINSTALL_ON = ["operatingSystem", "userData", "ipxeScriptUrl"] as const;
export const NETWORK = ["networkType", "vlans", "nativeVlan"] as const;

/**
 * Whether an input changed. The same request said two ways is no change: an empty string and
 * none (states written before check dropped empty strings), and an address request with or
 * without the prefix length it defaults to.
 */
export const differs = (a: unknown, b: unknown) =>
  JSON.stringify(canonical(a)) !== JSON.stringify(canonical(b));

function canonical(v: unknown): unknown {
  if (v === undefined || v === "") return null;
  if (Array.isArray(v)) return v.map(canonical);
  const a = v as { type?: unknown; prefixLength?: number; reservationId?: string } | null;
  if (a && typeof a === "object" && (ADDRESS_TYPES as readonly unknown[]).includes(a.type)) {
    const prefixLength =
      a.reservationId === undefined
        ? (a.prefixLength ?? defaultPrefix(a.type as AddressType))
        : a.prefixLength;
    return { type: a.type, prefixLength: prefixLength ?? null, reservationId: a.reservationId ?? null };
  }
  return v;
}

export type AddressType = (typeof ADDRESS_TYPES)[number];

/** A block of two addresses: /31 (RFC 3021) or /127 (RFC 6164). */
export const defaultPrefix = (type: AddressType) => (type === "public_ipv6" ? 127 : 31);
