// Runs the client commands under a root that also has the seed's top-level
// spellings (member-list, member-join, member-leave), the way main.ts is
// meant to wire them; used by cli.test.ts as a subprocess.
import { defineCommand } from "citty";
import { dispatch } from "../../src/cli/dispatch.ts";
import { memberCommand, memberJoinCommand, memberLeaveCommand, memberListCommand } from "../../src/cli/client-commands/member.ts";

const root = defineCommand({
  meta: { name: "dkv" },
  subCommands: { member: memberCommand, "member-list": memberListCommand, "member-join": memberJoinCommand, "member-leave": memberLeaveCommand },
});

process.exitCode = await dispatch(root, process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  env: process.env,
}, "test");
