"""Method names -> estimator classes (used by workflow ``finalize(method=...)``)."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidArgument
from .base import BaseClassifier
from .confusion import DawidSkene, OneCoinDawidSkene
from .difficulty import GLAD
from .spammer import MACE
from .voting import GoldMajorityVote, MajorityVote, WeightedMajorityVote
from .spectral import KOS, MMSR
from .quality import CROWDLAB
from .agreement import Wawa, ZeroBasedSkill
from .bayes import BCC, BWA, CBCC, EBCC

__all__ = ["METHODS", "get_method"]

METHODS: dict[str, type[BaseClassifier]] = {
    "majority_vote": MajorityVote,
    "weighted_majority_vote": WeightedMajorityVote,
    "dawid_skene": DawidSkene,
    "one_coin_dawid_skene": OneCoinDawidSkene,
    "glad": GLAD,
    "mace": MACE,
    "wawa": Wawa,
    "zero_based_skill": ZeroBasedSkill,
    "crowdlab": CROWDLAB,
    "gold_majority_vote": GoldMajorityVote,
    "kos": KOS,
    "mmsr": MMSR,
    "bwa": BWA,
    "ebcc": EBCC,
    "bcc": BCC,
    "cbcc": CBCC,
}


def get_method(name: str, **kwargs: Any) -> BaseClassifier:
    """An estimator by method name (``"dawid_skene"``) or class name
    (``"DawidSkene"``, ``"CommunityBCC"``), constructed with ``kwargs``."""
    aliases = {"CommunityBCC": "cbcc"}  # the public alias of CBCC
    name = aliases.get(name, name) if isinstance(name, str) else name
    for key, cls in METHODS.items():
        if name in (key, cls.__name__):
            try:
                return cls(**kwargs)
            except TypeError as e:  # an option the method does not take: named by the class
                raise InvalidArgument(str(e)) from None
    raise InvalidArgument(f"unknown consensus method {name!r}; known: {sorted(METHODS)}")
