"""help() on tg.match: every public class, method and property of the module documents itself."""

from __future__ import annotations

import inspect

import pytest

import tagger.match as tm

CLASSES = [getattr(tm, n) for n in tm.__all__ if isinstance(getattr(tm, n), type)]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_public_members_have_docstrings(cls: type) -> None:
    assert inspect.getdoc(cls), cls.__name__
    missing = []
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        obj = member.fget if isinstance(member, property) else member
        if callable(obj) and not inspect.getdoc(obj):
            missing.append(name)
    assert not missing, f"{cls.__name__}: {missing}"
