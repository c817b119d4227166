"""tg.verify: copies of the task's own texts, JSON numbers in content keys, numpy uploads,
receipt ids and spec fields refused when the spec is built."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pandas as pd
import pytest

import tagger as tg
from tagger.errors import InvalidArgument

V = tg.verify
D = "Customer questions about card delivery"
EX = ["When will my new card arrive?", "My card still has not been delivered", "How long does card delivery take?"]


# ------------------------------------------------ 1. copies of the task's own texts


@pytest.mark.parametrize("copy", [EX[0], EX[1], D, EX[2].upper(), "  " + EX[0].replace(" ", "\n") + "  ",
                                  EX[0].replace(" ", "\u00a0"), "\u200b".join(EX[1])])
def test_a_copy_of_an_example_or_the_description_is_rejected(copy):
    reg = V.DedupRegistry()
    spec = V.VerifySpec(task_id="t1", description=D, category="banking/card_arrival", examples=EX, registry=reg)
    v = V.check(copy.encode(), "text", spec, item_id="a")
    assert v.status == "rejected" and v.reasons == ("copies_task_text",), v
    assert "the task's" in v.details["copies_task_text"] and v.scores["task_text_jaccard"] >= 0.8
    assert len(reg) == 0  # not recorded: it blocks no later upload


def test_a_copy_is_caught_without_a_registry_and_only_for_text_uploads():
    spec = V.VerifySpec(description=D, examples=EX)
    assert V.check(EX[0].encode(), "text", spec).status == "rejected"
    # JSON and CSV uploads are checked by their schema, not compared with the examples' texts
    assert V.check(json.dumps(EX[0]).encode(), "json", spec).accepted
    assert V.check(b"text\n" + EX[0].encode() + b"\n", "csv", spec).accepted


def test_genuine_uploads_near_the_examples_are_accepted():
    reg = V.DedupRegistry()
    spec = V.VerifySpec(task_id="t1", description=D, examples=EX, registry=reg)
    for i, text in enumerate(["I ordered a replacement card three weeks ago and it still has not shown up",
                              "When will my new card arrive? I ordered it on the 3rd and need it for a trip",
                              "Why was my card payment declined today?"]):
        v = V.check(text.encode(), "text", spec, item_id=str(i))
        assert v.accepted, (text, v.details)
    # the same rule as uploads among themselves: Jaccard >= the registry's text_threshold
    # (the 5-grams of its letters and digits: an example with one word added is 0.82 of a copy)
    strict = V.VerifySpec(description=D, examples=["Why was my card payment declined?"],
                          registry=V.DedupRegistry(text_threshold=0.75))
    v = V.check(b"Why was my card payment declined today?", "text", strict)
    assert v.reasons == ("copies_task_text",) and 0.75 <= v.scores["task_text_jaccard"] < 0.85
    lax = V.VerifySpec(description=D, examples=["Why was my card payment declined?"],
                       registry=V.DedupRegistry(text_threshold=0.85))
    # Not a copy by Jaccard at 0.85; the whole example with a word added is for review instead.
    assert V.check(b"Why was my card payment declined today?", "text", lax).reasons == ("contains_task_text",)


@pytest.mark.parametrize("edited", ["When will my new cart arrive?", "When wil my new card arrive?",
                                    "How long does card delivery tkae?", "My card still has not been delivered yet"])
def test_an_example_with_a_letter_or_two_changed_is_a_copy(edited):
    """One edit changes up to five 5-grams of a short question: half of such copies passed the
    Jaccard rule and were paid. Within 10 % of an example's letters and digits in edits is a copy."""
    spec = V.VerifySpec(description=D, examples=EX)
    v = V.check(edited.encode(), "text", spec, register=False)
    assert v.status == "rejected" and v.reasons == ("copies_task_text",), v
    detail = v.details["copies_task_text"]
    assert "the task's example" in detail and ("letters and digits changed" in detail or "Jaccard" in detail)


