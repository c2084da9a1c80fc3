#!/usr/bin/env node
// Node.js `cluster` peer for crew's benchmarks (issue 7). Plain Node, no dependencies.
//
//   node cluster_bench.js <kind> [--serialization json|advanced] [options]
//
// Kinds and options (see bench/README.md for what each one measures):
//   ipc      --workers W --messages M --payload P [--node-wait]
//   pingpong --round-trips N --payload P
//   spawn    --workers W --runs R
//   restart  --runs R
//   memory   --workers W
//
// Prints exactly one JSON line on stdout. The worker side is this same file: cluster re-executes
// it with the same argv, and `cluster.isPrimary` tells the two apart.
'use strict';

const cluster = require('node:cluster');

function parseArgs(argv) {
  const kind = argv[0];
  const opts = {
    kind,
    serialization: 'json',
    workers: 1,
    messages: 10000,
    payload: 16,
    batch: 1,
    roundTrips: 10000,
    runs: 10,
    nodeWait: false,
  };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value`);
      return argv[++i];
    };
    const int = () => {
      const v = Number(next());
      if (!Number.isInteger(v) || v < 0) fail(`${a} needs a non-negative integer`);
      return v;
    };
    switch (a) {
      case '--serialization': opts.serialization = next(); break;
      case '--workers': opts.workers = int(); break;
      case '--messages': opts.messages = int(); break;
      case '--payload': opts.payload = int(); break;
      case '--batch': opts.batch = int(); break;
      case '--round-trips': opts.roundTrips = int(); break;
      case '--runs': opts.runs = int(); break;
      case '--node-wait': opts.nodeWait = true; break;
      default: fail(`unknown option ${a}`);
    }
  }
  if (!['ipc', 'pingpong', 'spawn', 'restart', 'memory'].includes(kind)) {
    fail(`unknown kind ${JSON.stringify(kind)} (ipc|pingpong|spawn|restart|memory)`);
  }
  if (!['json', 'advanced'].includes(opts.serialization)) {
    fail(`--serialization must be json or advanced, not ${opts.serialization}`);
  }
  if (opts.batch !== 1) {
    // Node has no API that coalesces several messages into one write.
    fail('--batch is not applicable to Node (no batching API); run without it');
  }
  return opts;
}

function fail(msg) {
  process.stderr.write(`cluster_bench.js: ${msg}\n`);
  process.exit(2);
}

const nowNs = () => process.hrtime.bigint();
const msSince = (t0) => Number(nowNs() - t0) / 1e6;

function quantile(xs, q) {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  // Nearest-rank quantile: the smallest sample with at least q of the samples at or below it.
  const rank = Math.max(1, Math.ceil(q * s.length));
  return s[rank - 1];
}
const median = (xs) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round3 = (x) => (x === null ? null : Math.round(x * 1000) / 1000);

const opts = parseArgs(process.argv.slice(2));
const implName = `node-${opts.serialization}`;

function emit(fields) {
  process.stdout.write(JSON.stringify({ impl: implName, kind: opts.kind, ...fields }) + '\n');
}

// ---------------------------------------------------------------------------------------------
// Worker side
// ---------------------------------------------------------------------------------------------

function workerMain() {
  const payload = 'x'.repeat(opts.payload);
  switch (opts.kind) {
    case 'ipc':
      // Wait for 'go' so that the primary's clock measures messaging, not start-up.
      process.once('message', () => {
        const m = opts.messages;
        if (opts.nodeWait) {
          // Graceful: the callback of the last send fires once it (and, writes being ordered,
          // every earlier one) is handed to the kernel; then close the channel and let the
          // process exit on its own.
          for (let i = 0; i < m - 1; i++) process.send(payload);
          if (m > 0) process.send(payload, () => process.disconnect());
          else process.disconnect();
        } else {
          // Immediate: what a user writes when they believe send() delivered (G3's comparison).
          for (let i = 0; i < m; i++) process.send(payload);
          process.exit(0);
        }
      });
      break;
    case 'pingpong':
      process.on('message', (msg) => {
        if (msg === null) process.disconnect();
        else process.send(msg);
      });
      break;
    case 'spawn':
    case 'memory':
      // Stay idle and online until the primary kills the worker.
      process.on('message', () => {});
      break;
    case 'restart':
      // Crash right after coming online ('online' is sent by cluster during bootstrap,
      // before this script runs).
      process.exit(1);
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Primary side
// ---------------------------------------------------------------------------------------------

function forkOnline() {
  return new Promise((resolve) => {
    const t0 = nowNs();
    const w = cluster.fork();
    w.once('online', () => resolve({ worker: w, onlineMs: msSince(t0) }));
  });
}

function killAndReap(workers) {
  return Promise.all(
    workers.map(
      (w) =>
        new Promise((resolve) => {
          if (w.process.exitCode !== null || w.process.signalCode !== null) return resolve();
          w.once('exit', () => resolve());
          w.process.kill('SIGKILL');
        }),
    ),
  );
}

async function primaryIpc() {
  const W = opts.workers;
  const M = opts.messages;
  const started = await Promise.all(Array.from({ length: W }, () => forkOnline()));
  const workers = started.map((s) => s.worker);
  let received = 0;
  // A worker is done once both its channel closed ('disconnect': nothing more can arrive) and
  // its process exited. The order of the two is not fixed in Node (G2's comparison).
  const done = workers.map(
    (w) =>
      new Promise((resolve) => {
        let disconnected = false;
        let exited = false;
        const check = () => disconnected && exited && resolve();
        w.on('message', () => {
          received++;
        });
        w.once('disconnect', () => {
          disconnected = true;
          check();
        });
        w.once('exit', () => {
          exited = true;
          check();
        });
      }),
  );
  const t0 = nowNs();
  for (const w of workers) w.send('go');
  await Promise.all(done);
  const secs = Number(nowNs() - t0) / 1e9;
  emit({
    exit: opts.nodeWait ? 'graceful' : 'immediate',
    workers: W,
    per_worker: M,
    payload: opts.payload,
    batch: 1,
    received,
    expected: W * M,
    secs: Math.round(secs * 1e6) / 1e6,
    msgs_per_s: Math.round(received / secs),
    mb_per_s: round3((received * opts.payload) / secs / 1e6),
  });
}

async function primaryPingpong() {
  const N = opts.roundTrips;
  const { worker } = await forkOnline();
  const payload = 'x'.repeat(opts.payload);
  const rtts = new Array(N);
  let i = 0;
  let tSend = 0n;
  const t0 = nowNs();
  await new Promise((resolve) => {
    worker.on('message', () => {
      const t = nowNs();
      rtts[i++] = Number(t - tSend) / 1e3;
      if (i === N) return resolve();
      tSend = nowNs();
      worker.send(payload);
    });
    if (N === 0) return resolve();
    tSend = nowNs();
    worker.send(payload);
  });
  const secs = Number(nowNs() - t0) / 1e9;
  await killAndReap([worker]);
  emit({
    round_trips: N,
    payload: opts.payload,
    secs: Math.round(secs * 1e6) / 1e6,
    round_trips_per_s: Math.round(N / secs),
    rtt_us_median: round3(median(rtts)),
    rtt_us_p99: round3(quantile(rtts, 0.99)),
  });
}

async function primarySpawn() {
  const W = opts.workers;
  const online = [];
  const all = [];
  for (let r = 0; r < opts.runs; r++) {
    const t0 = nowNs();
    const started = await Promise.all(Array.from({ length: W }, () => forkOnline()));
    all.push(msSince(t0));
    for (const s of started) online.push(s.onlineMs);
    await killAndReap(started.map((s) => s.worker));
  }
  emit({
    workers: W,
    runs: opts.runs,
    online_ms_median: round3(median(online)),
    online_ms_p99: round3(quantile(online, 0.99)),
    all_online_ms_median: round3(median(all)),
  });
}

async function primaryRestart() {
  const R = opts.runs;
  const samples = [];
  // The supervisor loop a Node user writes: on an unexpected exit, fork a replacement.
  // restart_ms = the predecessor's 'exit' → the replacement's 'online'. Each worker remembers
  // when its predecessor's exit was observed, so the order in which Node reports one worker's
  // 'exit' and the next one's 'online' does not matter.
  await new Promise((resolve) => {
    let forked = 0;
    let exited = 0;
    const spawn = (predecessorExitNs) => {
      forked++;
      const w = cluster.fork();
      w.once('online', () => {
        if (predecessorExitNs !== null) samples.push(Number(nowNs() - predecessorExitNs) / 1e6);
      });
      w.once('exit', () => {
        const t = nowNs();
        exited++;
        if (forked < R + 1) spawn(t);
        else if (exited === forked) resolve();
      });
    };
    spawn(null);
  });
  emit({
    runs: R,
    restarts: samples.length,
    restart_ms_median: round3(median(samples)),
    restart_ms_p99: round3(quantile(samples, 0.99)),
  });
}

async function primaryMemory() {
  const W = opts.workers;
  const rssKb = () => Math.round(process.memoryUsage().rss / 1024);
  const before = rssKb();
  const started = await Promise.all(Array.from({ length: W }, () => forkOnline()));
  // Let the primary settle (channel buffers, GC of start-up garbage) before reading.
  await new Promise((r) => setTimeout(r, 200));
  const after = rssKb();
  await killAndReap(started.map((s) => s.worker));
  emit({
    workers: W,
    rss_kb_before: before,
    rss_kb_after: after,
    rss_kb_per_worker: W > 0 ? Math.round((after - before) / W) : 0,
  });
}

if (cluster.isPrimary) {
  cluster.setupPrimary({ serialization: opts.serialization, silent: false });
  const run = {
    ipc: primaryIpc,
    pingpong: primaryPingpong,
    spawn: primarySpawn,
    restart: primaryRestart,
    memory: primaryMemory,
  }[opts.kind];
  run().then(
    () => process.exit(0),
    (e) => {
      process.stderr.write(`cluster_bench.js: ${e && e.stack ? e.stack : e}\n`);
      process.exit(1);
    },
  );
} else {
  workerMain();
}
