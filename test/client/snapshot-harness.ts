// Runs `snapshot save` as its own root command (main.ts's `snapshot` group
// is wired by the lead); used by cli.test.ts as a subprocess.
import { dispatch } from "../../src/cli/dispatch.ts";
import { snapshotSaveCommand } from "../../src/cli/client-commands/snapshot-save.ts";

process.exitCode = await dispatch(snapshotSaveCommand, process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  env: process.env,
}, "test");