@pytest.mark.parametrize("shuffled", ["arrive my card new When will?", "delivered been not has still card my",
                                      "card new my arrive will when card new arrive",
                                      "arrive-my-card-new-When-will?", "arrive.my.card.new.When.will?"])
def test_an_example_with_its_words_reordered_or_repeated_is_a_copy(shuffled):
    spec = V.VerifySpec(description=D, examples=EX)
    v = V.check(shuffled.encode(), "text", spec, register=False)
    assert v.status == "rejected" and v.reasons == ("copies_task_text",), v
    assert "words reordered" in v.details["copies_task_text"] and v.scores["task_text_words"] >= 0.9


def test_questions_near_an_example_but_not_its_copy_are_accepted():
    spec = V.VerifySpec(description=D, examples=EX)
    for text in ["When will my new debit card arrive?", "Has my card been delivered?", "How long does delivery take?",
                 "When will my card arrive?", "My new card: when will it arrive here?"]:
        assert "copies_task_text" not in V.check(text.encode(), "text", spec, register=False).reasons, text
    # Examples of fewer than 10 letters and digits: only their exact copy (a word of 4 letters
    # is one edit from many words)
    tiny = V.VerifySpec(description=D, examples=["card late"], relevance_threshold=None)
    assert "copies_task_text" not in V.check(b"card lame", "text", tiny, register=False).reasons
    assert V.check(b"Card late!", "text", tiny, register=False).reasons == ("copies_task_text",)


def test_a_short_example_does_not_make_every_upload_containing_it_a_copy():
    spec = V.VerifySpec(description=D, examples=["card", "Card late"], relevance_threshold=None)
    for text in ["My card has not arrived yet", "Card late again, where is it?", "cards", "my card"]:
        assert "copies_task_text" not in V.check(text.encode(), "text", spec, register=False).reasons, text
    assert V.check(b"Card late.", "text", spec).reasons == ("copies_task_text",)  # but a copy of it is one
    assert V.check(b"CARD", "text", spec).reasons == ("copies_task_text",)


def test_copies_of_the_task_text_have_their_own_severity():
    spec = V.VerifySpec(description=D, examples=EX, severity={"copies_task_text": "needs_review"})
    assert V.check(EX[0].encode(), "text", spec).status == "needs_review"
    # A correction task whose uploads stay close to their prompts turns the copy check off and
    # keeps the check of copies of other workers' uploads (with near_duplicate's severity it
    # could only drop both).
    prompt, fixed = "Where is my card? It has not arived yet.", b"Where is my card? It has not arrived yet."
    strict = V.VerifySpec(description="Fix the spelling of the customer's message about card delivery.")
    assert "copies_task_text" in V.check(fixed, "text", strict, prompt=prompt, register=False).reasons
    fix = V.VerifySpec(task_id="t", description="Fix the spelling of the customer's message about card delivery.",
                       registry=V.DedupRegistry(), severity={"copies_task_text": "ignore", "off_topic": "ignore"})
    assert V.check(fixed, "text", fix, item_id="a", prompt=prompt).accepted
    again = V.check(b"Where is my card?  It has not arrived yet!", "text", fix, item_id="b", prompt=prompt)
    assert again.reasons == ("near_duplicate",)  # a copy of another worker's fix is still caught
    # check_many takes one prompt per item, as check takes one
    many = V.check_many([fixed], "text", strict, prompts=[prompt], register=False)
    assert "copies_task_text" in many[0].reasons
    with pytest.raises(InvalidArgument, match=r"prompts\[0\] holds a lone surrogate"):
        V.check_many([fixed], "text", strict, prompts=["\ud800"])
    with pytest.raises(InvalidArgument, match="one prompt per item"):
        V.check_many([fixed, fixed], "text", strict, prompts=[prompt])


def test_check_many_rejects_copies_like_check():
    spec = V.VerifySpec(description=D, examples=EX, registry=V.DedupRegistry())
    out = V.check_many([EX[0].encode(), b"My replacement card never came in the post", D.lower().encode()], "text", spec,
                       item_ids=["a", "b", "c"])
    assert [v.status for v in out] == ["rejected", "accepted", "rejected"]


