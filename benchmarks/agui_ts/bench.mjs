// The official AG-UI TypeScript client (@ag-ui/client 1.0.0) on the AG-UI event mix that
// benchmarks/agui.py times flowrx on: the app path, AbstractAgent.runAgent().
//
//     npm ci --prefix benchmarks/agui_ts                  # once: the pinned client
//     node benchmarks/agui_ts/bench.mjs MIX.json [--passes 5] [--out FINAL.json]
//
// MIX.json is an array of runs (one per leg: a resume is a run of its own, on the same thread),
// each an array of AG-UI event objects, in the order a client receives them. Each thread gets
// one agent (an AbstractAgent subclass, as an app holds one per conversation) whose run()
// returns an rxjs Observable of that run's events, so that every stage runAgent wires runs:
// the middlewares' compatibility boundary, enforcement (schema strip), chunk expansion, the
// verifier (which aborts the run on a protocol violation), apply (message, tool call and
// state reassembly, JSON Patch for STATE_DELTA) with the subscriber callbacks of every event,
// and the messages/state updates with their onMessagesChanged/onStateChanged notifications to
// one app subscriber (it counts them, as a UI re-renders on them). A run that ended with an
// interrupt outcome leaves agent.pendingInterrupts, which runAgent refuses to run past
// without an answer: the resume leg passes a resolved resume entry for each.
//
// Two modes, each timed over the whole mix, the runs one after another (each awaited):
//   objects: run() emits the event objects (the client's cost from parsed events on),
//   text:    run() emits each event's JSON text through JSON.parse (what the SSE transport
//            does after framing; flowrx's figure starts from the text too).
// One warm-up pass of each mode, then --passes timed passes of each, alternating; every pass
// builds its agents anew from a fresh copy of the events (made before the clock starts),
// and the collector runs as V8 decides (as in an app: a gc() forced before each pass made
// the passes slower, its heap growing back during them).
// It prints one JSON object: µs per event (the median of the passes' wall time, and of the
// CPU time the process used in them, which other work on a shared machine disturbs less),
// every pass, the counts, what the agents ended with, how many runs failed (the verifier
// aborts a run on a protocol violation: the captures have none, so this must be 0) and what
// the client said on the console, by kind. --out writes every thread's final messages and
// state (of the last pass) for benchmarks/agui.py's sanity check.

import { readFileSync, writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { argv, env, exit } from "node:process";

// a production app: the client's dev-only clone-and-freeze guard is off (it is on under
// NODE_ENV=development or test); set before the client reads it (on each event)
env.NODE_ENV ??= "production";

const { AbstractAgent } = await import("@ag-ui/client");
const { from, map } = await import("rxjs");

function usage(message) {
  console.error(`bench.mjs: ${message}`);
  console.error("usage: node bench.mjs MIX.json [--passes N] [--out FINAL.json]");
  exit(2);
}

function parseArgs(args) {
  const options = { mix: null, passes: 5, out: null };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--passes" || arg === "--out") {
      if (i + 1 >= args.length) usage(`${arg} needs a value`);
      const value = args[++i];
      if (arg === "--out") options.out = value;
      else {
        options.passes = Number.parseInt(value, 10);
        if (!(options.passes >= 1)) usage(`--passes must be a whole number from 1, not ${value}`);
      }
    } else if (arg.startsWith("--")) usage(`no such option: ${arg}`);
    else if (options.mix === null) options.mix = arg;
    else usage(`one mix file only, not also ${arg}`);
  }
  if (options.mix === null) usage("the mix file is missing");
  return options;
}

function readMix(path) {
  let mix;
  try {
    mix = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    usage(`${path}: ${error.message}`);
  }
  if (!Array.isArray(mix) || mix.length === 0) usage(`${path}: not a non-empty array of runs`);
  mix.forEach((run, i) => {
    const first = Array.isArray(run) ? run[0] : undefined;
    if (!first || first.type !== "RUN_STARTED" || typeof first.threadId !== "string") {
      usage(`${path}: run ${i} does not open with a RUN_STARTED naming its thread`);
    }
  });
  return mix;
}

/** One conversation's agent: run() plays the events of the run it is handed next. */
class ReplayAgent extends AbstractAgent {
  constructor(threadId, text) {
    super({ threadId });
    this.text = text;
    this.next = null;
  }

  run() {
    const events = this.next;
    this.next = null;
    return this.text ? from(events).pipe(map((line) => JSON.parse(line))) : from(events);
  }
}

