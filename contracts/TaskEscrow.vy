#pragma version ~=0.4.3
#pragma evm-version cancun
"""
@title TaskEscrow: a tagger task paid on this chain, with challengeable payouts
@notice The requester funds a task and publishes its terms (tagger's settle terms, in
        the Funded event; `rules` is their keccak256). Workers stake and record their
        answers here (packed (item u32, label u32) pairs, in Answered events), so every
        input of the settlement is on chain. The requester reveals the gold and commits
        keccak256(abi_encode(payouts, slashes)) with a bond; during the window anyone who
        re-executes the published rule (tagger's deterministic settle, off chain) and
        gets other lists can challenge with them and the same bond. The task's arbiter
        re-executes too and names the right hash: a challenger who was right takes the
        requester's bond, one who was wrong loses its bond to the requester. After the
        window (or the ruling) anyone finalizes with the lists that match the hash:
        slashes move stake into the escrow, payouts are sent, the rest is refunded.
        At most 64 payouts and 64 slashes per task.
"""

MAX_PAYOUTS: constant(uint256) = 64
MAX_ANSWER_BYTES: constant(uint256) = 8000
MAX_TERMS_BYTES: constant(uint256) = 1024
MAX_GOLD_BYTES: constant(uint256) = 8000

OPEN: constant(uint8) = 1
COMMITTED: constant(uint8) = 2
CHALLENGED: constant(uint8) = 3
RESOLVED: constant(uint8) = 4
FINALIZED: constant(uint8) = 5
REFUNDED: constant(uint8) = 6

struct Payout:
    account: address
    amount: uint256

struct Task:
    requester: address
    arbiter: address
    budget: uint256
    required_stake: uint256
    bond: uint256
    window: uint256
    rules: bytes32
    status: uint8
    payouts_hash: bytes32
    result_hash: bytes32
    deadline: uint256
    challenger: address
    challenge_hash: bytes32
    answer_batches: uint256
    requester_bond: bool

interface ITagToken:
    def transferFrom(sender: address, receiver: address, amount: uint256) -> bool: nonpayable
    def transfer(receiver: address, amount: uint256) -> bool: nonpayable

event Funded:
    task_id: indexed(uint256)
    requester: indexed(address)
    arbiter: indexed(address)
    budget: uint256
    required_stake: uint256
    bond: uint256
    window: uint256
    rules: bytes32
    terms: Bytes[MAX_TERMS_BYTES]

event Staked:
    task_id: indexed(uint256)
    worker: indexed(address)
    amount: uint256

event Answered:
    task_id: indexed(uint256)
    worker: indexed(address)
    answers: Bytes[MAX_ANSWER_BYTES]

event Committed:
    task_id: indexed(uint256)
    payouts_hash: bytes32
    result_hash: bytes32
    deadline: uint256
    gold: Bytes[MAX_GOLD_BYTES]

event Challenged:
    task_id: indexed(uint256)
    challenger: indexed(address)
    payouts_hash: bytes32

event Resolved:
    task_id: indexed(uint256)
    payouts_hash: bytes32
    challenger_won: bool

event Slashed:
    task_id: indexed(uint256)
    worker: indexed(address)
    amount: uint256

event Paid:
    task_id: indexed(uint256)
    worker: indexed(address)
    amount: uint256

event Finalized:
    task_id: indexed(uint256)
    paid: uint256
    slashed: uint256
    refund: uint256

event Refunded:
    task_id: indexed(uint256)
    amount: uint256

event Unstaked:
    task_id: indexed(uint256)
    worker: indexed(address)
    amount: uint256

event Claimed:
    account: indexed(address)
    amount: uint256

token: public(immutable(address))
tasks: public(HashMap[uint256, Task])
task_count: public(uint256)
stakes: public(HashMap[uint256, HashMap[address, uint256]])
claimable: public(HashMap[address, uint256])


@deploy
def __init__(tag: address):
    token = tag


@external
@pure
def hash_lists(payouts: DynArray[Payout, MAX_PAYOUTS], slashes: DynArray[Payout, MAX_PAYOUTS]) -> bytes32:
    """@notice The commitment of a settlement: keccak256(abi_encode(payouts, slashes))."""
    return keccak256(abi_encode(payouts, slashes))


