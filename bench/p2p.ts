/**
 * `deno task bench p2p`: blob transfer throughput against raw TCP on loopback (same 256 MiB, same
 * run) and gossip latency of a job announcement reaching all of 20 nodes.
 *
 * Options: `--mib N` (blob size, default 256), `--nodes N` (default 20), `--announcements N`
 * (default 20).
 *
 * @module
 */

import { privateKeyToAccount } from "viem/accounts";
import { BlobStore } from "../lib/proof/store.ts";
import {
  createHost,
  fetchBlob,
  joinAnnouncements,
  type P2PHost,
  serveBlobs,
  signAnnouncement,
} from "../lib/p2p/mod.ts";
import { figure } from "./figure.ts";
import { figureDevnetExternalJob } from "./_devnet_external.ts";
import { loadMnist } from "../lib/exec/mnist.ts";
import { mlp } from "../lib/exec/zoo.ts";
import { Network } from "../lib/node/network.ts";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

const MIB = arg("mib", 256);
const NODES = arg("nodes", 20);
const ANNOUNCEMENTS = arg("announcements", 20);
const SIZE = MIB * 1024 * 1024;
const quiet = { onReject: () => {} };

async function rawTcpMbPerSecond(size: number): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const sending = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(1 << 20);
    let sent = 0;
    while (sent < size) {
      const n = Math.min(buf.length, size - sent);
      let at = 0;
      while (at < n) at += await conn.write(buf.subarray(at, n));
      sent += n;
    }
    conn.close();
  })();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const t0 = performance.now();
  const buf = new Uint8Array(1 << 20);
  let got = 0;
  while (true) {
    const n = await conn.read(buf);
    if (n === null) break;
    got += n;
  }
  const seconds = (performance.now() - t0) / 1000;
  conn.close();
  await sending;
  listener.close();
  if (got !== size) throw new Error(`raw TCP moved ${got} of ${size} bytes`);
  return size / 1e6 / seconds;
}

async function blobMbPerSecond(size: number, direct: boolean): Promise<number> {
  const dirA = await Deno.makeTempDir({ prefix: "bench-p2p-a-" });
  const dirB = await Deno.makeTempDir({ prefix: "bench-p2p-b-" });
  try {
    await using a = await createHost(quiet);
    await using b = await createHost({ ...quiet, bootstrap: a.multiaddrs() });
    const storeA = new BlobStore(dirA);
    const blob = new Uint8Array(size);
    for (let at = 0; at < size; at += 65536) crypto.getRandomValues(blob.subarray(at, at + 65536));
    const id = await storeA.put(blob);
    await serveBlobs(a, { store: storeA });
    const storeB = new BlobStore(dirB);
    const t0 = performance.now();
    const r = await fetchBlob(b, { peer: a.peerId, id, store: storeB, direct });
    const seconds = (performance.now() - t0) / 1000;
    if (r.size !== size || !(await storeB.has(id))) throw new Error("blob did not arrive");
    return size / 1e6 / seconds;
  } finally {
    await Deno.remove(dirA, { recursive: true });
    await Deno.remove(dirB, { recursive: true });
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function gossipLatencies(nodes: number, announcements: number): Promise<number[]> {
  const hosts: P2PHost[] = [];
  try {
    for (let i = 0; i < nodes; i++) {
      // Each node dials up to 3 earlier ones: a connected mesh without a single hub.
      const bootstrap = [...new Set([0, i - 1, Math.floor(i / 2)])]
        .filter((j) => j >= 0 && j < i)
        .map((j) => hosts[j].multiaddrs()[0]);
      hosts.push(await createHost({ ...quiet, bootstrap, gossipHeartbeatMs: 100 }));
    }
    const arrivals = new Map<string, number[]>();
    const feeds = hosts.map((h) => {
      const feed = joinAnnouncements(h, { isOnChain: () => Promise.resolve(true) });
      feed.onAnnouncement((a) => {
        const list = arrivals.get(a.jobId) ?? [];
        list.push(performance.now());
        arrivals.set(a.jobId, list);
      });
      return feed;
    });
    // Wait until every node sees at least one topic peer, so the mesh can form.
    const deadline = Date.now() + 20_000;
    while (hosts.some((h) => h.pubsub.getSubscribers("gensyn/jobs/1").length === 0)) {
      if (Date.now() > deadline) throw new Error("gossip mesh did not form in 20 s");
      await new Promise((r) => setTimeout(r, 50));
    }
    while (feeds.some((f) => f.meshPeers().length === 0)) {
      if (Date.now() > deadline) throw new Error("gossip mesh did not graft in 20 s");
      await new Promise((r) => setTimeout(r, 50));
    }
    const account = privateKeyToAccount(`0x${"11".repeat(32)}`);
    const latencies: number[] = [];
    for (let n = 0; n < announcements; n++) {
      const jobId = Array.from(
        crypto.getRandomValues(new Uint8Array(32)),
        (b) => b.toString(16).padStart(2, "0"),
      ).join("");
      const signed = await signAnnouncement(account, {
        jobId,
        specHash: "c".repeat(64),
        specId: "a".repeat(64),
        datasetId: "b".repeat(64),
        steps: 100,
        batchSize: 32,
        k: 10,
        priceWei: 10n ** 18n,
        deadline: Math.floor(Date.now() / 1000) + 3600,
        submitter: account.address,
        chainId: 31337,
      });
      const from = hosts[n % hosts.length];
      const t0 = performance.now();
      await feeds[n % hosts.length].publish(signed);
      const until = Date.now() + 10_000;
      while ((arrivals.get(jobId)?.length ?? 0) < nodes - 1) {
        if (Date.now() > until) {
          throw new Error(
            `announcement ${n} reached ${arrivals.get(jobId)?.length ?? 0} of ${nodes - 1}`,
          );
        }
        await new Promise((r) => setTimeout(r, 1));
      }
      latencies.push(Math.max(...arrivals.get(jobId)!) - t0);
      void from;
    }
    return latencies.sort((x, y) => x - y);
  } finally {
    await Promise.all(hosts.map((h) => h.stop()));
  }
}

const tcp = await rawTcpMbPerSecond(SIZE);
const blob = await blobMbPerSecond(SIZE, true);
const stream = await blobMbPerSecond(Math.min(SIZE, 64 * 1024 * 1024), false);
figure("p2p.blob_mb_per_s", blob, "MB/s");
figure("p2p.tcp_mb_per_s", tcp, "MB/s");
figure("p2p.blob_throughput_vs_tcp", blob / tcp, "ratio");
figure("p2p.blob_stream_mb_per_s", stream, "MB/s");
const lat = await gossipLatencies(NODES, ANNOUNCEMENTS);
figure("gossip.p50_ms", percentile(lat, 50), "ms");
figure("gossip.p99_ms", percentile(lat, 99), "ms");

// The embedded network: ready to take a job, then one job end to end.
const startedAt = performance.now();
const network = await Network.local({ providers: 3 });
figure("devnet.start_s", (performance.now() - startedAt) / 1000, "s");
try {
  const job = await network.train({
    model: mlp({ hidden: [64] }),
    data: await loadMnist({ limit: 4096 }),
    steps: 100,
    batchSize: 64,
    k: 25,
  });
  await job.result();
  await job.settled();
  figure("e2e.jobs_settled", 1, "jobs");
} finally {
  await network.close();
}

// A job submitted from another process to `deno task devnet` (a child process) gets paid.
await figureDevnetExternalJob();
