// How an installing or installed machine talks back to the boot server: progress events
// ({type, message} as JSON to the events URL) and the one phone-home POST that makes the
// Server active. Both are plain curl, which every supported OS and installer environment has,
// with bounded retries so a boot server outage delays provisioning instead of hanging a unit.
import { RenderError } from "./checks";

// The boot server's event names (store: servers-sql.ts moves a session on install.failed).
export type InstallEvent = "install.started" | "install.written" | "install.failed";

const CURL = "curl -fsS --retry 10 --retry-delay 10 --retry-all-errors --connect-timeout 10 --max-time 30";

/**
 * A POSIX shell / systemd ExecStart command posting one event. Single quotes suffice: URLs were
 * checked to contain no quotes, and messages are ours.
 */
export function eventCommand(eventsUrl: string, type: InstallEvent, message: string): string {
  if (/['\\%$\n]/.test(message))
    throw new RenderError(`event message ${JSON.stringify(message)} is not quotable`);
  const body = JSON.stringify({ type, message });
  return `${CURL} -H 'Content-Type: application/json' --data-raw '${body}' '${eventsUrl}'`;
}

/**
 * The phone-home POST. Form-encoded like cloud-init's phone_home module (which Ubuntu uses),
 * so the boot server reads one format from every OS.
 */
export function phoneHomeCommand(phoneHomeUrl: string, token: string, hostname: string): string {
  return `${CURL} --data-urlencode 'instance_id=${token}' --data-urlencode 'hostname=${hostname}' '${phoneHomeUrl}'`;
}

/** systemd reads `%` as a specifier prefix, even inside quotes. */
export const systemdEscape = (command: string): string => command.replace(/%/g, "%%");
