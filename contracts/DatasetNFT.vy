#pragma version ~=0.4.3
#pragma evm-version cancun
"""
@title DatasetNFT: tagger dataset NFTs on an EVM chain (ERC-721, ERC-165, EIP-2981)
@notice A token exported from the tagger ledger keeps its ledger id as token id and
        carries the manifest hash and the dataset's Merkle root (in tokenURI too),
        and the royalty table of the ledger NFT: up to 64 contributors, each with
        basis points of every sale price. Minted only by the minter (the bridge
        operator), once per id. royaltyInfo names the Market, which splits a
        royalty paid through payRoyalty among the contributors.
"""

MAX_CONTRIBUTORS: constant(uint256) = 64
BPS: constant(uint256) = 10000
ADDRESS_MASK: constant(uint256) = 2**160 - 1

struct Contributor:
    account: address
    bps: uint16

interface IERC721Receiver:
    def onERC721Received(operator: address, sender: address, token_id: uint256, data: Bytes[1024]) -> bytes4: nonpayable

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    token_id: indexed(uint256)

event Approval:
    owner: indexed(address)
    approved: indexed(address)
    token_id: indexed(uint256)

event ApprovalForAll:
    owner: indexed(address)
    operator: indexed(address)
    approved: bool

event Exported:
    token_id: indexed(uint256)
    manifest_hash: bytes32
    merkle_root: bytes32
    ledger_tx: bytes32
    royalty_bps: uint256
    contributors: uint256

event RoyaltyReceiverSet:
    receiver: indexed(address)

name: public(constant(String[24])) = "tagger dataset"
symbol: public(constant(String[8])) = "TGDATA"

minter: public(immutable(address))
admin: public(address)
royalty_receiver: public(address)

ownerOf_: HashMap[uint256, address]
balance_: HashMap[address, uint256]
getApproved: public(HashMap[uint256, address])
isApprovedForAll: public(HashMap[address, HashMap[address, bool]])

manifest_hash: public(HashMap[uint256, bytes32])
merkle_root: public(HashMap[uint256, bytes32])
ledger_tx: public(HashMap[uint256, bytes32])
royalty_bps: public(HashMap[uint256, uint256])
# One slot per contributor: address | bps << 160 (a stored struct would take two).
contributors_: HashMap[uint256, DynArray[uint256, MAX_CONTRIBUTORS]]
total_supply: public(uint256)

# ERC-165 ids: ERC-165, ERC-721, ERC-721 metadata, EIP-2981
SUPPORTED: constant(bytes4[4]) = [0x01ffc9a7, 0x80ac58cd, 0x5b5e139f, 0x2a55205a]


@deploy
def __init__(mint_by: address):
    minter = mint_by
    self.admin = msg.sender


@external
def setRoyaltyReceiver(receiver: address):
    """@notice Name the royalty receiver (the Market), once; the admin role ends with it."""
    assert msg.sender == self.admin, "not the admin"
    assert receiver != empty(address), "zero receiver"
    self.royalty_receiver = receiver
    self.admin = empty(address)
    log RoyaltyReceiverSet(receiver=receiver)


@external
@view
def supportsInterface(interface_id: bytes4) -> bool:
    return interface_id in SUPPORTED


@external
@view
def balanceOf(owner: address) -> uint256:
    assert owner != empty(address), "zero address"
    return self.balance_[owner]


@external
@view
def ownerOf(token_id: uint256) -> address:
    owner: address = self.ownerOf_[token_id]
    assert owner != empty(address), "no such token"
    return owner


@external
@view
def contributors(token_id: uint256) -> DynArray[Contributor, MAX_CONTRIBUTORS]:
    out: DynArray[Contributor, MAX_CONTRIBUTORS] = []
    for p: uint256 in self.contributors_[token_id]:
        out.append(Contributor(account=convert(convert(p & ADDRESS_MASK, uint160), address),
                               bps=convert(p >> 160, uint16)))
    return out


@external
@view
def royaltyInfo(token_id: uint256, sale_price: uint256) -> (address, uint256):
    """@notice EIP-2981: the whole royalty goes to the Market, which splits it (payRoyalty)."""
    return self.royalty_receiver, sale_price * self.royalty_bps[token_id] // BPS


