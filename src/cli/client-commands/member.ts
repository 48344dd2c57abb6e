// `dkv member list | add NAME PEER_ADDR [--learner] | update NAME PEER_ADDR | remove NAME`, and the
// seed's spellings as top-level commands: member-list, member-join,
// member-leave. A membership change is never retried once it may have
// reached a server (a lost answer says "outcome unknown").
import { defineCommand, type ArgsDef, type CommandDef } from "citty";
import { UsageError } from "../errors.ts";
import { EndpointSyntaxError, parseEndpoint } from "../../client/index.ts";
import { clientArgs, withClient, type ClientFlags } from "./flags.ts";
import { printJson, printTable, writeStdout } from "./output.ts";

const listArgs = { ...clientArgs } as const satisfies ArgsDef;

const addArgs = {
  name: { type: "positional", required: true, description: "Name (member id) of the new member" },
  "peer-addr": { type: "positional", required: true, description: "Its peer (raft) address, host:port" },
  learner: { type: "boolean", default: false, description: "Join as a non-voting learner" },
  ...clientArgs,
} as const satisfies ArgsDef;

const updateArgs = {
  name: { type: "positional", required: true, description: "Name (member id) of the member that moved" },
  "peer-addr": { type: "positional", required: true, description: "Its new peer (raft) address, host:port" },
  "client-addr": { type: "string", description: "Its new client address, host:port (default: keep the recorded one)" },
  ...clientArgs,
} as const satisfies ArgsDef;

const removeArgs = {
  name: { type: "positional", required: true, description: "Name (member id) of the member to remove" },
  ...clientArgs,
} as const satisfies ArgsDef;

async function runList(flags: ClientFlags): Promise<void> {
  await withClient(flags, async (client, output) => {
    const members = await client.members();
    if (output === "json") {
      return printJson({
        members: members.map((m) => ({ id: m.id, peer_address: m.peerAddress, client_address: m.clientAddress, is_leader: m.isLeader, is_learner: m.isLearner })),
      });
    }
    const yesNo = (b: boolean) => (b ? "yes" : "no");
    printTable(["ID", "PEER ADDRESS", "CLIENT ADDRESS", "LEADER", "LEARNER"], members.map((m) => [m.id, m.peerAddress, m.clientAddress, yesNo(m.isLeader), yesNo(m.isLearner)]));
  });
}

async function runAdd(args: ClientFlags & { name: string; "peer-addr": string; learner: boolean }): Promise<void> {
  try {
    parseEndpoint(args["peer-addr"], false);
  } catch (error) {
    if (error instanceof EndpointSyntaxError) throw new UsageError(`PEER_ADDR: ${error.message}`);
    throw error;
  }
  await withClient(args, async (client, output) => {
    await client.addMember(args.name, args["peer-addr"], { learner: args.learner });
    if (output === "json") return printJson({ added: { id: args.name, peer_address: args["peer-addr"], is_learner: args.learner } });
    writeStdout(`added ${args.learner ? "learner" : "member"} ${JSON.stringify(args.name)} at ${args["peer-addr"]}\n`);
  });
}

async function runUpdate(args: ClientFlags & { name: string; "peer-addr": string; "client-addr"?: string }): Promise<void> {
  for (const [what, address] of [["PEER_ADDR", args["peer-addr"]], ["--client-addr", args["client-addr"]]] as const) {
    if (address === undefined) continue;
    try {
      parseEndpoint(address, false);
    } catch (error) {
      if (error instanceof EndpointSyntaxError) throw new UsageError(`${what}: ${error.message}`);
      throw error;
    }
  }
  await withClient(args, async (client, output) => {
    await client.updateMember(args.name, args["peer-addr"], args["client-addr"] ? { clientAddress: args["client-addr"] } : {});
    if (output === "json") return printJson({ updated: { id: args.name, peer_address: args["peer-addr"], client_address: args["client-addr"] ?? null } });
    writeStdout(`updated member ${JSON.stringify(args.name)}: peer address ${args["peer-addr"]}${args["client-addr"] ? `, client address ${args["client-addr"]}` : ""}\n`);
  });
}

async function runRemove(args: ClientFlags & { name: string }): Promise<void> {
  await withClient(args, async (client, output) => {
    await client.removeMember(args.name);
    if (output === "json") return printJson({ removed: { id: args.name } });
    writeStdout(`removed member ${JSON.stringify(args.name)}\n`);
  });
}

async function runMoveLeader(args: ClientFlags & { name: string }): Promise<void> {
  await withClient(args, async (client, output) => {
    const moved = await client.moveLeader(args.name);
    if (output === "json") return printJson({ leader: moved.leaderId, raft_term: moved.raftTerm });
    writeStdout(`leader is now ${JSON.stringify(moved.leaderId)} (term ${moved.raftTerm})\n`);
  });
}

function listCommand(name: string): CommandDef<typeof listArgs> {
  return defineCommand({ meta: { name, description: "List the cluster's members" }, args: listArgs, run: ({ args }) => runList(args) });
}

function addCommand(name: string): CommandDef<typeof addArgs> {
  return defineCommand({ meta: { name, description: "Add a member (NAME PEER_ADDR)" }, args: addArgs, run: ({ args }) => runAdd(args) });
}

function removeCommand(name: string): CommandDef<typeof removeArgs> {
  return defineCommand({ meta: { name, description: "Remove a member (NAME)" }, args: removeArgs, run: ({ args }) => runRemove(args) });
}

const updateCommand = defineCommand({
  meta: { name: "update", description: "Record new addresses for a member that moved (NAME PEER_ADDR [--client-addr])" },
  args: updateArgs,
  run: ({ args }) => runUpdate(args),
});

const moveLeaderArgs = {
  name: { type: "positional", required: true, description: "Name (member id) of the voter to lead" },
  ...clientArgs,
} as const satisfies ArgsDef;

const moveLeaderCommand = defineCommand({
  meta: { name: "move-leader", description: "Hand leadership to another voter (NAME), e.g. before maintenance of the leader's machine" },
  args: moveLeaderArgs,
  run: ({ args }) => runMoveLeader(args),
});

export const memberCommand = defineCommand({
  meta: { name: "member", description: "List, add, update and remove cluster members; move the leadership" },
  subCommands: { list: listCommand("list"), add: addCommand("add"), update: updateCommand, remove: removeCommand("remove"), "move-leader": moveLeaderCommand },
});

/** The seed's spellings, wired as top-level commands. */
export const memberListCommand = listCommand("member-list");
export const memberJoinCommand = addCommand("member-join");
export const memberLeaveCommand = removeCommand("member-leave");
