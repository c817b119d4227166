#pragma version ~=0.4.3
#pragma evm-version cancun
"""
@title TagBridge: TAG between the tagger ledger and this chain
@notice Deposit: a holder transfers TAG on the tagger ledger to the bridge's custody
        account (a signed ledger transaction whose memo names the EVM receiver); the
        operator checks that ledger receipt and calls mint() with its transaction id,
        which is refused if already used. Withdraw: a holder calls withdraw(), which
        burns its TAG and records the ledger receiver; the operator checks this
        receipt, releases the TAG on the ledger from custody (a signed transfer whose
        memo names the withdrawal) and records that ledger transaction with release().
        bind() publishes an Ed25519-signed link between a tagger address and the
        caller's EVM address (checked off chain: the EVM cannot verify Ed25519).
"""

interface ITagToken:
    def mint(receiver: address, amount: uint256): nonpayable
    def burnFrom(owner: address, amount: uint256): nonpayable

struct Withdrawal:
    sender: address
    amount: uint256
    ledger_to: bytes20
    release_tx: bytes32

event Deposited:
    ledger_tx: indexed(bytes32)
    receiver: indexed(address)
    amount: uint256

event Withdrawn:
    id: indexed(uint256)
    sender: indexed(address)
    amount: uint256
    ledger_to: bytes20

event Released:
    id: indexed(uint256)
    ledger_tx: bytes32

event Bound:
    account: indexed(address)
    ledger_address: indexed(bytes20)
    signature: Bytes[64]

token: public(immutable(address))
operator: public(immutable(address))
ledger_chain_id: public(immutable(uint256))

minted: public(HashMap[bytes32, uint256])  # ledger transaction id -> amount minted for it
withdrawals: public(HashMap[uint256, Withdrawal])
withdrawal_count: public(uint256)
deposited_total: public(uint256)
withdrawn_total: public(uint256)


@deploy
def __init__(tag: address, op: address, chain_id: uint256):
    token = tag
    operator = op
    ledger_chain_id = chain_id


@external
@nonreentrant
def mint(receiver: address, amount: uint256, ledger_tx: bytes32):
    """@notice Operator only: mint `amount` for the ledger deposit `ledger_tx` (once)."""
    assert msg.sender == operator, "not the operator"
    assert amount > 0, "zero amount"
    assert ledger_tx != empty(bytes32), "no ledger receipt"
    assert self.minted[ledger_tx] == 0, "ledger receipt already used"
    self.minted[ledger_tx] = amount
    self.deposited_total += amount
    log Deposited(ledger_tx=ledger_tx, receiver=receiver, amount=amount)
    extcall ITagToken(token).mint(receiver, amount)


@external
@nonreentrant
def withdraw(amount: uint256, ledger_to: bytes20) -> uint256:
    """@notice Burn `amount` of the caller's TAG, to be released to `ledger_to` on the ledger."""
    assert amount > 0, "zero amount"
    assert ledger_to != empty(bytes20), "no ledger receiver"
    wid: uint256 = self.withdrawal_count
    self.withdrawal_count = wid + 1
    self.withdrawals[wid] = Withdrawal(sender=msg.sender, amount=amount, ledger_to=ledger_to,
                                       release_tx=empty(bytes32))
    self.withdrawn_total += amount
    log Withdrawn(id=wid, sender=msg.sender, amount=amount, ledger_to=ledger_to)
    extcall ITagToken(token).burnFrom(msg.sender, amount)
    return wid


@external
def release(wid: uint256, ledger_tx: bytes32):
    """@notice Operator only: record the ledger transfer that released withdrawal `wid` (once)."""
    assert msg.sender == operator, "not the operator"
    assert wid < self.withdrawal_count, "no such withdrawal"
    assert ledger_tx != empty(bytes32), "no ledger receipt"
    assert self.withdrawals[wid].release_tx == empty(bytes32), "withdrawal already released"
    self.withdrawals[wid].release_tx = ledger_tx
    log Released(id=wid, ledger_tx=ledger_tx)


@external
def bind(ledger_address: bytes20, signature: Bytes[64]):
    """@notice Publish a link tagger address -> msg.sender, signed by the tagger key."""
    assert len(signature) == 64, "an Ed25519 signature is 64 bytes"
    log Bound(account=msg.sender, ledger_address=ledger_address, signature=signature)
