"""tg.verify off the happy path: the same upload from several threads at once, items that
used to raise out of check_many (and cost the batch), Excel's BOM, big cells, phone JPEGs,
text that starts like a file magic, and near-duplicates padded with invisible characters."""

from __future__ import annotations

import io
import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import tagger as tg

V = tg.verify
CARD = "I ordered a new card two weeks ago and it still has not arrived, can you tell me where it is?"


@pytest.mark.parametrize("kind, data", [
    ("json", json.dumps([{"label": i} for i in range(20000)]).encode()),
    ("csv", ("id,label\n" + "".join(f"{i},{i % 3}\n" for i in range(20000))).encode()),
    ("text", CARD.encode()),
])
def test_the_same_upload_from_eight_threads_is_accepted_once(kind, data) -> None:
    spec = V.VerifySpec(task_id="t", registry=V.DedupRegistry(), description="card delivery questions")
    barrier = threading.Barrier(8)

    def upload(i: int):
        barrier.wait()
        return V.check(data, kind, spec, item_id=f"i{i}")

    for _ in range(3):
        spec.registry = V.DedupRegistry()
        with ThreadPoolExecutor(8) as pool:
            verdicts = list(pool.map(upload, range(8)))
        assert Counter(v.reasons for v in verdicts)[("duplicate_in_task",)] == 7, [v.reasons for v in verdicts]
        assert len(spec.registry) == 1


def test_a_rejected_or_looked_at_upload_leaves_no_claim() -> None:
    reg = V.DedupRegistry()
    spec = V.VerifySpec(task_id="t", registry=reg, text_min_chars=1000)
    assert V.check(CARD.encode(), "text", spec).status == "rejected"  # too short: not recorded
    assert V.check(CARD.encode(), "text", spec.replace(text_min_chars=1), register=False).status == "accepted"
    assert V.check(CARD.encode(), "text", spec.replace(text_min_chars=1)).status == "accepted"  # still the first
    assert len(reg) == 1

    def boom(item):
        raise KeyboardInterrupt  # not an Exception: escapes the check, and must release the hash

    with pytest.raises(KeyboardInterrupt):
        V.check(b"another upload about my card", "text", spec.replace(text_min_chars=1, checks=[boom]))
    assert V.check(b"another upload about my card", "text", spec.replace(text_min_chars=1)).status == "accepted"


def test_odd_items_fail_alone_in_a_batch() -> None:
    spec = V.VerifySpec(registry=V.DedupRegistry(), schema={"score": "float"})
    huge = b'{"score": 1' + b"0" * 400 + b"}"  # an int beyond float range
    out = V.check_many([b'{"score": 1.5}', huge, b'{"score": -1' + b"0" * 400 + b"}", b'{"score": 2}'], "json", spec)
    assert [v.reasons for v in out] == [(), ("schema_type_mismatch",), ("schema_type_mismatch",), ()]
    # Nested deeper than 512: refused before parsing, so neither a RecursionError out of check
    # nor, under a recursion limit raised by other code, a C stack overflow that kills the process.
    deep = b'id,l\n1,"' + b"[" * 50000 + b"]" * 50000 + b'"\n'
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200_000)
    try:
        assert V.check(deep, "csv", {"schema": {"id": "int", "l": "list"}}).reasons == ("schema_type_mismatch",)
        assert V.check(b"[" * 100_000 + b"]" * 100_000, "json").reasons == ("json_invalid",)
    finally:
        sys.setrecursionlimit(limit)
    assert V.check(b"[" * 500 + b"]" * 500, "json").reasons == ()  # deep, but within the bound


@pytest.mark.parametrize("result, detail", [
    (("n/a", "bad"), "could not convert"),
    (V.CheckResult("n", 0.1, "r", "bogus"), "bad severity 'bogus'"),
    (V.CheckResult("n", 0.1, "BAD CODE!"), "bad reason 'BAD CODE!'"),
    (V.CheckResult("n", "high", "r"), "not a number"),
])
def test_an_unusable_check_result_is_a_custom_check_error(result, detail) -> None:
    out = V.check_many([b"my card is lost", b"where is my card"], "text", V.VerifySpec(checks=[lambda item: result]))
    for v in out:
        assert v.reasons == ("custom_check_error",) and detail in v.details["custom_check_error"]
        v.receipt("i", b"\0" * 32, tg.crypto.SigningKey.generate())  # signable: the code is valid


