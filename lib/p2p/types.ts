/**
 * Names of the dependency types that appear in this layer's API, aliased here so the API's docs
 * stand on their own: libp2p's peer ids, connections and streams, viem's hex strings.
 *
 * @module
 */

import type * as gossip from "npm:@libp2p/gossipsub@17.1.1";
import type * as libp2p from "npm:@libp2p/interface@3.3.0";

/** A libp2p peer id. */
export type PeerId = libp2p.PeerId;
/** A libp2p connection to one peer. */
export type Connection = libp2p.Connection;
/** A libp2p stream on a connection. */
export type Stream = libp2p.Stream;
/** A libp2p private key. */
export type PrivateKey = libp2p.PrivateKey;
/** The gossipsub service. */
export type GossipSub = gossip.GossipSub;
/** The libp2p node of a host, with its services. */
export type Libp2pNode = libp2p.Libp2p<
  { pubsub: gossip.GossipSub; identify: unknown; ping: unknown }
>;
/** A 0x-prefixed 20-byte hex Ethereum address. */
export type Address = `0x${string}`;
/** A 0x-prefixed hex string. */
export type Hex = `0x${string}`;