/** Every run of the mix through its thread's agent, one after another; the elapsed ms. */
async function pass(runs, text, tally) {
  const agents = new Map();
  const app = {
    // what a UI does on each change: re-render; here, count
    onMessagesChanged: () => {
      tally.messageChanges++;
    },
    onStateChanged: () => {
      tally.stateChanges++;
    },
  };
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (const run of runs) {
    const { threadId, runId } = run.start;
    let agent = agents.get(threadId);
    if (agent === undefined) {
      agent = new ReplayAgent(threadId, text);
      agent.subscribe(app);
      agents.set(threadId, agent);
    }
    const parameters = { runId };
    if (agent.pendingInterrupts.length > 0) {
      // the user approves every interrupt of the paused run (the captures' resume legs)
      parameters.resume = agent.pendingInterrupts.map((i) => ({
        interruptId: i.id,
        status: "resolved",
      }));
    }
    agent.next = run.events;
    try {
      await agent.runAgent(parameters);
    } catch (error) {
      tally.failed++;
      if (tally.firstFailure === null) tally.firstFailure = `${threadId}: ${error.message}`;
    }
  }
  const ms = performance.now() - start;
  const used = process.cpuUsage(cpu); // every thread of the process: the collector's too
  return { ms, cpuMs: (used.user + used.system) / 1000, agents };
}

function freshRuns(mix, text) {
  return mix.map((events) => ({
    start: events[0],
    events: text ? events.map((e) => JSON.stringify(e)) : structuredClone(events),
  }));
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function tallyNew() {
  return { messageChanges: 0, stateChanges: 0, failed: 0, firstFailure: null };
}

async function main() {
  const options = parseArgs(argv.slice(2));
  const mix = readMix(options.mix);
  const events = mix.reduce((n, run) => n + run.length, 0);
  const threads = new Set(mix.map((run) => run[0].threadId)).size;

  // the client warns through console.warn/console.error (transform, legacy, version notes,
  // run failures): counted, and kept off the timed path's terminal
  const said = { warn: 0, error: 0, kinds: {} };
  for (const level of ["warn", "error"]) {
    console[level] = (...args) => {
      said[level]++;
      const kind = `${level}: ${String(args[0]).split("\n")[0].slice(0, 120)}`;
      said.kinds[kind] = (said.kinds[kind] ?? 0) + 1;
    };
  }

  const times = { objects: [], text: [] };
  const cpuTimes = { objects: [], text: [] };
  const tallies = { objects: tallyNew(), text: tallyNew() };
  let last = null;
  for (let i = -1; i < options.passes; i++) {
    for (const mode of ["objects", "text"]) {
      const runs = freshRuns(mix, mode === "text");
      const tally = i < 0 ? tallyNew() : tallies[mode];
      const { ms, cpuMs, agents } = await pass(runs, mode === "text", tally);
      if (i >= 0) {
        times[mode].push(ms);
        cpuTimes[mode].push(cpuMs);
      }
      if (i < 0) {
        // the warm-up pass's failures count too: a mix the client rejects is not comparable
        tallies[mode].failed += tally.failed;
        tallies[mode].firstFailure ??= tally.firstFailure;
      }
      last = agents;
    }
  }

  const roles = {};
  let messages = 0;
  const final = {};
  for (const [threadId, agent] of last) {
    messages += agent.messages.length;
    for (const m of agent.messages) roles[m.role] = (roles[m.role] ?? 0) + 1;
    final[threadId] = { messages: agent.messages, state: agent.state };
  }
  if (options.out !== null) writeFileSync(options.out, JSON.stringify(final));
  const perEvent = (ms) => (ms * 1000) / events;
  const result = {
    client: "@ag-ui/client 1.0.0",
    node: process.version,
    node_env: env.NODE_ENV,
    events,
    runs: mix.length,
    threads,
    passes: options.passes,
    us_per_event: perEvent(median(times.objects)),
    us_per_event_text: perEvent(median(times.text)),
    pass_us_per_event: times.objects.map(perEvent),
    pass_us_per_event_text: times.text.map(perEvent),
    cpu_us_per_event: perEvent(median(cpuTimes.objects)),
    cpu_us_per_event_text: perEvent(median(cpuTimes.text)),
    failed_runs: tallies.objects.failed + tallies.text.failed,
    first_failure: tallies.objects.firstFailure ?? tallies.text.firstFailure,
    // console output of every pass run (warm-ups included), by its first line
    passes_run: (options.passes + 1) * 2,
    warnings: said.warn,
    errors: said.error,
    warning_kinds: said.kinds,
    messages,
    messages_by_role: roles,
    message_changes_per_pass: tallies.objects.messageChanges / options.passes,
    state_changes_per_pass: tallies.objects.stateChanges / options.passes,
    threads_with_state: Object.values(final).filter((t) => Object.keys(t.state ?? {}).length)
      .length,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
