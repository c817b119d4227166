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


# ------------------------------------------------------- the task's language

GERMAN = V.VerifySpec(description="Kundennachrichten zur Kartenlieferung",
                      examples=["Wo ist meine Karte?", "Meine Karte ist noch nicht angekommen", "Wann kommt meine neue Karte?"])
GERMAN_UPLOADS = ["Ich warte seit zwei Wochen auf meine Karte.", "Wann wird meine Karte geliefert?",
                  "Wo bleibt meine Bankkarte?", "Meine neue Karte ist immer noch nicht da.",
                  "Können Sie mir sagen, wann die Karte verschickt wurde?", "Die Karte ist nicht im Briefkasten angekommen.",
                  *GERMAN.examples]
ENGLISH = V.VerifySpec(description="Customer messages asking when their new card arrives",
                       examples=["Where is my card?", "My card has not arrived yet", "When will my new card come?"])


def _random_letters(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz    ") for _ in range(n)).strip()


def _mash(rng: random.Random) -> str:
    rows = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
    return " ".join("".join(rng.choice(rng.choice(rows)) for _ in range(rng.randint(4, 7))) for _ in range(4))


GIBBERISH = ["asdkjh qwpoe zxmcn", "xqzv kwpq mfhr tlzxv bnqw jzkx qwpf", "sdfkj hsdkfj hsdfkjh sdf"]


def test_genuine_uploads_in_the_tasks_language_are_not_gibberish() -> None:
    """The English model rejected half of a German task's genuine uploads and two of its own three
    examples; the task's own texts now move its threshold below them."""
    vs = V.check_many([t.encode() for t in GERMAN_UPLOADS], "text", GERMAN)
    assert [t for t, v in zip(GERMAN_UPLOADS, vs) if "gibberish" in v.reasons] == []
    cut = vs[0].scores["gibberish_threshold"]
    assert cut < V.VerifySpec().gibberish_threshold
    # without the task's texts the English threshold is in force, as before
    assert "gibberish" in V.check(b"Wann kommt meine neue Karte?", "text", V.VerifySpec()).reasons


def test_gibberish_is_still_caught_for_a_task_in_another_language() -> None:
    rng = random.Random(5)
    junk = GIBBERISH + [_random_letters(rng, 40) for _ in range(20)] + [_mash(rng) for _ in range(20)]
    vs = V.check_many([t.encode() for t in junk], "text", GERMAN)
    caught = sum("gibberish" in v.reasons for v in vs)
    assert caught >= 0.85 * len(junk), caught
    v = vs[0]
    assert "gibberish" in v.reasons and "(the task's own texts moved it from -3.85)" in v.details["gibberish"]


def test_an_english_tasks_gibberish_threshold_is_unchanged() -> None:
    rng = random.Random(6)
    junk = GIBBERISH + [_random_letters(rng, 40) for _ in range(20)] + [_mash(rng) for _ in range(20)]
    vs = V.check_many([t.encode() for t in junk], "text", ENGLISH.replace(relevance_threshold=None))
    assert all("gibberish" in v.reasons for v in vs)
    assert all("gibberish_threshold" not in v.scores for v in vs)
    assert vs[0].details["gibberish"].endswith("< -3.85")
    model = V.TextModel.default()
    assert model.calibrate_gibberish(-3.85, ENGLISH.own_texts) == -3.85
    assert model.calibrate_gibberish(-3.85, []) == -3.85
    # the German texts move it down, never up; a fixed threshold moves by the same amount
    german = model.calibrate_gibberish(-3.85, GERMAN.own_texts)
    assert german < -3.85 and model.calibrate_gibberish(-3.0, GERMAN.own_texts) == pytest.approx(german + 0.85)


def test_the_letterless_warning_points_at_the_callers_line() -> None:
    """publish_task(kind="collection", description="...") warned twice, at tagger-internal lines
    (task.py and dataclasses.py: a replace() re-runs the checks), so the default filter showed both."""
    import warnings

    import tagger as tg

    net = tg.Network.memory()
    alice = net.create_account("alice", fund=10_000 * tg.TAG)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        net.publish_task(owner=alice, title="Reviews", description="...", kind="collection", items=5,
                         budget=10 * tg.TAG)
    letterless = [w for w in seen if "has no letters" in str(w.message)]
    assert letterless and {w.filename for w in letterless} == {__file__}


def test_a_warning_from_python_c_names_its_line_not_sys() -> None:
    """outside_tagger() skipped every '<string>' frame, so code run by `python -c` or exec() (whose
    file is '<string>', like a dataclass's generated __init__) got its warnings as 'sys:1'."""
    import subprocess
    import sys

    code = "from tagger.verify import VerifySpec\n\nVerifySpec(description='Reviews', examples=['...'])\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "<string>:3: UserWarning: examples[0]" in out.stderr, out.stderr