def test_excel_bom_and_big_cells() -> None:
    assert V.check(b"\xef\xbb\xbfid,name\n1,a\n", "csv", {"schema": {"id": "int"}}).reasons == ()
    assert V.check(b'\xef\xbb\xbf{"id": 1}', "json", {"schema": {"id": "int"}}).reasons == ()
    big = b"id,note\n1," + b"a" * 200_000 + b"\n"  # over the csv module's 131,072 default
    assert V.check(big, "csv", {"schema": {"id": "int", "note": "str"}}).reasons == ()


def test_text_that_starts_like_a_file_magic_is_text() -> None:
    for text in (b"ID3 tags are used in MP3 files to store metadata", b"GIF89a is the animated GIF version",
                 b"OggS pages carry Vorbis audio", b"fLaC is the FLAC stream marker", b"%PDF-1.7 is the version of the portable document format standard"):
        assert V.check(text, "text").reasons == (), text
    assert V.check(b"ID3\x03\x00\x00\x00\x00\x0f\x76", "text").reasons == ("wrong_type",)  # a real MP3 header
    assert V.check(b"GIF89a\x01\x00\x01\x00\x80\x00\x00", "text").reasons == ("wrong_type",)


def test_a_phone_jpeg_with_multi_picture_data_is_a_jpeg() -> None:
    Image = pytest.importorskip("PIL.Image", reason="Pillow not installed (pip install 'tagger[verify]')")
    im = Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype("uint8"))
    buf = io.BytesIO()
    im.save(buf, "MPO", save_all=True, append_images=[im])
    assert V.check(buf.getvalue(), "image").reasons == ()


@pytest.mark.parametrize("disguise", [
    lambda t: t.replace(" ", " \u200b"),                                                       # zero-width spaces
    lambda t: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in t),              # fullwidth letters
    lambda t: t.replace("a", "a\u00ad"),                                                       # soft hyphens
    lambda t: "\u034f".join(t),                                                                # combining grapheme joiner
    lambda t: t.replace("e", "e\ufe0f").replace("o", "o\ufe00"),                               # variation selectors
    lambda t: t.replace(" ", " \u2800"),                                                       # blank braille pattern
    lambda t: t.replace("i", "i\u0336\u0335"),                                                 # combining strokes (zalgo)
])
def test_invisible_characters_do_not_hide_a_near_duplicate(disguise) -> None:
    spec = V.VerifySpec(task_id="t", registry=V.DedupRegistry())
    assert V.check(CARD.encode(), "text", spec).reasons == ()
    assert "near_duplicate" in V.check(disguise(CARD).encode(), "text", spec).reasons


def test_a_wav_whose_riff_size_is_too_small_says_so() -> None:
    import struct
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.sin(np.arange(16000) / 5) * 8000).astype("<i2").tobytes())
    data = bytearray(buf.getvalue())
    data[4:8] = struct.pack("<I", 1000)
    v = V.check(bytes(data), "audio")
    assert v.reasons == ("audio_truncated",) and "RIFF header says the file ends" in v.details["audio_truncated"]


def test_relevance_scores_show_their_parts_and_the_threshold() -> None:
    v = V.check(b"What is the capital of Australia?", "text",
                {"description": "questions a bank customer asks about card delivery"})
    sc = v.scores
    assert {"relevance", "relevance_sparse", "relevance_dense", "relevance_threshold"} <= set(sc)
    assert sc["relevance"] == pytest.approx(0.5 * sc["relevance_sparse"] + 0.5 * sc["relevance_dense"], abs=1e-6)


def _blp_bad_encoding() -> bytes:
    import struct

    from PIL import Image
    b = io.BytesIO()
    Image.new("P", (32, 32)).save(b, "BLP")
    d = bytearray(b.getvalue())
    d[4:8] = struct.pack("<i", 7)  # an encoding the plugin does not know: BLPFormatError
    return bytes(d)