def test_a_collection_task_does_not_pay_for_its_own_prompts():
    prompts = pd.Series({"arrival": "Your new card has not arrived.", "stolen": "Your card was stolen.",
                         "rate": "You were charged a bad exchange rate.", "topup": "Your top-up failed."})
    desc = "Write a realistic message a bank customer might send to support about the situation in the prompt."
    net = tg.Network.memory()
    owner = net.create_account("owner", fund=1_000 * tg.TAG)
    w = net.create_account("cheat", fund=10 * tg.TAG)
    task = net.publish_task(owner=owner, title="Customer messages", description=desc, kind="collection",
                            items=prompts, budget=40 * tg.TAG, reward_policy=tg.rewards.Flat(per_answer=10 * tg.TAG))
    for slot, text in [("arrival", prompts["arrival"]), ("stolen", prompts["rate"]), ("rate", prompts["rate"].upper()),
                       ("topup", desc)]:
        up = task.upload(w, text.encode(), item_id=slot)
        assert up.status == "rejected" and up.reasons == ("copies_task_text",), (slot, up)
    ok = task.upload(w, b"Hi, I ordered a new debit card two weeks ago and it still has not arrived. Can you check?",
                     item_id="arrival")
    assert ok.status == "accepted"
    assert dict(task.finalize(partial=True).payouts) == {"cheat": 10 * tg.TAG}


@pytest.mark.parametrize("own_examples", [False, True])
def test_a_copy_of_a_later_slots_prompt_is_rejected_too(own_examples):
    # Only the first 32 prompts are the spec's examples (none when verify= names its own):
    # a copy of prompt 35 into its slot was accepted and paid.
    prompts = [f"Case {i}: the customer's {what} after {i} days." for i, what in
               ((i, ["card never arrived", "transfer is still pending", "top-up failed"][i % 3]) for i in range(40))]
    desc = "Write a realistic message a bank customer might send to support about the situation in the prompt."
    net = tg.Network.memory()
    owner = net.create_account("owner", fund=1_000 * tg.TAG)
    w = net.create_account("cheat", fund=10 * tg.TAG)
    verify = {"examples": ["Where is my card? It should have arrived by now."]} if own_examples else None
    task = net.publish_task(owner=owner, title="Customer messages", description=desc, kind="collection",
                            items=prompts, budget=40 * tg.TAG, verify=verify,
                            reward_policy=tg.rewards.Flat(per_answer=tg.TAG))
    assert len(task.verify_spec.examples) <= 32
    up = task.upload(w, prompts[35].encode(), item_id=35)
    assert up.status == "rejected" and up.reasons == ("copies_task_text",), up
    assert "the slot's prompt" in V.check(prompts[35].encode(), "text", task.verify_spec, prompt=prompts[35],
                                          register=False).details["copies_task_text"]
    with pytest.raises(InvalidArgument, match="prompt must be a str"):
        V.check(b"text", "text", task.verify_spec, prompt=35)


# ----------------------------------------------------- 2. JSON numbers in content keys


def test_json_numbers_written_differently_are_the_same_content():
    spec = V.VerifySpec(task_id="t", registry=V.DedupRegistry())
    assert V.check(b'{"price": 10, "qty": 2}', "json", spec, item_id="i0").accepted
    for i, b in enumerate([b'{"price": 10.0, "qty": 2}', b'{"price": 1e1, "qty": 2.0}', b'{"qty":20e-1,"price":100E-1}']):
        assert V.check(b, "json", spec, item_id=f"i{i + 1}").reasons == ("duplicate_in_task",), b
    assert V.check(b'[-0.0, 1e22, 1.5]', "json", spec, item_id="z").accepted
    assert V.check(b'[0, 10000000000000000000000, 15e-1]', "json", spec, item_id="z2").reasons == ("duplicate_in_task",)
    # different numbers stay different content
    for i, b in enumerate([b'{"price": 10.5, "qty": 2}', b'{"price": 12345678901234567890, "qty": 2}',
                           b'{"price": 1.2345678901234567e19, "qty": 2}', b'{"price": "10", "qty": 2}']):
        assert V.check(b, "json", spec, item_id=f"d{i}").accepted, b


