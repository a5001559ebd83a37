// The lab BMC's TLS certificate: self-signed, made fresh at start, as a factory-fresh BMC's is.
// Clients trust it the way they trust a real BMC: by pinning its SHA-256 fingerprint (or by
// taking the PEM as their CA, since it is its own issuer).
import { X509Certificate } from "node:crypto";
import { generate } from "selfsigned";

export interface LabCertificate {
  /** PEM certificate; usable as a CA bundle too (self-signed). */
  cert: string;
  /** PEM private key. */
  key: string;
  /** "AB:CD:..." as Node's X509Certificate.fingerprint256 prints it (the inventory's format). */
  fingerprint256: string;
}

export async function makeCertificate(commonName = "baremetal-lab-bmc"): Promise<LabCertificate> {
  // P-256 instead of RSA: a few milliseconds instead of tens, and every TLS client takes it.
  // The names cover how the lab is reached (127.0.0.1, localhost) so a CA-style trust works too.
  const pems = await generate([{ name: "commonName", value: commonName }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notAfterDate: new Date(Date.now() + 7 * 24 * 3600 * 1000),
    extensions: [
      { name: "basicConstraints", cA: true },
      { name: "keyUsage", digitalSignature: true, keyCertSign: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 7, ip: "127.0.0.1" },
          { type: 2, value: "localhost" },
        ],
      },
    ],
  });
  return {
    cert: pems.cert,
    key: pems.private,
    fingerprint256: new X509Certificate(pems.cert).fingerprint256,
  };
}