def _dds_unsupported() -> bytes:
    import struct
    return (struct.pack("<4sIIIIIII", b"DDS ", 124, 0x1007, 64, 64, 0, 0, 0) + b"\0" * 44
            + struct.pack("<II4sIIIII", 32, 0x400000, b"\0" * 4, 0, 0, 0, 0, 0) + b"\0" * 4116)  # NotImplementedError


def _progressive_jpeg(repeat_last_scan: int) -> bytes:
    from PIL import Image
    b = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)).save(b, "JPEG", progressive=True)
    d = b.getvalue()
    last = d.rfind(b"\xff\xda")
    scan = d[last:-2]  # the last SOS segment and its entropy data, up to EOI
    return d[:-2] + scan * repeat_last_scan + d[-2:]


@pytest.mark.parametrize("make", [_blp_bad_encoding, _dds_unsupported])
def test_hostile_image_headers_are_a_verdict_not_an_exception(make):
    """Pillow's rarer plugins raised BLPFormatError / NotImplementedError out of check,
    check_many (losing the batch) and Task.upload (no receipt)."""
    pytest.importorskip("PIL", reason="Pillow not installed (pip install 'tagger[image]')")
    v = tg.verify.check(make(), "image")
    assert v.status == "rejected" and v.reasons[0] in ("image_corrupt", "image_format")
    good = [_progressive_jpeg(0)] * 1
    out = tg.verify.check_many(good + [make()] + good, "image")
    assert [x.status for x in out] == ["accepted", "rejected", "accepted"]


def test_a_disallowed_format_is_refused_from_its_header():
    """A format the task refuses was decoded in full before the verdict (431 MB for a large TGA)."""
    from PIL import Image
    b = io.BytesIO()
    Image.fromarray((np.random.default_rng(1).random((40, 40)) * 255).astype(np.uint8)).save(b, "GIF")
    v = tg.verify.check(b.getvalue(), "image", tg.verify.VerifySpec(image_formats=["PNG"]))
    assert v.reasons == ("image_format",) and "format GIF not in ['PNG']" in v.details["image_format"]


def test_a_jpeg_repeating_its_scans_is_refused_before_decoding():
    """Each scan is decoded in full: a 0.7 MB JPEG repeating one scan 2000 times took 70 s."""
    pytest.importorskip("PIL", reason="Pillow not installed (pip install 'tagger[image]')")
    assert tg.verify.check(_progressive_jpeg(0), "image").status == "accepted"
    v = tg.verify.check(_progressive_jpeg(150), "image")
    assert v.reasons == ("image_corrupt",) and "scans" in v.details["image_corrupt"]


_GIB = "mynbiqpmz jplsgqeje dtzirwzte dxcvk rdlnkt grpoqibz acxmwzv ejqzhx wqpkfmv zxqj"


@pytest.mark.parametrize("pad", [
    lambda t: "\u200b\u200b\u200b".join(t),      # zero-width spaces between letters
    lambda t: t + "\U0001F600" * 500,            # an emoji tail
    lambda t: t + "\u2800" * 1000,               # blank braille
    lambda t: t + "." * 2000,                    # dots
    lambda t: "\u034f".join(t),                  # combining grapheme joiners
])
def test_padding_does_not_dilute_gibberish_into_acceptance(pad):
    """Cheap padding pieces lifted random letters' per-character likelihood from -6 to -0.6..-3.3
    nats: accepted. The words alone are judged when padding is most of the text."""
    spec = V.VerifySpec()
    assert "gibberish" in V.check(_GIB.encode(), "text", spec).reasons
    assert "gibberish" in V.check(pad(_GIB).encode(), "text", spec).reasons


def test_real_messages_with_emoji_are_still_accepted():
    spec = V.VerifySpec()
    for t in ["Thanks so much!!! 😀😀😀 You guys are the best 🎉🎉🎉🎉",
              "My card has not arrived yet, can you check? " + "🙏" * 40]:
        assert V.check(t.encode(), "text", spec).accepted, t