def test_canonical_json_keeps_the_old_key_of_integers_and_fractions():
    from tagger.verify._check import _canonical_json
    v = {"b": [1, -2, 0.5, 1e-07, 12345678901234567890, "x.0 e+ 10000000000000000"], "a": {"é": None, "t": True}}
    assert _canonical_json(v) == json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert _canonical_json([1e300, -1e300, 1e16, 123.0]) == "[1e300,-1e300,1e16,123]"
    deep = "[" * 500 + "1.0" + "]" * 500  # nesting needs no recursion
    assert _canonical_json(json.loads(deep)) == deep.replace("1.0", "1")


# ------------------------------------------------------------- 3. numpy uploads


@pytest.mark.parametrize("data", [np.int64(5), np.float64("nan"), np.bool_(True), np.array("My card has not arrived"),
                                  np.array([1.5, np.nan]), np.array([1, 2], dtype=np.uint16), np.array(7, dtype=np.uint8),
                                  np.array(["a"], dtype=object)])
def test_numpy_scalars_and_non_byte_arrays_are_refused(data):
    with pytest.raises(InvalidArgument, match="^data must be bytes-like"):
        V.check(data, "text")
    reg = V.DedupRegistry()
    with pytest.raises(InvalidArgument, match=r"^items\[1\] must be bytes-like"):
        V.check_many([b"My card has not arrived", data], "text", {"registry": reg})
    assert len(reg) == 0


def test_byte_buffers_still_work():
    text = b"My card has not arrived yet"
    for data in (bytearray(text), memoryview(text), np.frombuffer(text, np.uint8), np.frombuffer(text, np.uint8)[::1],
                 np.bytes_(text)):  # (numpy's bytes_, e.g. a cell of an "S" column, is a bytes subclass)
        assert V.check(data, "text").accepted
    assert V.check(np.frombuffer(b"xx" + text, np.uint8)[2:], "text").accepted


def test_check_many_refuses_a_dataframe_or_a_mapping():
    df = pd.DataFrame({"text": [b"My card is late"]})
    with pytest.raises(InvalidArgument, match=r"DataFrame.*df\['data'\]"):
        V.check_many(df, "text")
    assert V.check_many(df["text"], "text", register=False)[0].accepted
    with pytest.raises(InvalidArgument, match="mapping"):
        V.check_many({"i1": b"My card is late"}, "text")


# ------------------------------------------------------------------ 4. receipt ids


@pytest.fixture()
def signed():
    ver = V.Verifier(signing_key=tg.crypto.SigningKey.generate())
    return ver, ver.check(b"When will my card arrive?", "text", {"description": "card delivery questions"})


@pytest.mark.parametrize("kw, msg", [(dict(item_id=None), "item_id must be a str"), (dict(item_id=5), "item_id must be a str"),
                                     (dict(item_id="i1", task_id=None), "task_id must be a str"),
                                     (dict(item_id="i1", task_id=b"t1"), "32-byte task id"),
                                     (dict(item_id="cut emoji \ud83d"), "item_id holds a lone surrogate"),
                                     (dict(item_id="i1", task_id="t\udc80"), "task_id holds a lone surrogate")])
def test_receipt_ids_are_not_coerced(signed, kw, msg):
    ver, v = signed
    h = hashlib.sha256(b"ciphertext").digest()
    with pytest.raises(InvalidArgument, match=msg):
        ver.receipt(v, ciphertext_hash=h, **kw)
    with pytest.raises(InvalidArgument, match=msg):
        V.Receipt.create(v, signing_key=ver.signing_key, ciphertext_hash=h, **kw)


