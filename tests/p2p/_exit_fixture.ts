/**
 * Starts two hosts, connects them, exchanges an announcement-sized gossip message's worth of
 * traffic (identify, peer store locks), stops both and returns: the process must then exit.
 *
 * @module
 */

import { createHost, NodeIdentity } from "../../lib/p2p/mod.ts";

const a = await createHost({ identity: await NodeIdentity.generate(), onReject: () => {} });
const b = await createHost({
  identity: await NodeIdentity.generate(),
  bootstrap: a.multiaddrs(),
  onReject: () => {},
});
await b.dial(a.multiaddrs()[0]);
await b.stop();
await a.stop();
console.log("stopped");