@pytest.mark.parametrize("doc, detail", [
    ('{"name": "a", "age": "x", "age": 1}', "duplicate key 'age'"),       # readers disagree on which value wins
    ("[1e999]", "out of the range of a double"),                           # parsed to inf
    ("[" + "1" * 5000 + "]", "an integer of 5000 digits"),                 # Python's digit limit, named
])
def test_json_that_readers_disagree_on_is_invalid(doc, detail):
    v = V.check(doc.encode(), "json")
    assert v.reasons == ("json_invalid",) and detail in v.details["json_invalid"]


def test_brackets_inside_json_strings_are_not_nesting():
    """{"name": "[[[...["} (600 brackets in a string) was refused as nested deeper than 512 levels."""
    assert V.check(('{"name": "' + "[" * 600 + '"}').encode(), "json").accepted
    assert "nested deeper" in V.check(("[" * 600 + "]" * 600).encode(), "json").details["json_invalid"]


def test_csv_numbers_and_control_bytes():
    """int()/float() took "1_000" and "١٢" as numbers; a CSV of control bytes was accepted."""
    spec = V.VerifySpec(schema={"n": "int", "x": "float"})
    for table in ("n,x\n1_000,1.5\n", "n,x\n\u0661\u0662,1.5\n", "n,x\n12,1_0.5\n"):
        assert V.check(table.encode(), "csv", spec).reasons == ("schema_type_mismatch",), table
    for table in ("n,x\n 12 ,1.5\n", "n,x\n-3,-.5e3\n"):
        assert V.check(table.encode(), "csv", spec).accepted, table
    assert V.check(b"\x01\x02\x03\n\x04\x05\x06\n", "csv").reasons == ("control_characters",)


def _float_wav(x: np.ndarray, rate: int = 16000) -> bytes:
    import struct
    data = x.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)  # IEEE float, mono
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_float_audio_with_nan_or_infinite_samples_is_corrupt():
    """NaN/Inf samples were counted as clipped: 0.5 % NaN passed as a usable recording."""
    x = 0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    assert V.check(_float_wav(x), "audio").accepted
    for bad in (np.nan, np.inf):
        y = x.copy()
        y[::200] = bad
        v = V.check(_float_wav(y), "audio")
        assert v.reasons == ("audio_corrupt",) and "80 float sample(s) are NaN or infinite" in v.details["audio_corrupt"]


def test_a_bad_json_lines_record_is_named_by_its_line():
    """A 1,001-line JSON Lines upload with its last line bad said "Extra data: line 2 column 1"."""
    doc = "\n".join(['{"a": %d}' % i for i in range(1000)] + ['{"a": oops}'])
    v = V.check(doc.encode(), "json")
    assert v.details["json_invalid"].startswith("line 1001: Expecting value")


def test_16_bit_grey_images_are_scaled_not_clipped():
    """convert("L") clipped 16-bit grey at 255: a 500..4000 depth map was blank (stddev 0), a full
    range gradient's stddev fell from 74 to 16."""
    from PIL import Image
    for lo, hi, at_least in ((500, 4000, 3.0), (0, 65535, 70.0)):
        b = io.BytesIO()
        Image.fromarray(np.linspace(lo, hi, 64 * 64).reshape(64, 64).astype(np.uint16)).save(b, "PNG")
        v = V.check(b.getvalue(), "image")
        assert v.accepted and v.scores["stddev"] > at_least, (lo, hi, v)


def test_a_fully_transparent_image_is_blank():
    """convert("L") dropped alpha: transparent noise (an empty picture) was accepted as detailed."""
    from PIL import Image
    rgb = (np.random.default_rng(3).random((64, 64, 3)) * 255).astype(np.uint8)
    for alpha, blank in ((0, True), (255, False)):
        b = io.BytesIO()
        Image.fromarray(np.dstack([rgb, np.full((64, 64), alpha, np.uint8)]), mode="RGBA").save(b, "PNG")
        assert ("image_blank" in V.check(b.getvalue(), "image").reasons) == blank, alpha


