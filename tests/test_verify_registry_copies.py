"""tg.verify: copies of another worker's upload with a few letters changed or its words
reordered are near duplicates (DedupRegistry's edit and word rules), and honest uploads are not."""

from __future__ import annotations

import random
import re
import string
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tagger as tg
from tagger._core import verify as _v
from tagger.errors import InvalidArgument

V = tg.verify
FIRST = "When will my new card arrive?"
LONG = "How do I cancel a transfer I made yesterday to my landlord by mistake?"
BANKING = Path(__file__).resolve().parents[2] / "shared" / "data" / "nlp" / "banking77"


def _spec(reg: V.DedupRegistry) -> V.VerifySpec:
    return V.VerifySpec(task_id="t1", description="Questions a bank customer asks", registry=reg,
                        relevance_threshold=None)


def _first_then(copy: str, **registry) -> V.Verdict:
    reg = V.DedupRegistry(**registry)
    assert V.check(FIRST.encode(), "text", _spec(reg), item_id="a").accepted
    return V.check(copy.encode(), "text", _spec(reg), item_id="b")


@pytest.mark.parametrize("copy", ["When will my new cart arrive?", "When will my new cards arrive?",
                                  "When will my new crd arrive?", "When wlil my new card arrive?",
                                  "When will my new car arrive?"])
def test_a_copy_with_a_letter_changed_is_a_near_duplicate(copy):
    v = _first_then(copy)
    assert v.status == "needs_review" and v.reasons == ("near_duplicate",), v.details
    assert v.scores["near_duplicate_edits"] <= 2
    assert "letters and digits changed from item 'a' of task 't1'" in v.details["near_duplicate"]


@pytest.mark.parametrize("copy", ["arrive my card new When will?", "When will my new card arrive? When?",
                                  "arrive-my-card-new-When-will"])
def test_a_copy_with_its_words_reordered_or_repeated_is_a_near_duplicate(copy):
    reg = V.DedupRegistry()
    reg.add(tg.crypto.sha256(FIRST.encode()), "t1", "a", text=FIRST)
    assert [c for c in reg.find_copies(copy) if c.rule == "words"] == [
        V.NearText("t1", "a", "words", 1.0, "the same 6 distinct words as item 'a' of task 't1'")]
    assert _first_then(copy).reasons == ("near_duplicate",)


def test_a_long_copy_with_a_word_more_or_fewer_in_another_order_is_a_near_duplicate():
    reg = V.DedupRegistry()
    assert V.check(LONG.encode(), "text", _spec(reg), item_id="a").accepted
    fewer = "Yesterday I made a transfer to my landlord, a mistake: how do I cancel?"  # 12 of its 13 words
    more = "By mistake yesterday I made a bank transfer to my landlord, how do I cancel a transfer?"  # 13 + "bank"
    for text, share in ((fewer, 12 / 13), (more, 13 / 14)):
        found = reg.find_copies(text)
        assert [c.rule for c in found] == ["words"], found
        assert found[0].score == pytest.approx(share) and found[0][:2] == ("t1", "a")


def test_honest_questions_near_each_other_are_accepted():
    reg = V.DedupRegistry()
    texts = ["When will my new card arrive?", "Is my card broken?", "My card is broken",  # short: no word rule
             "My transfer is still pending", "Is my transfer still pending?",
             "How long does a transfer from abroad take?", "How long does a top up by card take?",
             "When will my new PIN arrive in the post?", "Where is the card I ordered last week?",
             "Why was I charged a fee for my transfer?", "Why was I charged twice for one payment?"]
    for i, t in enumerate(texts):
        v = V.check(t.encode(), "text", _spec(reg), item_id=str(i))
        assert v.accepted, (t, v.details)


def test_the_rules_can_be_turned_off_and_are_checked():
    assert _first_then("When will my new cart arrive?", text_edit_share=None).accepted
    assert _first_then("arrive my card new When will?", text_word_sets=False).accepted
    reg = V.DedupRegistry(text_edit_share=0.15)
    assert reg.text_edit_share == 0.15
    with pytest.raises(InvalidArgument, match="text_edit_share"):
        V.DedupRegistry(text_edit_share=0.2)  # a copy of a 10-letter text could have no intact block
    with pytest.raises(InvalidArgument, match=r"\[0, 0.15\]"):
        _v.EditIndex(share=0.2)
    with pytest.raises(InvalidArgument, match="text_word_sets"):
        V.DedupRegistry(text_word_sets="yes")  # type: ignore[arg-type]


