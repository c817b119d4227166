#pragma version ~=0.4.3
#pragma evm-version cancun
"""
@title Checkpoint: tagger ledger block hashes anchored on this chain
@notice The operator writes a ledger block's height, hash and state root; heights only
        increase. Anyone holding a copy of the ledger checks it against these anchors.
"""

struct Anchor:
    block_hash: bytes32
    state_root: bytes32
    anchored_at: uint256

event Anchored:
    height: indexed(uint256)
    block_hash: bytes32
    state_root: bytes32

operator: public(immutable(address))
ledger_chain_id: public(immutable(uint256))
anchors: public(HashMap[uint256, Anchor])
latest_height: public(uint256)
count: public(uint256)


@deploy
def __init__(op: address, chain_id: uint256):
    operator = op
    ledger_chain_id = chain_id


@external
def anchor(height: uint256, block_hash: bytes32, state_root: bytes32):
    """@notice Operator only: anchor ledger block `height` (above the latest anchor)."""
    assert msg.sender == operator, "not the operator"
    assert block_hash != empty(bytes32), "zero block hash"
    assert self.count == 0 or height > self.latest_height, "height not above the latest anchor"
    self.anchors[height] = Anchor(block_hash=block_hash, state_root=state_root, anchored_at=block.timestamp)
    self.latest_height = height
    self.count += 1
    log Anchored(height=height, block_hash=block_hash, state_root=state_root)