def _sine_wav() -> bytes:
    return _float_wav(0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000))


def test_a_reformatted_copy_is_a_duplicate():
    """Only the bytes were compared: JSON re-spaced, a CSV with CRLF lines or quoted cells, a WAV
    with bytes after its data were new uploads, paid again."""
    reg = V.DedupRegistry()
    spec = V.VerifySpec(task_id="t", registry=reg)
    for kind, first, copy in [("json", b'{"a": 1, "b": [1, 2]}', b'{"b":[1,2],"a":1}\n'),
                              ("csv", b"a,b\n1,2\n3,4\n", b'a,b\r\n1,"2"\r\n3,4\r\n'),
                              ("audio", _sine_wav(), _sine_wav() + b"\0\0")]:
        assert V.check(first, kind, spec).accepted, kind
        v = V.check(copy, kind, spec)
        assert v.reasons == ("duplicate_in_task",) and "(reformatted)" in v.details["duplicate_in_task"], kind
        assert V.check(copy, kind, V.VerifySpec(task_id="u", registry=reg)).reasons == ("duplicate_in_network",)
    other = V.check(b'{"a": 2, "b": [1, 2]}', "json", spec)  # other content stays new
    assert other.accepted


def test_near_copies_checked_at_the_same_moment_are_flagged_once_recorded():
    """Near duplicates checked at the very same moment each missed the others (each looked
    before any was recorded): all were accepted. The lookup at recording time catches them."""
    base = ("My replacement card was supposed to arrive last week but it still has not come, "
            "could you please check the delivery status for me?")
    copies = [(base + "!" * (i + 1)).encode() for i in range(8)]
    import time

    def slow(item) -> float:  # a user check: it runs after the near-duplicate lookup, before recording
        time.sleep(0.05)
        return 1.0

    for _ in range(3):
        spec = V.VerifySpec(task_id="t", registry=V.DedupRegistry(), checks=[slow])
        barrier = threading.Barrier(len(copies))

        def one(data: bytes) -> tuple[str, ...]:
            barrier.wait()
            return V.check(data, "text", spec).reasons

        with ThreadPoolExecutor(len(copies)) as ex:
            reasons = list(ex.map(one, copies))
        assert sum("near_duplicate" not in r for r in reasons) == 1, reasons


def test_registry_forget_undoes_only_its_own_upload():
    """add() recorded a content key another upload already named, and forget() then removed it;
    forgetting a content key directly broke len()."""
    import hashlib
    a, b, c = (hashlib.sha256(x).digest() for x in (b"a", b"b", b"c"))
    reg = V.DedupRegistry()
    reg.add(a, "t", "a", content=c)
    reg.add(b, "t", "b", content=c)
    reg.forget(b)
    assert reg.find_exact(c) == ("t", "a") and len(reg) == 1
    reg.forget(c)  # a content key is not an upload: nothing to undo
    assert reg.find_exact(c) == ("t", "a") and len(reg) == 1
    reg.forget(a)
    assert reg.find_exact(c) is None and len(reg) == 0


def test_csv_content_keys_do_not_confuse_separator_characters():
    """Cells were joined with \\x1f and rows with \\x1e unescaped: two different tables made one key."""
    rest = "".join(f"row{i},value{i}\r\n" for i in range(50)).encode()
    first = b'a,b\r\n"x\x1ey",z\r\n' + rest
    second = b'a,"b\x1ex"\r\ny,z\r\n' + rest
    spec = V.VerifySpec(task_id="t", registry=V.DedupRegistry())
    assert V.check(first, "csv", spec).accepted
    assert V.check(second, "csv", spec).accepted