def test_a_forgotten_upload_is_no_original_for_any_rule():
    reg = V.DedupRegistry()
    sha = tg.crypto.sha256(FIRST.encode())
    reg.add(sha, "t1", "a", text=FIRST)
    assert {c.rule for c in reg.find_copies("When will my new cart arrive?")} == {"edits"}
    assert {c.rule for c in reg.find_copies("arrive my card new When will?")} == {"words"}
    reg.forget(sha)
    assert reg.find_copies("When will my new cart arrive?") == []
    assert reg.find_copies("arrive my card new When will?") == []


def test_near_copies_checked_at_the_same_moment_are_found_by_the_second():
    # Neither check sees the other before it records: add() looks up edits and words too.
    for _ in range(5):
        reg = V.DedupRegistry()
        barrier = threading.Barrier(2)

        def upload(text: str, item: str) -> V.Verdict:
            barrier.wait()
            return V.check(text.encode(), "text", _spec(reg), item_id=item)

        with ThreadPoolExecutor(2) as pool:
            verdicts = list(pool.map(upload, [FIRST, "arrive my card new When will?"], ["a", "b"]))
        assert sorted(v.status for v in verdicts) == ["accepted", "needs_review"], [v.details for v in verdicts]


def test_a_registry_of_ones_own_with_only_find_text_still_works():
    class Mine:
        text_threshold = 0.8

        def __init__(self) -> None:
            self.reg = V.DedupRegistry()

        def __getattr__(self, name: str):
            if name == "find_copies":
                raise AttributeError(name)
            return getattr(self.reg, name)

    mine = Mine()
    assert V.check(FIRST.encode(), "text", _spec(mine), item_id="a").accepted  # type: ignore[arg-type]
    v = V.check(b"When will my new card arrive??", "text", _spec(mine), item_id="b")  # type: ignore[arg-type]
    assert v.reasons == ("near_duplicate",) and "estimated Jaccard" in v.details["near_duplicate"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="abcde", min_size=10, max_size=80), min_size=1, max_size=20),
       st.text(alphabet="abcdef", min_size=0, max_size=90))
def test_an_edit_match_is_never_closer_than_it_is(stored, query):
    ix = _v.EditIndex(share=0.15)
    for s in stored:
        ix.insert(s)
    for i, edits, length in ix.query(query):
        assert length == len(stored[i]) and edits <= ix.cap(length)
        assert _v.bounded_edit_distance(stored[i], query, edits) <= edits  # the bound holds


@pytest.mark.skipif(not BANKING.exists(), reason=f"../shared not found ({BANKING}): the Banking77 copies are not tried")
def test_one_letter_copies_of_banking77_questions_are_all_found():
    import csv

    with open(BANKING / "train.csv", newline="") as f:
        texts = [row["text"] for row in csv.DictReader(f)][:1500]
    reg = V.DedupRegistry()
    for i, t in enumerate(texts):
        reg.add(tg.crypto.sha256(t.encode()), "t", str(i), text=t)
    rng = random.Random(0)
    missed = []
    for i in rng.sample(range(len(texts)), 300):
        t = texts[i]
        at = rng.choice([k for k, c in enumerate(t) if c.isalpha()])
        copy = t[:at] + rng.choice([c for c in string.ascii_lowercase if c != t[at].lower()]) + t[at + 1:]
        if not any(c.item_id == str(i) for c in reg.find_copies(copy)):
            missed.append((t, copy))
    assert not missed, missed[:5]


LOOKS = dict(zip("aeocpxyiATMHPIBK", "аеосрхуіАТМНРІВК"))  # Cyrillic letters drawn like Latin ones


@pytest.mark.parametrize("swapped", [3, 8, 100])
def test_a_copy_with_latin_letters_swapped_for_look_alikes_is_a_copy(swapped):
    long = "I ordered a new card two weeks ago and it still has not arrived, can you tell me where it is?"
    spots = [i for i, c in enumerate(long) if c in LOOKS][:swapped]
    copy = "".join(LOOKS[c] if i in spots else c for i, c in enumerate(long))
    assert copy != long
    reg = V.DedupRegistry()
    assert V.check(long.encode(), "text", _spec(reg), item_id="a").accepted
    v = V.check(copy.encode(), "text", _spec(reg), item_id="b")
    assert "near_duplicate" in v.reasons and v.scores["near_duplicate"] == 1.0, v.details
    # ... and of the task's own example: rejected
    spec = V.VerifySpec(description="Questions a bank customer asks", examples=[long], relevance_threshold=None)
    assert "copies_task_text" in V.check(copy.encode(), "text", spec).reasons


