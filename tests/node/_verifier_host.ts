/**
 * A verifier's own host on a local network, for tests that start and restart a `VerifierNode`
 * themselves: a data folder, account 8's chain client, and a wire bootstrapped to the network.
 *
 * @module
 */

import type { Network } from "../../lib/node/network.ts";
import { createP2PWire } from "../../lib/node/p2p_wire.ts";
import { BlobStore } from "../../lib/proof/store.ts";

/** The folder, chain client and wire a test's own verifier runs on (account 8). */
export async function verifierHost(network: Network) {
  const dir = await Deno.makeTempDir({ prefix: "gensyn-verifier-" });
  const chain = network.devnet!.client(8);
  const wire = await createP2PWire({
    chain,
    store: new BlobStore(dir),
    bootstrap: [...network.wire.addrs],
  });
  return { dir, chain, wire };
}
