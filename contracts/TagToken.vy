#pragma version ~=0.4.3
#pragma evm-version cancun
"""
@title TagToken: TAG on an EVM chain (ERC-20)
@notice Every TAG here is backed by TAG locked in the bridge's custody account on
        the tagger ledger: only the minter (the TagBridge contract, set once) mints,
        against a ledger transfer, and burns, on a withdraw. 6 decimals, as tg.TAG.
        No hooks on transfer, so a transfer never calls into another contract.
"""

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

event MinterSet:
    minter: indexed(address)

name: public(constant(String[16])) = "tagger TAG"
symbol: public(constant(String[8])) = "TAG"
decimals: public(constant(uint8)) = 6

balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
totalSupply: public(uint256)
minter: public(address)
admin: public(address)


@deploy
def __init__():
    self.admin = msg.sender


@external
def setMinter(minter: address):
    """@notice Name the minter, once; the admin role ends with it."""
    assert msg.sender == self.admin, "not the admin"
    assert minter != empty(address), "zero minter"
    self.minter = minter
    self.admin = empty(address)
    log MinterSet(minter=minter)


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    assert receiver != empty(address), "transfer to the zero address"
    self.balanceOf[sender] -= amount  # reverts on a short balance (checked math)
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    allowed: uint256 = self.allowance[sender][msg.sender]
    if allowed != max_value(uint256):
        self.allowance[sender][msg.sender] = allowed - amount
    self._transfer(sender, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@external
def mint(receiver: address, amount: uint256):
    """@notice Minter only: new TAG against TAG locked on the tagger ledger."""
    assert msg.sender == self.minter, "not the minter"
    assert receiver != empty(address), "mint to the zero address"
    self.totalSupply += amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)


@external
def burnFrom(owner: address, amount: uint256):
    """@notice Minter only: TAG leaving the chain (a withdraw to the tagger ledger)."""
    assert msg.sender == self.minter, "not the minter"
    self.balanceOf[owner] -= amount
    self.totalSupply -= amount
    log Transfer(sender=owner, receiver=empty(address), value=amount)
