from __future__ import annotations
import typing
__all__: list[str] = ['MAX_DEPTH', 'MAX_ITEMS', 'MAX_LENGTH', 'decode', 'encode']
def decode(data: typing.Any, max_length: typing.SupportsInt | typing.SupportsIndex = 67108864, max_items: typing.SupportsInt | typing.SupportsIndex = 16777216, max_depth: typing.SupportsInt | typing.SupportsIndex = 32) -> typing.Any:
    ...
def encode(obj: typing.Any, max_depth: typing.SupportsInt | typing.SupportsIndex = 32) -> bytes:
    ...
MAX_DEPTH: int = 32
MAX_ITEMS: int = 16777216
MAX_LENGTH: int = 67108864
