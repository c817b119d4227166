#pragma version ~=0.4.3
#pragma evm-version cancun
"""
@title ReentrantBuyer (tests only): a contract buyer whose ERC-721 callback re-enters the Market
@notice mode 0: a well-behaved contract buyer; 1: re-enters Market.buy; 2: re-enters
        Market.withdrawProceeds. The Market's
        locks must make modes 1 and 2 revert the whole purchase.
"""

interface IMarket:
    def buy(listing_id: uint256, price: uint256): nonpayable
    def withdrawProceeds() -> uint256: nonpayable

interface IERC20:
    def approve(spender: address, amount: uint256) -> bool: nonpayable

market: public(immutable(address))
mode: public(uint256)
second_listing: public(uint256)
second_price: public(uint256)
received: public(uint256)


@deploy
def __init__(m: address, tag: address):
    market = m
    extcall IERC20(tag).approve(m, max_value(uint256))


@external
def attack(listing_id: uint256, price: uint256, mode: uint256, second_listing: uint256, second_price: uint256):
    self.mode = mode
    self.second_listing = second_listing
    self.second_price = second_price
    extcall IMarket(market).buy(listing_id, price)


@external
def onERC721Received(operator: address, sender: address, token_id: uint256, data: Bytes[1024]) -> bytes4:
    self.received += 1
    if self.mode == 1:
        extcall IMarket(market).buy(self.second_listing, self.second_price)
    elif self.mode == 2:
        extcall IMarket(market).withdrawProceeds()
    return method_id("onERC721Received(address,address,uint256,bytes)", output_type=bytes4)
