/**
 * The verifier node: follows committed jobs, re-executes randomly sampled segments of their
 * traces, and disputes providers whose work does not hold up.
 *
 * Who audits what: a verifier with stake registers in the verifier registry on start
 * (`contracts/VerifierRegistry.sol`). For each commit, the verifiers eligible at the commit's block
 * are ranked by `keccak256(keccak256(blockHash || jobId) || account)`, `blockHash` being the next
 * block's hash, and the first `audit.verifiers` of the job's policy audit it (`selectVerifiers` in
 * `lib/proof/audit.ts`): neither the provider nor the verifiers choose. A registered verifier that
 * is not drawn records nothing for the slot (`audited` fails with `VERIFY_NOT_SELECTED`). A node
 * without stake is not in the registry; it watches every commit (anyone may challenge in the
 * dispute game).
 *
 * Replicated jobs (`replicas >= 2`, not distributed): when two committed slots disagree on the
 * final state, the drawn verifier audits every segment of the slot (not a sample) and re-audits in
 * full the disagreeing slots it had only sampled, so the wrong one is disputed and the honest one
 * passes.
 *
 * Life of an audit: a `JobCommitted` event appears on-chain -> the verifier waits for the next
 * block and derives its sample from `keccak256(blockHash || jobId || verifier)` (see
 * `lib/proof/audit.ts`: the provider could not predict it when it committed) -> fetches the job
 * spec and checks the draw, rebuilds the trace from the checkpoint hashes in the provider's progress stream and checks
 * it against the committed trace root and final state -> fetches the starting checkpoint of each
 * sampled segment from the provider over libp2p (hash-checked; a fetch that fails or times out is
 * a withheld checkpoint) -> fetches the model spec and dataset -> re-executes each segment with
 * `replaySegment` (and checks the initial state when segment 0 is sampled). Any mismatch, withheld
 * checkpoint or trace that does not match the commitment makes the verifier dispute the slot (see
 * below); a provider that loses is slashed while the submitter is refunded. A job the
 * verifier cannot check for reasons that are not the provider's fault (the submitter's model or
 * data cannot be found) is recorded as `unverifiable` and never disputed.
 *
 * A caught provider is disputed in the dispute game (`contracts/DisputeGame.sol`, played by
 * `lib/node/disputes/`): a segment that re-executes to another state (or starts from another
 * initial state) opens an execution dispute, bisected on-chain down to one step and one kernel
 * and ruled by the job's submitter; a withheld or wrong checkpoint, or a trace that does not match
 * the commitment, opens an availability dispute that the committee rules by trying to fetch it.
 * The verifier bonds each dispute and gets the bond back, plus a share of the slash, when it wins.
 *
 * @module
 */

export { VerifierNode } from "./node.ts";
export {
  AUDIT_TIMEOUT_MS,
  MAX_CONCURRENT_AUDITS,
  PREPARING_PER_AUDIT,
  type VerifierNodeOptions,
} from "./options.ts";
export type { AuditOutcome, AuditRecord, AuditVerdict, VerifierSelection } from "./record.ts";
