// citty colours its help text unless NO_COLOR=1, without asking whether the
// output is a terminal, so `dkv --help | less` showed escape codes. main.ts
// imports this module first, before citty reads the environment; an explicit
// NO_COLOR or FORCE_COLOR is left as it is.
if (!process.stdout.isTTY && process.env.NO_COLOR === undefined && process.env.FORCE_COLOR === undefined) process.env.NO_COLOR = "1";