def test_a_late_near_copy_made_rejected_leaves_nothing_registered():
    """With severity near_duplicate=rejected, a near copy found only when recording was rejected
    but stayed in the registry: a later exact copy pointed at an upload that was refused."""
    import time

    def slow(item) -> float:
        time.sleep(0.05)
        return 1.0

    base = ("My replacement card was supposed to arrive last week but it still has not come, "
            "could you please check the delivery status for me?")
    reg = V.DedupRegistry()
    spec = V.VerifySpec(task_id="t", registry=reg, checks=[slow], severity={"near_duplicate": "rejected"})
    copies = [(base + "!").encode(), (base + "!!").encode()]
    barrier = threading.Barrier(2)

    def one(data: bytes) -> str:
        barrier.wait()
        return V.check(data, "text", spec).status

    with ThreadPoolExecutor(2) as ex:
        statuses = list(ex.map(one, copies))
    assert sorted(statuses) == ["accepted", "rejected"] and len(reg) == 1


def test_the_json_depth_check_is_linear_on_unclosed_strings():
    """An unclosed string full of \\" was rescanned from each quote to the end: 40 KB took 3.5 s."""
    import time
    doc = ('"' + '\\"' * 200_000 + "[" * 600).encode()  # 400 KB
    t0 = time.perf_counter()
    assert V.check(doc, "json").reasons == ("json_invalid",)
    assert time.perf_counter() - t0 < 5.0


def test_a_csv_copy_respaced_with_its_columns_or_rows_reordered_is_a_duplicate():
    """Only line endings and quoting were canonical: a space after each comma, the columns
    swapped or the rows shuffled made a new table that was paid again."""
    spec = V.VerifySpec(task_id="t", registry=V.DedupRegistry())
    assert V.check(b"name,age\nAnn,30\nBob,41\n", "csv", spec).accepted
    for copy in (b"name, age\nAnn, 30\nBob, 41\n", b"age,name\n30,Ann\n41,Bob\n", b"name,age\nBob,41\nAnn,30\n"):
        v = V.check(copy, "csv", spec)
        assert v.reasons == ("duplicate_in_task",) and "(reformatted)" in v.details["duplicate_in_task"], copy
    assert V.check(b"name,age\nAnn,31\nBob,41\n", "csv", spec).accepted  # another cell: another table
    assert V.check(b"name,years\nAnn,30\nBob,41\n", "csv", spec).accepted  # another column name


def test_an_interrupted_check_many_takes_back_what_it_registered():
    """Ctrl-C part way through a batch left the items before it registered: re-running the
    batch rejected them as duplicates of themselves."""
    reg = V.DedupRegistry()

    def stop(item) -> None:
        if b"transfer" in item.data:
            raise KeyboardInterrupt

    items = [b"How do I activate my new debit card?", b"Why was my transfer declined yesterday?"]
    with pytest.raises(KeyboardInterrupt):
        V.check_many(items, "text", V.VerifySpec(task_id="t", registry=reg, checks=[stop]), item_ids=["a", "b"])
    assert len(reg) == 0
    again = V.check_many(items, "text", V.VerifySpec(task_id="t", registry=reg), item_ids=["a", "b"])
    assert [v.status for v in again] == ["accepted", "accepted"] and len(reg) == 2


def test_a_text_already_too_long_is_not_scanned_for_copies():
    """Refused as text_too_long, it was still normalised and shingled whole for the copy rules
    (20 MB: 6 s and 1 GB); now it is neither looked up nor recorded as a text."""
    import time

    spec = V.VerifySpec(task_id="t", registry=V.DedupRegistry(), text_max_chars=1_000,
                        severity={"text_too_long": "needs_review"})
    big = ("word " * 400_000).encode()
    t0 = time.perf_counter()
    v = V.check(big, "text", spec)
    assert v.reasons == ("text_too_long",) and time.perf_counter() - t0 < 1.0
    assert spec.registry.find_copies("word " * 10) == []  # recorded by its hash only


def test_a_check_result_accepted_with_a_reason_or_a_huge_score_does_not_break_the_receipt():
    """severity="accepted" made an accepted verdict that listed the reason, which no receipt
    takes (every Task.upload raised after sealing); a score of 10**400 overflowed Receipt.create."""
    signer = V.Verifier(signing_key=tg.crypto.SigningKey.generate(), text_model=False)
    text = b"How do I activate my new debit card?"
    soft = V.Check(lambda item: V.CheckResult("soft", 0.3, "custom:soft", "accepted"), "soft")
    huge = V.Check(lambda item: V.CheckResult("huge", 10 ** 400), "huge")
    v = signer.check(text, "text", V.VerifySpec(checks=[soft]))
    assert v.status == "accepted" and v.reasons == ()
    signer.receipt(v, "i1", bytes(32))
    v = signer.check(text, "text", V.VerifySpec(checks=[huge]))
    assert v.reasons == ("custom_check_error",)
    signer.receipt(v, "i1", bytes(32))