def test_look_alike_letters_are_read_as_latin_and_greek_or_russian_copies_are_still_found():
    from tagger.verify._registry import sketch_text

    assert sketch_text("АТМ саrd") == sketch_text("ATM card") == "atmcard"
    reg = V.DedupRegistry()
    ru = "Когда придёт моя новая карта, которую я заказал две недели назад?"
    reg.add(tg.crypto.sha256(ru.encode()), "t", "ru", text=ru)
    assert [c.rule for c in reg.find_copies(ru.upper())][:1] == ["jaccard"]
    assert any(c.rule == "edits" for c in reg.find_copies(ru.replace("карта", "карты")))


def test_many_near_identical_stored_texts_keep_a_check_short():
    # Templated uploads: 3,000 texts that differ in a number. Each rule names at most
    # COPIES_PER_RULE of them, and the check stays quick.
    import time

    from tagger.verify._registry import COPIES_PER_RULE

    reg = V.DedupRegistry()
    base = "Please label this photo of a small brown dog playing in the park"
    for i in range(3000):
        reg.add(tg.crypto.sha256(f"{base} {i}".encode()), "t", str(i), text=f"{base} {i}")
    found = reg.find_copies(base)
    per_rule = {r: sum(c.rule == r for c in found) for r in ("edits", "words")}
    assert per_rule == {"edits": COPIES_PER_RULE, "words": COPIES_PER_RULE}, per_rule
    t0 = time.perf_counter()
    for _ in range(5):
        reg.find_copies(base)
    assert (time.perf_counter() - t0) / 5 < 0.25


CARD = "I ordered a new card two weeks ago and it still has not arrived, can you tell me where it is?"


@pytest.mark.parametrize("copy, rule", [
    ("Hi! " + CARD + " Thanks a lot, Anna", "inside"),
    (CARD + " " + "Also, why was I charged a fee?", "inside"),
    ("I ordered a new card two weeks ago and it still has not arrived", "cut"),
    ("weeks ago and it still has not arrived, can you tell me where it is?", "cut"),
    ("a new card two weeks ago and it still has not arrived, can you tell me", "cut"),  # both ends cut
])
def test_another_upload_cut_joined_or_wrapped_is_a_near_duplicate(copy, rule):
    from tagger.verify._registry import sketch_text

    mine, theirs = len(sketch_text(copy)), len(sketch_text(CARD))  # letters and digits
    share = theirs / mine if rule == "inside" else mine / theirs
    reg = V.DedupRegistry(text_threshold=0.95)  # (so that Jaccard does not find them first)
    reg.add(tg.crypto.sha256(CARD.encode()), "t1", "a", text=CARD)
    found = [c for c in reg.find_copies(copy) if c.rule == rule]
    assert found and found[0][:2] == ("t1", "a") and found[0].score == pytest.approx(share), reg.find_copies(copy)
    assert not [c for c in V.DedupRegistry(text_parts=False, text_threshold=0.95).find_copies(copy) if c.rule == rule]


def test_short_parts_and_texts_that_are_mostly_ones_own_are_not_parts():
    reg = V.DedupRegistry()
    reg.add(tg.crypto.sha256(CARD.encode()), "t1", "a", text=CARD)
    for text in ["it still has not arrived, can you tell me where it is?",  # 41 letters: 58 % of the 71
                 "can you tell me where it is?",  # fewer than 20 letters and digits
                 CARD + " I paid for express delivery and the tracking number you sent me does not work at all, "
                        "and nobody answers the phone"]:  # the stored text is under half of it
        assert not [c for c in reg.find_copies(text) if c.rule in ("inside", "cut")], text
    with pytest.raises(InvalidArgument, match="text_parts"):
        V.DedupRegistry(text_parts=1)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="abc", min_size=10, max_size=40), min_size=1, max_size=12),
       st.text(alphabet="abc", min_size=0, max_size=60))