def test_receipt_takes_a_ledger_task_id_as_hex_and_str_ids(signed):
    ver, v = signed
    h, tid = hashlib.sha256(b"ciphertext").digest(), hashlib.sha256(b"task").digest()
    r = ver.receipt(v, np.str_("i1"), h, task_id=tid)
    assert (r.item_id, r.task_id) == ("i1", tid.hex()) and type(r.item_id) is str
    V.Receipt.decode(r.encode()).verify(ver.verify_key)
    assert ver.receipt(v, "i1", h, task_id=tid.hex()).signed_message() == r.signed_message()


def test_check_refuses_an_item_id_no_receipt_can_sign():
    with pytest.raises(InvalidArgument, match="item_id holds a lone surrogate"):
        V.check(b"When will my card arrive?", "text", item_id="a\ud83d")
    with pytest.raises(InvalidArgument, match=r"item_ids\[1\] holds a lone surrogate"):
        V.check_many([b"a b c", b"d e f"], "text", item_ids=["a", "b\ud83d"])


# ------------------------------------------------------------------- 5. spec fields


def test_text_scripts_are_checked_when_the_spec_is_built():
    assert V.VerifySpec(text_scripts=["latin", "CYRILLIC"]).text_scripts == ("Latin", "Cyrillic")
    with pytest.raises(InvalidArgument, match=r"text_scripts\[0\] 'Latn' is not a script name; did you mean 'Latin'"):
        V.VerifySpec(text_scripts=["Latn"])
    with pytest.raises(InvalidArgument, match="names no script"):
        V.VerifySpec(text_scripts=[])
    spec = V.VerifySpec(description=D, text_scripts=["latin"])
    assert [v.status for v in V.check_many([b"When will my card arrive?", "Где моя карта?".encode()], "text", spec,
                                           register=False)] == ["accepted", "rejected"]


def test_examples_dataframe_or_mapping_is_refused():
    df = pd.DataFrame({"text": EX})
    with pytest.raises(InvalidArgument, match=r"DataFrame.*df\['text'\]"):
        V.VerifySpec(examples=df)
    with pytest.raises(InvalidArgument, match="mapping"):
        V.VerifySpec(examples={"a": EX[0]})
    assert V.VerifySpec(examples=df["text"]).examples == tuple(EX)


def test_empty_cells_of_an_examples_column_are_dropped():
    col = pd.read_csv(io.StringIO("ex\nWhen will my card arrive?\n\nCard late\n"), skip_blank_lines=False)["ex"]
    assert V.VerifySpec(examples=col).examples == ("When will my card arrive?", "Card late")
    for cells in (["When will my card arrive?", None, "Card late"], ["When will my card arrive?", np.nan, pd.NA, "Card late"]):
        spec = V.VerifySpec(examples=pd.Series(cells, dtype=object))
        assert spec.examples == ("When will my card arrive?", "Card late") and all(type(e) is str for e in spec.examples)
    with pytest.raises(InvalidArgument, match=r"example 1 is float \(2\.5\)"):
        V.VerifySpec(examples=["When will my card arrive?", 2.5])


@pytest.mark.parametrize("disguise", [lambda t: t.replace(" ", "\u2800"), lambda t: t.replace(" ", "\u3164"),
                                      lambda t: t.replace(" ", "\u200b"), lambda t: t.replace(" ", "-"),
                                      lambda t: t.replace(" ", ", ")])
def test_copies_whose_spaces_were_replaced_are_copies(disguise) -> None:
    """Blank or invisible characters in place of the spaces (the text reads the same) merged the
    words: every 5-gram across a word boundary changed, and the copy of an example, of the
    description, or of another worker's upload was accepted and paid."""
    reg = V.DedupRegistry()
    spec = V.VerifySpec(task_id="t1", description=D, examples=EX, registry=reg)
    assert V.check(disguise(EX[1]).encode(), "text", spec, register=False).reasons == ("copies_task_text",)
    other = "I ordered a replacement card three weeks ago and it still has not shown up"
    assert V.check(other.encode(), "text", spec, item_id="a").accepted
    assert "near_duplicate" in V.check(disguise(other).encode(), "text", spec, item_id="b").reasons