def test_json_lines_split_on_newlines_only():
    """splitlines() also cut at U+2028, U+2029 and U+0085, which a JSON string may hold raw."""
    for sep in ("\u2028", "\u2029", "\x85"):
        data = ('{"a": "x' + sep + 'y"}\n{"a": "z"}\n').encode()
        assert V.check(data, "json").accepted, repr(sep)


def test_clipping_at_the_top_of_8_bit_audio_is_counted():
    """8-bit PCM's top code 255 reads as 127/128 < 0.999: clipping there went unseen (the bottom,
    0 = -1.0, counted)."""
    import struct

    def wav8(x: np.ndarray) -> bytes:
        fmt = struct.pack("<HHIIHH", 1, 1, 16000, 16000, 1, 8)
        body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(x)) + x.tobytes()
        return b"RIFF" + struct.pack("<I", len(body)) + body

    s = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    for centre in (168, 88):  # clipped at 255, at 0
        v = V.check(wav8(np.clip(np.rint(centre + 127 * s), 0, 255).astype(np.uint8)), "audio")
        assert "audio_clipped" in v.reasons and v.scores["clipping_ratio"] > 0.25, centre


@pytest.mark.parametrize("options, message", [
    ({"image_formats": ["JPG"]}, "which Pillow calls 'JPEG'"), ({"image_formats": []}, "image_formats is empty"),
    ({"image_max_size": (10, 10)}, "need image_min_size <= image_max_size"),
    ({"audio_sample_rates": []}, "audio_sample_rates is empty"), ({"csv_delimiter": "\x00"}, "control character"),
    ({"severity": {"EMPTY": "ignore"}}, "did you mean 'empty'"), ({"severity": {"Off Topic": "ignore"}}, "'off_topic'")])
def test_spec_options_that_would_refuse_every_upload_are_refused(options, message):
    with pytest.raises(tg.errors.InvalidArgument, match=message):
        V.VerifySpec(**options)


def test_large_images_are_greyed_in_strips():
    """_gray8 took ~30 bytes a pixel in float64 copies (a 0.4 MB 10000 x 10000 RGBA PNG peaked
    at 3.6 GB); a float image in [0, 1], or with one +inf pixel, read as black (image_blank)."""
    Image = pytest.importorskip("PIL.Image")
    from tagger.verify._check import _gray8

    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (600, 300, 4), dtype=np.uint8)
    img = Image.fromarray(rgba, mode="RGBA")
    alpha = rgba[..., 3].astype(np.float64) / 255.0
    grey = np.asarray(img.convert("L"), dtype=np.float64)
    whole = np.rint(grey * alpha + 128.0 * (1.0 - alpha)).astype(np.uint8)  # the old formula, at once
    assert np.array_equal(np.asarray(_gray8(img, Image)), whole)
    noise = rng.random((64, 64)).astype(np.float32)
    for f in (noise, np.where(np.arange(64 * 64).reshape(64, 64) == 5, np.inf, noise * 1000).astype(np.float32)):
        buf = io.BytesIO()
        Image.fromarray(f, mode="F").save(buf, format="TIFF")
        v = V.check(buf.getvalue(), "image")
        assert "image_blank" not in v.reasons, v


@pytest.mark.parametrize("data", [b"[]", b"{}", b"null", b'""', b" [ ] \n"])
def test_an_empty_json_value_is_table_empty_without_a_schema_too(data):
    """Without a schema, [], {}, null and "" were accepted and paid; a CSV of a header alone is
    table_empty."""
    assert V.check(data, "json").reasons == ("table_empty",)
    assert V.check(b'{"a": 1}', "json").accepted and V.check(b"0", "json").accepted
