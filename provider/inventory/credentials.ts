// Turns a credential reference into the secret, at the moment a driver needs it, and nowhere
// else. Errors name the reference (the variable or config key), never a value.
import type { CredentialRef } from "./types";

export class CredentialMissing extends Error {
  readonly code = "CredentialMissing";
  constructor(message: string) {
    super(message);
    this.name = "CredentialMissing";
  }
}

/**
 * `secrets` holds the stack's `baremetal:*` config values by key (Pulumi decrypts secrets
 * before handing config to the provider); `env` the process environment.
 */
export function resolveCredential(
  ref: CredentialRef,
  where: string,
  sources: { secrets?: Record<string, string | undefined>; env?: NodeJS.ProcessEnv } = {},
): string {
  if ("env" in ref) {
    const value = (sources.env ?? process.env)[ref.env];
    if (!value) throw new CredentialMissing(`${where}: environment variable ${ref.env} is not set`);
    return value;
  }
  const value = sources.secrets?.[ref.secret];
  if (!value) {
    throw new CredentialMissing(
      `${where}: config key baremetal:${ref.secret} is not set (pulumi config set --secret baremetal:${ref.secret} ...; ` +
        `the baremetal command reads it from the environment variable ${secretVariable(ref.secret)})`,
    );
  }
  return value;
}

/**
 * Where the baremetal command finds a {secret: key} credential: it runs outside any stack, so
 * the stack's config is not there. In a stack's directory:
 * `BAREMETAL_SECRET_key=$(pulumi config get baremetal:key) baremetal server delete ...`.
 */
export const secretVariable = (key: string) => `BAREMETAL_SECRET_${key}`;
