// The spec's free-form customData, as the installed OS sees it: one JSON file, readable by root
// only, since nothing stops a user from putting credentials in it.
import type { TextFile } from "./text-file";

export const CUSTOM_DATA_PATH = "/etc/baremetal/custom-data.json";

export function customDataFile(customData: Record<string, unknown> | undefined): TextFile | undefined {
  if (customData === undefined) return undefined;
  return { path: CUSTOM_DATA_PATH, contents: JSON.stringify(customData, null, 2) + "\n", mode: 0o600 };
}
