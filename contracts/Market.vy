#pragma version ~=0.4.3
#pragma evm-version cancun
"""
@title Market: dataset NFTs for TAG, royalties split in the same transaction
@notice list / buy / cancel for a sale (the NFT changes hands) or a license (the buyer
        is recorded as licensee). A purchase splits the price at once: the platform
        fee floor(price * fee_bps / 10^4), each contributor floor(price * bps_i / 10^4),
        the seller the rest; every share is credited to the recipient's proceeds, which
        each recipient withdraws (pull payments: no transfer to a recipient can block or
        re-enter a purchase). Every state-changing entry point is @nonreentrant.
"""

MAX_CONTRIBUTORS: constant(uint256) = 64
BPS: constant(uint256) = 10000
SALE: constant(uint8) = 0
LICENSE: constant(uint8) = 1

struct Contributor:
    account: address
    bps: uint16

struct Listing:
    seller: address
    token_id: uint256
    price: uint256
    kind: uint8
    active: bool

interface ITagToken:
    def transferFrom(sender: address, receiver: address, amount: uint256) -> bool: nonpayable
    def transfer(receiver: address, amount: uint256) -> bool: nonpayable

interface IDatasetNFT:
    def ownerOf(token_id: uint256) -> address: view
    def contributors(token_id: uint256) -> DynArray[Contributor, MAX_CONTRIBUTORS]: view
    def royalty_bps(token_id: uint256) -> uint256: view
    def safeTransferFrom(sender: address, receiver: address, token_id: uint256, data: Bytes[1024]): nonpayable

event Listed:
    listing_id: indexed(uint256)
    token_id: indexed(uint256)
    seller: indexed(address)
    price: uint256
    kind: uint8

event Cancelled:
    listing_id: indexed(uint256)

event Sold:
    listing_id: indexed(uint256)
    token_id: indexed(uint256)
    buyer: indexed(address)
    seller: address
    price: uint256
    fee: uint256
    royalties: uint256
    kind: uint8

event RoyaltyPaid:
    token_id: indexed(uint256)
    payer: indexed(address)
    amount: uint256

event Credited:
    account: indexed(address)
    amount: uint256

event Withdrawn:
    account: indexed(address)
    amount: uint256

token: public(immutable(address))
nft: public(immutable(address))
fee_bps: public(immutable(uint256))
fee_recipient: public(immutable(address))

listings: public(HashMap[uint256, Listing])
listing_count: public(uint256)
proceeds: public(HashMap[address, uint256])
licensed: public(HashMap[uint256, HashMap[address, bool]])


@deploy
def __init__(tag: address, dataset_nft: address, fee: uint256, fee_to: address):
    assert fee <= BPS, "fee over 100%"
    token = tag
    nft = dataset_nft
    fee_bps = fee
    fee_recipient = fee_to


@external
@nonreentrant
def list(token_id: uint256, price: uint256, kind: uint8) -> uint256:
    """@notice List a held NFT for sale (kind 0; approve this Market first) or license (kind 1)."""
    assert kind == SALE or kind == LICENSE, "kind is 0 (sale) or 1 (license)"
    assert price > 0, "zero price"
    assert staticcall IDatasetNFT(nft).ownerOf(token_id) == msg.sender, "not the holder"
    assert staticcall IDatasetNFT(nft).royalty_bps(token_id) + fee_bps <= BPS, "royalties and fee over 100%"
    lid: uint256 = self.listing_count
    self.listing_count = lid + 1
    self.listings[lid] = Listing(seller=msg.sender, token_id=token_id, price=price, kind=kind, active=True)
    log Listed(listing_id=lid, token_id=token_id, seller=msg.sender, price=price, kind=kind)
    return lid


@external
@nonreentrant
def cancel(listing_id: uint256):
    assert self.listings[listing_id].active, "no active listing"
    assert self.listings[listing_id].seller == msg.sender, "not the seller"
    self.listings[listing_id].active = False
    log Cancelled(listing_id=listing_id)


@internal
def _credit(account: address, amount: uint256):
    if amount > 0:
        self.proceeds[account] += amount
        log Credited(account=account, amount=amount)


@internal
def _split(token_id: uint256, amount: uint256, pool_bps: uint256) -> uint256:
    """Credit each contributor amount * bps_i / pool_bps (floored); returns the sum."""
    paid: uint256 = 0
    for c: Contributor in staticcall IDatasetNFT(nft).contributors(token_id):
        share: uint256 = amount * convert(c.bps, uint256) // pool_bps
        self._credit(c.account, share)
        paid += share
    return paid


@external
@nonreentrant
def buy(listing_id: uint256, price: uint256):
    """@notice Buy a listing at its `price` (the buyer agrees to it; approve this Market for TAG)."""
    lst: Listing = self.listings[listing_id]
    assert lst.active, "no active listing"
    assert price == lst.price, "price changed"
    assert msg.sender != lst.seller, "buyer is the seller"
    assert staticcall IDatasetNFT(nft).ownerOf(lst.token_id) == lst.seller, "seller no longer holds the NFT"
    # Effects: the listing, the license, every share credited.
    if lst.kind == SALE:
        self.listings[listing_id].active = False
    else:
        assert not self.licensed[lst.token_id][msg.sender], "already licensed"
        self.licensed[lst.token_id][msg.sender] = True
    fee: uint256 = price * fee_bps // BPS
    royalties: uint256 = self._split(lst.token_id, price, BPS)
    self._credit(fee_recipient, fee)
    self._credit(lst.seller, price - fee - royalties)
    log Sold(listing_id=listing_id, token_id=lst.token_id, buyer=msg.sender, seller=lst.seller, price=price,
             fee=fee, royalties=royalties, kind=lst.kind)
    # Interactions last: the payment, then (a sale) the NFT, whose receiver callback
    # finds every entry point of this contract locked.
    assert extcall ITagToken(token).transferFrom(msg.sender, self, price), "payment failed"
    if lst.kind == SALE:
        extcall IDatasetNFT(nft).safeTransferFrom(lst.seller, msg.sender, lst.token_id, b"")


@external
@nonreentrant
def payRoyalty(token_id: uint256, amount: uint256):
    """@notice EIP-2981 receiver: split a royalty of `amount` TAG among the NFT's contributors
               by their basis points (the floors' remainder to the first contributor)."""
    assert amount > 0, "zero amount"
    pool: uint256 = staticcall IDatasetNFT(nft).royalty_bps(token_id)
    assert pool > 0, "no royalty table"
    paid: uint256 = self._split(token_id, amount, pool)
    first: address = (staticcall IDatasetNFT(nft).contributors(token_id))[0].account
    self._credit(first, amount - paid)
    log RoyaltyPaid(token_id=token_id, payer=msg.sender, amount=amount)
    assert extcall ITagToken(token).transferFrom(msg.sender, self, amount), "payment failed"


@external
@nonreentrant
def withdrawProceeds() -> uint256:
    """@notice Send the caller its proceeds (pull payment)."""
    amount: uint256 = self.proceeds[msg.sender]
    assert amount > 0, "no proceeds"
    self.proceeds[msg.sender] = 0
    log Withdrawn(account=msg.sender, amount=amount)
    assert extcall ITagToken(token).transfer(msg.sender, amount), "transfer failed"
    return amount