def test_a_part_match_is_exact(stored, query):
    ix = _v.ContainmentIndex(min_length=10, max_length=40)
    for s in stored:
        ix.insert(s)
    found = {(i, kind) for i, kind, _ in ix.query(query, 1000)}
    for i, s in enumerate(stored):
        inside = s in query and 2 * len(s) >= len(query)
        start = len(s) > len(query) >= max(10, 0.6 * len(s)) and s.startswith(query)
        end = len(s) > len(query) >= max(10, 0.6 * len(s)) and s.endswith(query) and not start
        middle = (len(s) > len(query) >= max(10, 0.6 * len(s)) and not start and not end
                  and query in s[1:-1])
        assert ((i, "inside") in found) == inside, (s, query)
        assert ((i, "start") in found) == start, (s, query)
        assert ((i, "end") in found) == end, (s, query)
        assert ((i, "middle") in found) == middle, (s, query)


def test_forgotten_uploads_do_not_hide_a_live_original():
    # 20 uploads the ledger refused (forgotten), each as near the copy as the original: the rules
    # that stop at COPIES_PER_RULE matches counted them and missed the original.
    reg = V.DedupRegistry()
    for i in range(20):  # older: found first
        text = CARD.replace("?", "!" * (i + 1))  # the same letters and digits
        sha = tg.crypto.sha256(text.encode())
        reg.add(sha, "t1", f"refused{i}", text=text)
        reg.forget(sha)
    reg.add(tg.crypto.sha256(CARD.encode()), "t1", "original", text=CARD)
    for copy, rule in ((CARD.replace("card", "cart"), "edits"), ("Hi! " + CARD + " Thanks", "inside"),
                       ("I ordered a new card two weeks ago and it still has not arrived", "cut")):
        assert [c.item_id for c in reg.find_copies(copy) if c.rule == rule] == ["original"], (copy, rule)


def test_many_templated_uploads_register_in_linear_time():
    # One sentence and two 12-digit numbers: each bound of a candidate fails late (the numbers
    # are at the end); bounding every candidate made registering 4,000 such uploads take 6 minutes.
    import time

    rng = random.Random(0)
    reg = V.DedupRegistry()

    def add(n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            num = lambda: "".join(rng.choice(string.digits) for _ in range(12))  # noqa: E731
            text = f"Please label this photo of a small brown dog playing in the park order {num()} ref {num()}"
            reg.add(tg.crypto.sha256(text.encode()), "t", text[-30:], text=text)
        return time.perf_counter() - t0

    add(1000)
    assert add(500) < 5.0  # 0.6 s here; 30 s when every candidate was bounded


def test_an_index_that_fails_part_way_does_not_shift_later_owners():
    reg = V.DedupRegistry()

    class Failing:  # an EditIndex whose second insert runs out of memory
        def __init__(self, real):
            self.real, self.calls = real, 0

        def insert(self, text):
            self.calls += 1
            if self.calls == 2:
                raise MemoryError
            return self.real.insert(text)

        def __len__(self):
            return len(self.real)

        def __getattr__(self, name):
            return getattr(self.real, name)

    reg._edits = Failing(reg._edits)
    other = "How long does it take for a transfer from abroad to reach my account?"
    reg.add(tg.crypto.sha256(b"a"), "t", "a", text=other)
    with pytest.raises(MemoryError):
        reg.add(tg.crypto.sha256(b"b"), "t", "b", text="Why was my card payment declined at the shop?")
    reg.add(tg.crypto.sha256(b"c"), "t", "c", text=CARD)
    assert len(reg._lsh) == len(reg._edits) == len(reg._parts) == 3
    assert {c.item_id for c in reg.find_copies(CARD.replace("card", "cart"))} == {"c"}
    assert len(reg) == 2 and reg.find_exact(tg.crypto.sha256(b"b")) is None  # nothing of b half-added


def test_the_letter_run_pattern_is_exactly_the_letters_and_numbers():
    # sketch_of keeps what [^\W_] matches, in C: that must be general category L* or N*, as the
    # per-character test it replaced kept (checked here over every code point).
    import unicodedata

    from tagger.verify._registry import LETTER_RUN

    one = re.compile(LETTER_RUN.pattern.rstrip("+"))
    odd = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF
           and (unicodedata.category(chr(cp))[0] in "LN") != bool(one.fullmatch(chr(cp)))]
    assert odd == []