@internal
@pure
def _hex(x: bytes32) -> String[64]:
    v: uint256 = convert(x, uint256)
    hi: uint256 = 0
    lo: uint256 = 0
    for i: uint256 in range(64):
        n: uint256 = (v >> (4 * i)) & 15
        c: uint256 = n + 48
        if n > 9:
            c += 39
        if i < 32:
            lo |= c << (8 * i)
        else:
            hi |= c << (8 * (i - 32))
    return convert(concat(convert(hi, bytes32), convert(lo, bytes32)), String[64])


@external
@view
def tokenURI(token_id: uint256) -> String[320]:
    """@notice A data: URI with the ledger NFT id, the manifest hash and the Merkle root."""
    assert self.ownerOf_[token_id] != empty(address), "no such token"
    return concat('data:application/json,{"ledger_nft":"0x', self._hex(convert(token_id, bytes32)),
                  '","manifest_hash":"0x', self._hex(self.manifest_hash[token_id]),
                  '","merkle_root":"0x', self._hex(self.merkle_root[token_id]), '"}')


@internal
def _transfer(sender: address, receiver: address, token_id: uint256):
    owner: address = self.ownerOf_[token_id]
    assert owner != empty(address), "no such token"
    assert owner == sender, "sender is not the owner"
    assert receiver != empty(address), "transfer to the zero address"
    assert (msg.sender == owner or self.getApproved[token_id] == msg.sender
            or self.isApprovedForAll[owner][msg.sender]), "not the owner nor approved"
    self.getApproved[token_id] = empty(address)
    self.balance_[sender] -= 1
    self.balance_[receiver] += 1
    self.ownerOf_[token_id] = receiver
    log Transfer(sender=sender, receiver=receiver, token_id=token_id)


@external
def transferFrom(sender: address, receiver: address, token_id: uint256):
    self._transfer(sender, receiver, token_id)


@external
def safeTransferFrom(sender: address, receiver: address, token_id: uint256, data: Bytes[1024] = b""):
    # Effects first (in _transfer), then the receiver's callback.
    self._transfer(sender, receiver, token_id)
    if receiver.is_contract:
        ret: bytes4 = extcall IERC721Receiver(receiver).onERC721Received(msg.sender, sender, token_id, data)
        assert ret == method_id("onERC721Received(address,address,uint256,bytes)", output_type=bytes4), \
            "receiver refused the token"


@external
def approve(approved: address, token_id: uint256):
    owner: address = self.ownerOf_[token_id]
    assert owner != empty(address), "no such token"
    assert msg.sender == owner or self.isApprovedForAll[owner][msg.sender], "not the owner nor an operator"
    self.getApproved[token_id] = approved
    log Approval(owner=owner, approved=approved, token_id=token_id)


@external
def setApprovalForAll(operator: address, approved: bool):
    assert operator != msg.sender, "approving oneself"
    self.isApprovedForAll[msg.sender][operator] = approved
    log ApprovalForAll(owner=msg.sender, operator=operator, approved=approved)


@external
def mint(receiver: address, token_id: uint256, manifest_hash: bytes32, merkle_root: bytes32,
         contributors: DynArray[Contributor, MAX_CONTRIBUTORS], ledger_tx: bytes32):
    """@notice Minter only: export ledger NFT `token_id` (once), with its royalty table;
               `ledger_tx` is the ledger transaction that moved it into the bridge's custody."""
    assert msg.sender == minter, "not the minter"
    assert receiver != empty(address), "mint to the zero address"
    assert self.manifest_hash[token_id] == empty(bytes32), "token already exported"
    assert manifest_hash != empty(bytes32), "zero manifest hash"
    total: uint256 = 0
    packed: DynArray[uint256, MAX_CONTRIBUTORS] = []
    for c: Contributor in contributors:
        assert c.account != empty(address), "zero contributor"
        assert c.bps > 0, "zero share"
        total += convert(c.bps, uint256)
        packed.append(convert(c.account, uint256) | (convert(c.bps, uint256) << 160))
    assert total <= BPS, "royalties over 100%"
    self.manifest_hash[token_id] = manifest_hash
    self.merkle_root[token_id] = merkle_root
    self.ledger_tx[token_id] = ledger_tx
    self.royalty_bps[token_id] = total
    self.contributors_[token_id] = packed
    self.ownerOf_[token_id] = receiver
    self.balance_[receiver] += 1
    self.total_supply += 1
    log Transfer(sender=empty(address), receiver=receiver, token_id=token_id)
    log Exported(token_id=token_id, manifest_hash=manifest_hash, merkle_root=merkle_root, ledger_tx=ledger_tx,
                 royalty_bps=total, contributors=len(contributors))
