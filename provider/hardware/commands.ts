// The hardware commands an operation issued, for the audit log: drivers note each change they
// send (never a credential: those travel in environment variables and headers, not in the
// commands noted here) to the log of the operation that asked for it.
//
// The log is passed down explicitly, not found through AsyncLocalStorage: in Node 22 a store
// in use turns on async_hooks' promise hooks for the whole process, three calls into
// JavaScript for every promise the gRPC server, HTTP and SSH clients and the store make. That
// was a tenth of the provider's CPU in a 10-server `pulumi up`.

/** Takes one command an operation issued. */
export type CommandLog = (command: string) => void;

/** For reads, tests and tools that keep no audit. */
export const noLog: CommandLog = () => undefined;
