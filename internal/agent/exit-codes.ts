/** Exit codes of both binaries (SPEC §1), in a module of their own so the CLI can name them without loading the agent. */
export const EXIT = { ok: 0, runtime: 1, usage: 2 } as const;
