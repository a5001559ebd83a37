// Imported first by the provider's and the CLI's entry points. A dynamic-provider process
// starts on every `pulumi` command and the CLI on every call; with Node's compile cache each
// loads our modules (and the libraries after them) from cached bytecode after the first time.
// A cache that cannot be written (read-only temp dir, another user's) is simply not used;
// NODE_DISABLE_COMPILE_CACHE=1 turns it off.
import nodeModule from "node:module";

// Node 22.1 and later; the typings may predate it.
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