def test_upper_case_copies_of_non_latin_text_are_copies() -> None:
    """Only A-Z were lowered: an upper-case copy of a Russian example scored relevance 1.0 and was
    accepted."""
    ru = ["Когда придёт моя новая карта?", "Почему мой перевод ещё не дошёл до получателя?"]
    with pytest.warns(UserWarning, match="mostly in a script other than Latin: the 'auto' relevance threshold"):
        spec = V.VerifySpec(description="Вопросы клиентов банка о картах и переводах", examples=ru,
                            text_scripts=("Cyrillic",), registry=V.DedupRegistry())
    V.VerifySpec(description="Вопросы клиентов банка", examples=ru, relevance_threshold=0.3,
                 text_scripts=("Cyrillic",))  # (set: no warning)
    # With the default text_scripts (Latin) every Russian upload is script_mismatch: the warning
    # said such uploads "mostly pass"
    with pytest.warns(UserWarning, match=r"mostly in Cyrillic script, which text_scripts=\('Latin',\) does not "
                                         r"allow.*set text_scripts=\('Cyrillic',\)"):
        latin_only = V.VerifySpec(description="Вопросы клиентов банка", examples=ru, relevance_threshold=0.3)
    assert V.check("Где моя карта?".encode(), "text", latin_only, register=False).reasons == ("script_mismatch",)
    assert V.check(ru[1].upper().encode(), "text", spec, register=False).reasons == ("copies_task_text",)


def test_fillers_only_never_lose_a_batch() -> None:
    """An upload and a task text that both reduce to no 5-gram (Hangul fillers) divided by zero:
    ZeroDivisionError lost every verdict of the check_many batch."""
    spec = V.VerifySpec(description=D, examples=EX + ["\u3164"], relevance_threshold=None)
    out = V.check_many([b"When is my card coming?", "\u3164".encode()], "text", spec, prompts=["", "\u3164"])
    assert len(out) == 2 and out[0].accepted


@pytest.mark.parametrize("text", ["I tried to get $100 but I just got $20", "I was charged 45.99 twice on 12/03.",
                                  "my reading is 13452"])
def test_numbers_do_not_make_an_honest_text_gibberish(text: str) -> None:
    """The tokenizer's model finds digits unlikely: 3.1 % of the Banking77 questions with a number
    were rejected as gibberish (0.2 % of the others)."""
    spec = V.VerifySpec(description="Questions a bank customer asks about card payments", relevance_threshold=None)
    assert "gibberish" not in V.check(text.encode(), "text", spec, register=False).reasons


@pytest.mark.parametrize("text", ["xq7 zzk 9981 qpl 7781 vvz", "card 1234 5678 9012 3456 7890 1234 5678",
                                  "qzx vbnm 42 kjhgf wrtp 17 zzxq plmk"])
def test_numbers_do_not_hide_gibberish(text: str) -> None:
    spec = V.VerifySpec(description="Questions a bank customer asks about card payments", relevance_threshold=None)
    assert "gibberish" in V.check(text.encode(), "text", spec, register=False).reasons


# ------------------------------------------------ cut, joined or wrapped task texts


LONG_EX = ["I ordered a new card two weeks ago and it still has not arrived",
           "How long does it take for a transfer from abroad to reach my account?"]


@pytest.mark.parametrize("copy, what", [
    ("I ordered a new card two weeks ago and it", "a part of the task's example 0"),
    ("How long does it take for a transfer from abroad", "a part of the task's example 1"),
    ("Hi there! " + LONG_EX[0] + ". Thanks a lot", "the task's example 0 ("),
    (LONG_EX[1] + " " + LONG_EX[0], "the task's example"),
])
def test_a_task_text_cut_joined_or_wrapped_is_held_for_review(copy, what):
    spec = V.VerifySpec(task_id="t1", description=D, examples=LONG_EX, registry=V.DedupRegistry())
    v = V.check(copy.encode(), "text", spec, item_id="a")
    assert v.status == "needs_review" and v.reasons == ("contains_task_text",), v.details
    assert v.details["contains_task_text"].startswith(what) and v.scores["task_text_contained"] >= 0.5
    # a task whose uploads stay close to their prompts turns it off like copies_task_text
    quiet = spec.replace(severity={"copies_task_text": "ignore", "contains_task_text": "ignore"},
                         registry=V.DedupRegistry())
    assert V.check(copy.encode(), "text", quiet, item_id="a").accepted


