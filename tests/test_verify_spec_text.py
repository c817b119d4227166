"""tg.verify: the text fields of a VerifySpec (surrogates, no letters) and a task's own language
for the gibberish check."""

from __future__ import annotations

import json
import random

import pytest

import tagger as tg
from tagger.errors import InvalidArgument

V = tg.verify

# ---------------------------------------------------------------- surrogates

CUT = json.loads('"Customer questions about card delivery \\ud83d"')  # a JS client cut the emoji in two


@pytest.mark.parametrize("fields, message", [
    ({"description": CUT}, r"description holds a lone surrogate U\+D83D at position 39 \(half of a UTF-16 pair"),
    ({"category": "bank/\udc80"}, r"category holds a lone surrogate U\+DC80 at position 5"),
    ({"task_id": "t\ud83d"}, r"task_id holds a lone surrogate U\+D83D at position 1"),
    ({"description": "card delivery", "examples": ["where is my card", "", "my card \udc80"]},
     r"examples\[2\] holds a lone surrogate U\+DC80 at position 8"),
    ({"text_scripts": ["Latin", "Latin\ud83d"]}, r"text_scripts\[1\] holds a lone surrogate U\+D83D at position 5"),
])
def test_a_lone_surrogate_in_a_spec_is_refused_when_it_is_built(fields, message) -> None:
    """It was accepted, and then every check() and check_many() of the task raised UnicodeEncodeError."""
    with pytest.raises(InvalidArgument, match=message):
        V.VerifySpec(**fields)
    with pytest.raises(InvalidArgument, match=message):  # a dict of fields, as check() takes it
        V.check_many([b"where is my card?"], "text", fields)


def test_whole_emoji_and_other_scripts_are_fine_in_a_spec() -> None:
    spec = V.VerifySpec(task_id="t\U0001F600", description="Customer questions about card delivery \U0001F4B3",
                        examples=["où est ma carte ?", "Wo ist meine Karte?", "my card 🙂"])
    assert V.check(b"where is my card?", "text", spec).status in ("accepted", "needs_review")