@external
@nonreentrant
def fund(budget: uint256, required_stake: uint256, bond: uint256, window: uint256, arbiter: address,
         terms: Bytes[MAX_TERMS_BYTES]) -> uint256:
    """@notice Lock `budget` TAG (approve first) for a task with these published terms."""
    assert budget > 0, "zero budget"
    assert window > 0, "zero challenge window"
    assert arbiter != empty(address), "no arbiter"
    assert len(terms) > 0, "no terms"
    tid: uint256 = self.task_count
    self.task_count = tid + 1
    rules: bytes32 = keccak256(terms)
    self.tasks[tid] = Task(requester=msg.sender, arbiter=arbiter, budget=budget, required_stake=required_stake,
                           bond=bond, window=window, rules=rules, status=OPEN, payouts_hash=empty(bytes32),
                           result_hash=empty(bytes32), deadline=0, challenger=empty(address),
                           challenge_hash=empty(bytes32), answer_batches=0, requester_bond=False)
    log Funded(task_id=tid, requester=msg.sender, arbiter=arbiter, budget=budget, required_stake=required_stake,
               bond=bond, window=window, rules=rules, terms=terms)
    assert extcall ITagToken(token).transferFrom(msg.sender, self, budget), "payment failed"
    return tid


@external
@nonreentrant
def stake(task_id: uint256, amount: uint256):
    """@notice Stake `amount` TAG on an open task (approve first)."""
    assert self.tasks[task_id].status == OPEN, "task not open"
    assert amount > 0, "zero amount"
    self.stakes[task_id][msg.sender] += amount
    log Staked(task_id=task_id, worker=msg.sender, amount=amount)
    assert extcall ITagToken(token).transferFrom(msg.sender, self, amount), "payment failed"


@external
def answer(task_id: uint256, answers: Bytes[MAX_ANSWER_BYTES]):
    """@notice Record answers: packed (item u32 BE, label u32 BE) pairs, at most 1000 a call."""
    t: Task = self.tasks[task_id]
    assert t.status == OPEN, "task not open"
    assert msg.sender != t.requester, "the requester does not answer"
    assert self.stakes[task_id][msg.sender] >= t.required_stake, "stake below the task's requirement"
    assert len(answers) > 0 and len(answers) % 8 == 0, "answers are 8-byte (item, label) pairs"
    self.tasks[task_id].answer_batches = t.answer_batches + 1
    log Answered(task_id=task_id, worker=msg.sender, answers=answers)


@external
@nonreentrant
def commit(task_id: uint256, payouts_hash: bytes32, result_hash: bytes32, gold: Bytes[MAX_GOLD_BYTES]):
    """@notice Requester only: reveal the gold and commit the settlement's hash, with the bond."""
    t: Task = self.tasks[task_id]
    assert msg.sender == t.requester, "not the requester"
    assert t.status == OPEN, "task not open"
    assert payouts_hash != empty(bytes32), "zero commitment"
    deadline: uint256 = block.timestamp + t.window
    self.tasks[task_id].status = COMMITTED
    self.tasks[task_id].payouts_hash = payouts_hash
    self.tasks[task_id].result_hash = result_hash
    self.tasks[task_id].deadline = deadline
    self.tasks[task_id].requester_bond = True
    log Committed(task_id=task_id, payouts_hash=payouts_hash, result_hash=result_hash, deadline=deadline, gold=gold)
    if t.bond > 0:
        assert extcall ITagToken(token).transferFrom(msg.sender, self, t.bond), "bond payment failed"


@external
@nonreentrant
def challenge(task_id: uint256, payouts: DynArray[Payout, MAX_PAYOUTS], slashes: DynArray[Payout, MAX_PAYOUTS]):
    """@notice Within the window: claim that the committed lists are wrong, giving the lists
               the published rule yields, with the same bond as the requester."""
    t: Task = self.tasks[task_id]
    assert t.status == COMMITTED, "nothing to challenge"
    assert block.timestamp < t.deadline, "challenge window over"
    assert msg.sender != t.requester, "the requester does not challenge itself"
    h: bytes32 = keccak256(abi_encode(payouts, slashes))
    assert h != t.payouts_hash, "same lists as the commitment"
    self.tasks[task_id].status = CHALLENGED
    self.tasks[task_id].challenger = msg.sender
    self.tasks[task_id].challenge_hash = h
    log Challenged(task_id=task_id, challenger=msg.sender, payouts_hash=h)
    if t.bond > 0:
        assert extcall ITagToken(token).transferFrom(msg.sender, self, t.bond), "bond payment failed"