def test_an_example_with_words_of_ones_own_or_a_short_part_of_it_is_accepted():
    spec = V.VerifySpec(task_id="t1", description=D, examples=LONG_EX)
    for text in ["I ordered a new card two weeks ago and it still has not arrived, I need it for my trip to Spain "
                 "next Monday and cannot pay the hotel",
                 "Two weeks ago? Mine has not arrived either",  # fewer than 12 of an example's 5-grams
                 "How long does a card take to reach me?"]:
        v = V.check(text.encode(), "text", spec)
        assert v.accepted, (text, v.details)


def _bank_collection(net, items=2):
    owner = net.create_account("owner", fund=1_000 * tg.TAG)
    ws = net.create_accounts(["w0", "w1"], fund=10 * tg.TAG)
    task = net.publish_task(owner=owner, title="Collect customer questions", kind="collection", items=items,
                            description="Write short questions a bank customer would ask about cards and transfers.",
                            budget=items * 10 * tg.TAG, reward_policy=tg.rewards.Flat())
    return owner, ws, task


def test_the_bytes_checked_are_the_bytes_sealed_and_paid():
    # Task.upload copied the data once for the check and again for the seal: a buffer that
    # changed in between (here a bytearray whose __bytes__ answers differently each time) was
    # checked as a new question and sealed and paid as an exact copy of another upload.
    net = tg.Network.memory()
    owner, (w0, w1), task = _bank_collection(net)
    first = b"How do I activate my new debit card?"
    assert task.upload(w0, first).accepted

    class Flip(bytearray):
        calls = 0

        def __bytes__(self):
            Flip.calls += 1
            return b"Why was my transfer declined yesterday?" if Flip.calls == 1 else first

    up = task.upload(w1, Flip(first))
    assert up.status == "rejected" and "duplicate_in_task" in up.reasons  # its own bytes: a copy


def test_upload_reads_data_as_check_does():
    net = tg.Network.memory()
    owner, (w0, _), task = _bank_collection(net)
    height = net.height
    with pytest.raises(InvalidArgument, match="must be bytes-like .* encode text as UTF-8"):
        task.upload(w0, memoryview(np.array(["How do I activate my card?"])))  # its UTF-32 memory
    assert net.height == height  # refused before anything is receipted
    text = b"How do I activate my new debit card?"
    assert task.upload(w0, np.frombuffer(text, dtype=np.uint8)).accepted  # a uint8 array, as check takes


@pytest.mark.parametrize("copy", ["Why was my card transfer declined yesterday at the cafe? ",
                                  "Why was my card transfer declined yesterday at the cafe?\\r\\n",
                                  "Why was my card transfer declined yesterday at the cafx?",
                                  "yesterday at the cafe why was my card transfer declined?"])
def test_near_copies_of_an_earlier_sessions_text_are_caught_after_a_reopen(tmp_path, copy):
    # Text sketches lived in memory only: after a reopen a copy with a trailing space, CRLF, a
    # letter changed or its words reordered was accepted and paid. They are rebuilt from the
    # sealed uploads when the task owner's key is in the wallet.
    copy = copy.replace("\\r\\n", "\r\n")
    with tg.Network.open(tmp_path / "m") as net:
        owner, (w0, w1), task = _bank_collection(net)
        assert task.upload(w0, b"Why was my card transfer declined yesterday at the cafe?").accepted
        tid = task.id
    with tg.Network.open(tmp_path / "m") as net:
        up = net.task(tid).upload("w1", copy.encode())
        assert up.status == "needs_review" and up.reasons == ("near_duplicate",), up
        assert net.task(tid).upload("w1", b"Can I change the PIN of my card online?").accepted
