// A file for the installed system, before it is encoded for Ignition or cloud-init.
export interface TextFile {
  path: string;
  contents: string;
  /** Octal permissions. */
  mode: number;
}
