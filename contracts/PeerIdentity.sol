// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

/// @title Binding of libp2p peer ids to Ethereum accounts
/// @notice A node proves it holds the secp256k1 key behind its libp2p peer id by signing, with that
/// key, an EIP-712 message naming the account that binds it. The contract derives the peer id from
/// the public key itself, so what is stored is exactly the id peers see on the network. The
/// message carries the peer key's binding nonce and a deadline, so a binding signature is used
/// once, before its deadline, and never replayed (say, by an account that gave the key away).
/// @dev A secp256k1 libp2p peer id is the identity multihash (0x00, length 0x25) of the protobuf
/// PublicKey { Type = Secp256k1 (field 1 = 2), Data (field 2) = 33-byte compressed key }:
/// 0x00 0x25 0x08 0x02 0x12 0x21 || (0x02 | parity(y)) || x. See the libp2p peer-ids spec.
abstract contract PeerIdentity is EIP712 {
    /// @notice EIP-712 type of the message the peer key signs.
    bytes32 public constant PEER_BINDING_TYPEHASH =
        keccak256("PeerBinding(address account,bytes32 peerIdHash,uint256 nonce,uint256 deadline)");

    /// @notice Bindings made with each peer key so far (keyed by keccak256 of the peer id): the
    /// nonce its next binding signature must carry.
    mapping(bytes32 => uint256) public peerNonce;

    mapping(bytes32 => address) private _peerOwner;
    mapping(address => bytes) private _peerOf;

    /// @notice `account` bound `peerId` (and dropped any peer id it had before).
    event PeerBound(address indexed account, bytes peerId);

    /// @notice The public key is not 64 bytes of uncompressed x || y.
    error InvalidPublicKey(uint256 length);
    /// @notice The signature was not made by the key behind the peer id (`signer` recovered instead).
    error InvalidPeerSignature(address expected, address signer);
    /// @notice The binding signature's deadline `deadline` has passed; sign a new one.
    error PeerBindingExpired(uint256 deadline);
    /// @notice `peerId` is already bound to `owner`; a peer id belongs to one account.
    error PeerIdAlreadyBound(bytes peerId, address owner);

    constructor() EIP712("AIGENSYN Staking", "1") {}

    /// @notice Binds the caller to the peer id of `publicKey`, proven by `signature` of that key.
    /// @param publicKey The peer's secp256k1 public key, uncompressed, without the 0x04 prefix.
    /// @param signature 65-byte signature by that key of
    /// `peerBindingDigest(caller, keccak256(peerId), peerNonce[keccak256(peerId)], deadline)`.
    /// @param deadline Unix time after which the signature is void.
    function bindPeer(bytes calldata publicKey, bytes calldata signature, uint256 deadline) external {
        if (publicKey.length != 64) revert InvalidPublicKey(publicKey.length);
        if (block.timestamp > deadline) revert PeerBindingExpired(deadline);
        bytes memory peerId = peerIdOf(publicKey);
        bytes32 idHash = keccak256(peerId);
        address owner = _peerOwner[idHash];
        if (owner != address(0) && owner != msg.sender) revert PeerIdAlreadyBound(peerId, owner);
        address expected = address(uint160(uint256(keccak256(publicKey))));
        uint256 nonce = peerNonce[idHash]++;
        address signer = ECDSA.recover(peerBindingDigest(msg.sender, idHash, nonce, deadline), signature);
        if (signer != expected) revert InvalidPeerSignature(expected, signer);
        bytes memory previous = _peerOf[msg.sender];
        if (previous.length != 0) delete _peerOwner[keccak256(previous)];
        _peerOwner[idHash] = msg.sender;
        _peerOf[msg.sender] = peerId;
        emit PeerBound(msg.sender, peerId);
    }

    /// @notice The digest a peer key signs to bind its peer id to `account`.
    /// @param account The account that will call `bindPeer`.
    /// @param peerIdHash keccak256 of the peer id bytes.
    /// @param nonce The peer key's `peerNonce`.
    /// @param deadline Unix time after which the signature is void.
    /// @return The EIP-712 digest.
    function peerBindingDigest(address account, bytes32 peerIdHash, uint256 nonce, uint256 deadline)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(PEER_BINDING_TYPEHASH, account, peerIdHash, nonce, deadline)));
    }

    /// @notice The libp2p peer id (bytes) of a secp256k1 public key.
    /// @param publicKey Uncompressed x || y, 64 bytes.
    /// @return The identity-multihash peer id, 39 bytes.
    function peerIdOf(bytes calldata publicKey) public pure returns (bytes memory) {
        if (publicKey.length != 64) revert InvalidPublicKey(publicKey.length);
        bytes1 prefix = uint8(publicKey[63]) & 1 == 1 ? bytes1(0x03) : bytes1(0x02);
        return abi.encodePacked(hex"002508021221", prefix, publicKey[0:32]);
    }

    /// @notice The account a peer id is bound to, or zero.
    /// @param peerId Peer id bytes.
    /// @return The bound account.
    function ownerOfPeer(bytes calldata peerId) external view returns (address) {
        return _peerOwner[keccak256(peerId)];
    }

    /// @notice The peer id bound to `account`, or empty bytes.
    /// @param account The account.
    /// @return The peer id bytes.
    function peerOf(address account) external view returns (bytes memory) {
        return _peerOf[account];
    }
}