@external
def resolve(task_id: uint256, correct_hash: bytes32):
    """@notice Arbiter only: the hash of the lists the published rule yields. If it is not the
               requester's, the challenger wins both bonds and it becomes the commitment."""
    t: Task = self.tasks[task_id]
    assert msg.sender == t.arbiter, "not the arbiter"
    assert t.status == CHALLENGED, "no open challenge"
    assert correct_hash != empty(bytes32), "zero hash"
    won: bool = correct_hash != t.payouts_hash
    if won:
        self.claimable[t.challenger] += 2 * t.bond
        self.tasks[task_id].requester_bond = False
        self.tasks[task_id].payouts_hash = correct_hash
    else:
        self.claimable[t.requester] += t.bond
    self.tasks[task_id].status = RESOLVED
    log Resolved(task_id=task_id, payouts_hash=correct_hash, challenger_won=won)


@external
@nonreentrant
def finalize(task_id: uint256, payouts: DynArray[Payout, MAX_PAYOUTS], slashes: DynArray[Payout, MAX_PAYOUTS]):
    """@notice Anyone, after the window or the ruling: apply the committed lists."""
    t: Task = self.tasks[task_id]
    assert (t.status == COMMITTED and block.timestamp >= t.deadline) or t.status == RESOLVED, \
        "not final yet"
    assert keccak256(abi_encode(payouts, slashes)) == t.payouts_hash, "lists do not match the commitment"
    self.tasks[task_id].status = FINALIZED
    pool: uint256 = t.budget
    slashed: uint256 = 0
    for s: Payout in slashes:
        staked: uint256 = self.stakes[task_id][s.account]
        assert s.amount > 0 and s.amount <= staked, "slash above the stake"
        self.stakes[task_id][s.account] = staked - s.amount
        slashed += s.amount
        log Slashed(task_id=task_id, worker=s.account, amount=s.amount)
    pool += slashed
    paid: uint256 = 0
    for p: Payout in payouts:
        paid += p.amount
    assert paid <= pool, "payouts above the escrow"
    refund: uint256 = pool - paid
    if t.requester_bond:
        refund += t.bond
    log Finalized(task_id=task_id, paid=paid, slashed=slashed, refund=refund)
    for p: Payout in payouts:
        if p.amount > 0:
            log Paid(task_id=task_id, worker=p.account, amount=p.amount)
            assert extcall ITagToken(token).transfer(p.account, p.amount), "transfer failed"
    if refund > 0:
        assert extcall ITagToken(token).transfer(t.requester, refund), "transfer failed"


@external
@nonreentrant
def refund(task_id: uint256):
    """@notice Requester only: cancel an open task nobody answered; the budget comes back."""
    t: Task = self.tasks[task_id]
    assert msg.sender == t.requester, "not the requester"
    assert t.status == OPEN, "task not open"
    assert t.answer_batches == 0, "the task has answers"
    self.tasks[task_id].status = REFUNDED
    log Refunded(task_id=task_id, amount=t.budget)
    assert extcall ITagToken(token).transfer(t.requester, t.budget), "transfer failed"


@external
@nonreentrant
def unstake(task_id: uint256) -> uint256:
    """@notice Take back what is left of one's stake once the task is finalized or refunded."""
    status: uint8 = self.tasks[task_id].status
    assert status == FINALIZED or status == REFUNDED, "task still running"
    amount: uint256 = self.stakes[task_id][msg.sender]
    assert amount > 0, "no stake"
    self.stakes[task_id][msg.sender] = 0
    log Unstaked(task_id=task_id, worker=msg.sender, amount=amount)
    assert extcall ITagToken(token).transfer(msg.sender, amount), "transfer failed"
    return amount


@external
@nonreentrant
def claim() -> uint256:
    """@notice Take the bonds won in challenges."""
    amount: uint256 = self.claimable[msg.sender]
    assert amount > 0, "nothing to claim"
    self.claimable[msg.sender] = 0
    log Claimed(account=msg.sender, amount=amount)
    assert extcall ITagToken(token).transfer(msg.sender, amount), "transfer failed"
    return amount
