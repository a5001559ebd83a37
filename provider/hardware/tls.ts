// HTTPS agents for BMCs. Either the BMC's certificate chains to a CA we were given (and names
// the host), or its SHA-256 fingerprint is pinned: BMC certificates are mostly self-signed
// with names that match nothing, so a pin is the honest way to trust one. Pinning is checked
// before the socket is handed to the HTTP client, so no request (and no credential) is ever
// written to a server that fails the check.
import https from "node:https";
import tls from "node:tls";
import type { Duplex } from "node:stream";

export interface TlsTrust {
  /** PEM CA bundle the BMC's certificate must chain to. */
  ca?: string;
  /** SHA-256 fingerprint of the BMC's certificate, "AB:CD:..." (Node's format) or plain hex. */
  fingerprint256?: string;
}

export const normalFingerprint = (f: string) => f.replace(/[^0-9a-f]/gi, "").toUpperCase();

/** An agent whose sockets reach the caller only after the certificate matched the pin. */
function pinnedAgent(pin: string, options: https.AgentOptions): https.Agent {
  const agent = new https.Agent(options);
  // Node's Agent waits for the callback when createConnection returns nothing; its typings
  // do not say so, hence the assignment instead of an override.
  const connect: Connect = (o, cb) => connectPinned(pin, o, cb);
  (agent as unknown as { createConnection: Connect }).createConnection = connect;
  return agent;
}

type Connect = (
  options: tls.ConnectionOptions,
  callback?: (err: Error | null, socket?: Duplex) => void,
) => undefined;

// One TLS context per trust setting, shared by every BMC connection: building a context (its
// CA store, its cipher lists) cost more CPU than the handshake, once per server. A pinned
// connection's context trusts nothing (an empty CA list, so Node's 140 root certificates are
// not parsed for it: 5-10 ms of CPU); the pin is checked on the certificate it presents.
const contexts = new Map<string, tls.SecureContext>();
function contextFor(ca: string | string[] | undefined): tls.SecureContext {
  // undefined: the system's roots.
  const key = ca === undefined ? "roots" : JSON.stringify(ca);
  let context = contexts.get(key);
  if (!context) {
    context = tls.createSecureContext({ ca });
    contexts.set(key, context);
  }
  return context;
}

function connectPinned(pin: string, ...[options, callback]: Parameters<Connect>): undefined {
  const socket = tls.connect({ ...options, secureContext: contextFor([]), rejectUnauthorized: false });
  const fail = (err: Error) => {
    socket.destroy();
    callback?.(err);
  };
  socket.once("error", fail);
  socket.once("secureConnect", () => {
    socket.removeListener("error", fail);
    // The X509 object computes only what is asked; getPeerCertificate() parses everything.
    const seen = normalFingerprint(socket.getPeerX509Certificate()?.fingerprint256 ?? "");
    if (seen !== pin) {
      const err = Object.assign(
        new Error(`certificate fingerprint ${seen || "(none)"} does not match the pinned one`),
        {
          code: "CERT_PIN_MISMATCH",
        },
      );
      return fail(err);
    }
    callback?.(null, socket);
  });
  // Returning nothing tells the agent to wait for the callback.
  return undefined;
}

// One agent per trust setting for the whole process, so a connection to a BMC is kept and
// reused by every call that reaches it, whichever server the call is for. A chassis manager
// or a Redfish aggregator answers for many systems at one address; without this each server
// paid its own TLS handshake, a tenth of the provider's CPU per server. The agent pools per
// address; the Redfish driver bounds the requests in flight to each (bmc/redfish.ts), as the
// agent's maxSockets cannot while our pin check makes connecting asynchronous.
const agents = new Map<string, https.Agent>();
// Idle connections are closed before a BMC would likely close them (Node and many embedded
// servers use 5 s), so a request is rarely written to a socket the far end just dropped.
const IDLE_MS = 4000;

export function httpsAgent(trust: TlsTrust): https.Agent {
  const pin = trust.fingerprint256 ? normalFingerprint(trust.fingerprint256) : undefined;
  const key = pin ? `pin ${pin}` : `ca ${trust.ca ?? ""}`;
  let agent = agents.get(key);
  if (!agent) {
    const options: https.AgentOptions = { keepAlive: true, timeout: IDLE_MS };
    agent = pin
      ? pinnedAgent(pin, options)
      : new https.Agent({ ...options, ca: trust.ca, secureContext: contextFor(trust.ca) });
    agents.set(key, agent);
  }
  return agent;
}
