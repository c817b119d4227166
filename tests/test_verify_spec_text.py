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


# ---------------------------------------------------------------- no letters

ON_TOPIC = [b"My card has not arrived yet", b"When will my new card be delivered?", b"Where is my card?"]


@pytest.mark.parametrize("desc", ["...", "\U0001F642\U0001F642", "42 - 7"])
def test_a_description_without_letters_and_no_other_reference_is_refused(desc) -> None:
    """'...' made every on-topic upload off_topic, '🙂🙂' a threshold of 0 (relevance off)."""
    with pytest.raises(InvalidArgument, match=f"description {desc!r} has no letters, and no other field of the spec "
                                              r"\(description, category, examples\) has"):
        V.VerifySpec(description=desc)
    spec = V.VerifySpec(description=desc, relevance_threshold=None)  # relevance off: no reference is used
    assert spec.references == []


def test_a_description_without_letters_is_left_out_when_the_spec_has_other_references() -> None:
    examples = ["Where is my card?", "My card has not arrived yet", "When will my new card come?"]
    with pytest.warns(UserWarning, match="description '...' has no letters: it is not used as a relevance reference"):
        spec = V.VerifySpec(description="...", examples=examples)
    assert spec.references == examples
    vs = V.check_many(ON_TOPIC, "text", spec)
    assert not any("off_topic" in v.reasons for v in vs)
    with pytest.warns(UserWarning, match="description"):
        assert V.VerifySpec(description="🙂🙂", category="banking/card_arrival").references == ["banking card arrival"]


def test_examples_without_letters_are_dropped_with_a_warning() -> None:
    with pytest.warns(UserWarning, match=r"examples\[1\] \('🙂'\), examples\[3\] \('...'\) have no letters"):
        spec = V.VerifySpec(description="card delivery", examples=["where is my card", "🙂", "card late", "...", ""])
    assert spec.examples == ("where is my card", "card late")
    with pytest.raises(InvalidArgument, match="has no letters"):  # nothing with letters left
        with pytest.warns(UserWarning, match=r"examples\[0\]"):
            V.VerifySpec(description="--", examples=["12", "..."])
