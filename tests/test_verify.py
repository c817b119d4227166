"""tg.verify: every reason code from a crafted input, bad input never raises,
near-duplicate recall against exact Jaccard, perceptual hashes against a numpy
reference, receipts."""

from __future__ import annotations

import csv
import io
import json
import random
import struct
import wave

import numpy as np
import pytest

import tagger as tg
from tagger.errors import DecodeError, InvalidArgument, InvalidKey, InvalidSignature
from tagger.verify import REASONS, Check, DedupRegistry, ModelCheck, Receipt, Verifier, VerifySpec, check

from conftest import shared_path

Image = pytest.importorskip("PIL.Image")


# ---------------------------------------------------------------- helpers

def png(arr: np.ndarray, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **kw)
    return buf.getvalue()


def natural(seed: int, h: int = 96, w: int = 128) -> np.ndarray:
    """A smooth random RGB image (low-pass noise), like a photo at low resolution."""
    rng = np.random.default_rng(seed)
    f = np.fft.rfft2(rng.normal(size=(h, w)))
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.rfftfreq(w), indexing="ij")
    g = np.fft.irfft2(f / (1 + 200 * (fx**2 + fy**2)), s=(h, w))
    g = (g - g.min()) / (np.ptp(g) + 1e-12) * 255
    return np.stack([g, 255 - g, np.roll(g, 7, 1)], -1).astype(np.uint8)


def wav(seconds: float = 1.0, rate: int = 16000, amp: float = 0.5, silent: float = 0.0, clip: bool = False) -> bytes:
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = amp * np.sin(2 * np.pi * 440 * t)
    x[: int(silent * n)] = 0
    if clip:
        x = np.clip(3 * x, -1, 1)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((x * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def float_wav_with_nan(rate: int = 16000) -> bytes:
    x = (0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)).astype("<f4")
    x[::100] = np.nan
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)  # IEEE float, mono
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", x.nbytes) + x.tobytes()
    return b"RIFF" + struct.pack("<I", len(body)) + body


GOOD_TEXT = b"My new card still has not arrived after two weeks, can you tell me where it is?"
SPEC = VerifySpec(description="Customer questions about card delivery and card arrival", category="banking/card_arrival")


def codes(v) -> set:
    return set(v.reasons)


# ---------------------------------------------------------- reason codes

def test_good_inputs_are_accepted():
    assert check(GOOD_TEXT, "text", SPEC).status == "accepted"
    assert check(png(natural(1)), "image").status == "accepted"
    assert check(wav(), "audio").status == "accepted"
    assert check(b'{"a": 1, "b": "x"}', "json", {"schema": {"a": "int", "b": "str"}}).status == "accepted"
    assert check(b"a,b\n1,x\n2,y\n", "csv", {"schema": {"a": int, "b": str}}).status == "accepted"


CASES = {
    "empty": (b"", "text", {}),
    "too_large": (b"x" * 101, "text", {"max_bytes": 100}),
    "wrong_type": (png(natural(2)), "text", {}),
    "invalid_utf8": (b"caf\xe9 au lait", "text", {}),
    "text_too_short": (b"hi", "text", {"text_min_chars": 5, "gibberish_threshold": None}),
    "text_too_long": (GOOD_TEXT, "text", {"text_max_chars": 10}),
    "control_characters": (b"hello\x00\x01\x02\x03 world of bytes", "text", {}),
    "no_letters": (b"12345 678 !!!", "text", {}),
    "script_mismatch": ("Моя карта ещё не пришла, где она?".encode(), "text", {}),
    "gibberish": (b"xqzv kwpq mfhr tlzxv bnqw jzkx qwpf", "text", {}),
    "off_topic": (b"Return the absolute value of the argument.", "text",
                  {"description": "Customer questions about card delivery and arrival", "category": "banking/card_arrival",
                   "examples": ["Where is my card?", "My card has not arrived yet", "How long does card delivery take?"]}),
    "image_corrupt": (b"\x89PNG\r\n\x1a\n" + bytes(range(200)), "image", {}),
    "image_truncated": (png(natural(3))[:-300], "image", {}),
    "image_format": (png(natural(4), "BMP"), "image", {"image_formats": ["PNG", "JPEG"]}),
    "image_too_small": (png(natural(5, 8, 8)), "image", {}),
    "image_too_large": (png(natural(6)), "image", {"image_max_pixels": 1000}),
    "image_blank": (png(np.full((64, 64, 3), 128, np.uint8)), "image", {}),
    "audio_invalid_header": (b"RIFF\x24\x00\x00\x00WAVEjunkjunkjunk", "audio", {}),
    "audio_unsupported_encoding": (wav()[:20] + struct.pack("<H", 2) + wav()[22:], "audio", {}),
    "audio_truncated": (wav()[:-1001], "audio", {}),
    "audio_too_short": (wav(0.1), "audio", {}),
    "audio_too_long": (wav(2.0), "audio", {"audio_max_seconds": 1.0}),
    "audio_sample_rate": (wav(rate=8000), "audio", {"audio_sample_rates": [16000, 44100]}),
    "audio_silent": (wav(silent=0.99), "audio", {}),
    "audio_clipped": (wav(clip=True, amp=0.9), "audio", {}),
    "audio_corrupt": (float_wav_with_nan(), "audio", {}),
    "json_invalid": (b'{"a": 1,', "json", {}),
    "csv_invalid": (b"a,b\n1,2,3\n", "csv", {}),
    "table_empty": (b"a,b\n", "csv", {}),
    "schema_missing_field": (b'{"a": 1}', "json", {"schema": {"a": "int", "b": "str"}}),
    "schema_type_mismatch": (b"a\nnot-a-number\n", "csv", {"schema": {"a": "int"}}),
    "schema_unexpected_field": (b'{"a": 1, "z": 2}', "json", {"schema": {"a": "int"}, "schema_strict": True}),
    "copies_task_text": (b"Where is my card? It has not arrived yet.", "text",
                         {"description": "Customer questions about card delivery",
                          "examples": ["Where is my card? It has not arrived yet."]}),
    "contains_task_text": (b"Hello! Where is my card? It has not arrived yet. Thanks", "text",
                           {"description": "Customer questions about card delivery",
                            "examples": ["Where is my card? It has not arrived yet."]}),
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_reason_code_is_triggered(code):
    data, kind, spec = CASES[code]
    v = check(data, kind, spec)
    assert code in v.reasons, (v, v.details)
    assert v.status == REASONS[code]
    assert v.details[code]


def test_every_builtin_code_has_a_crafted_case():
    dup = {"duplicate_in_task", "duplicate_in_network", "near_duplicate", "near_duplicate_image", "custom_check_error"}
    assert set(REASONS) == set(CASES) | dup


def test_duplicates_exact_in_task_and_network_and_near():
    reg = DedupRegistry()
    a = VerifySpec(task_id="t1", registry=reg, gibberish_threshold=None)
    b = a.replace(task_id="t2")
    doc = b"The delivery of my replacement card is taking much longer than the two weeks you promised me."
    assert check(doc, "text", a, item_id="i1").accepted
    assert codes(check(doc, "text", a)) == {"duplicate_in_task"}
    assert codes(check(doc, "text", b)) == {"duplicate_in_network"}
    near = check(doc.replace(b"promised me.", b"promised me!!"), "text", b)
    assert codes(near) == {"near_duplicate"} and near.status == "needs_review" and near.scores["near_duplicate"] > 0.8
    img = natural(10, 120, 160)
    assert check(png(img), "image", a).accepted
    shifted = np.clip(img.astype(int) + 6, 0, 255).astype(np.uint8)  # brighter and re-encoded as JPEG
    v = check(png(shifted, "JPEG", quality=80), "image", a)
    assert codes(v) == {"near_duplicate_image"}
    assert check(png(natural(11, 120, 160)), "image", a).accepted
    # needs_review uploads are recorded too (a retry of the same bytes is then an exact duplicate)
    assert len(reg) == 5 and "DedupRegistry(5 items, 2 texts, 3 images" in repr(reg)


def test_rejected_uploads_are_not_registered_and_register_false_only_looks():
    reg = DedupRegistry()
    spec = VerifySpec(registry=reg)
    check(b"xqzv kwpq mfhr tlzxv bnqw jzkx", "text", spec)
    check(GOOD_TEXT, "text", spec, register=False)
    assert len(reg) == 0


def test_severity_overrides():
    v = check(b"hi", "text", {"text_min_chars": 5, "severity": {"text_too_short": "needs_review"}, "gibberish_threshold": None})
    assert v.status == "needs_review"
    v = check(b"hi", "text", {"text_min_chars": 5, "severity": {"text_too_short": "ignore"}, "gibberish_threshold": None})
    assert v.status == "accepted" and v.reasons == ()


# ------------------------------------------------------------- user checks

def test_custom_checks_callables_thresholds_and_errors():
    def shouty(item):
        return not item.text.isupper()

    def boom(item):
        raise RuntimeError("model server down")

    spec = VerifySpec(checks=[shouty, Check(lambda it: len(it.text) / 100, "length_score", threshold=0.5,
                                            severity="needs_review"), boom], gibberish_threshold=None)
    v = check(b"THIS IS ALL CAPS", "text", spec)
    assert v.reasons == ("custom:shouty", "custom:length_score", "custom_check_error")
    assert v.status == "rejected" and "model server down" in v.details["custom_check_error"]
    assert v.scores["length_score"] == pytest.approx(0.16)
    with pytest.raises(InvalidArgument):
        Check(42)
    with pytest.raises(InvalidArgument):
        Check(shouty, reason="Bad Code")
    # A callable without a name of its own is named after its place in the list (a lambda was
    # reported as custom:s_lambda_)
    import functools

    v = check(b"hello there my card", "text", VerifySpec(checks=[shouty, lambda it: False,
                                                                 functools.partial(lambda it, n: len(it.text) > n, n=99)],
                                                         gibberish_threshold=None, relevance_threshold=None))
    assert v.reasons == ("custom:check_1", "custom:check_2") and v.details["custom:check_1"] == "check_1 failed"

    class MinLength:  # a check object keeps its class's name, as Check(MinLength()) gives it
        def __call__(self, item):
            return len(item.text) > 99

    assert check(b"hello there my card", "text", VerifySpec(checks=[MinLength()], gibberish_threshold=None,
                                                            relevance_threshold=None)).reasons == ("custom:minlength",)


def test_sklearn_model_check():
    sklearn = pytest.importorskip("sklearn.pipeline")
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    good = ["where is my card", "card not arrived", "transfer failed", "refund please", "exchange rate wrong", "top up failed"]
    spam = ["buy cheap pills now", "win money fast click", "free prize claim now", "cheap pills online", "click here win", "money fast now"]
    model = sklearn.make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(good + spam, [1] * 6 + [0] * 6)
    spec = VerifySpec(checks=[ModelCheck(model, name="not_spam", positive=1)], gibberish_threshold=None)
    assert check(b"my card has not arrived", "text", spec).accepted
    v = check(b"buy cheap pills now and win money", "text", spec)
    assert v.reasons == ("custom:not_spam",) and v.scores["not_spam"] < 0.5


def test_model_check_positive_needs_classes():
    """A model without classes_ given positive= said "not in the model's classes []"."""
    class Probs:
        def predict_proba(self, xs):
            return np.array([[0.2, 0.8]] * len(xs))

    v = check(b"my card has not arrived", "text",
              VerifySpec(checks=[ModelCheck(Probs(), name="ok", positive=1)], gibberish_threshold=None))
    assert "needs the model's classes_" in v.details["custom_check_error"]
    assert check(b"my card has not arrived", "text",
                 VerifySpec(checks=[ModelCheck(Probs(), name="ok")], gibberish_threshold=None)).accepted


# ---------------------------------------------------------- bad input, misuse

@pytest.mark.parametrize("kind", ["text", "image", "audio", "json", "csv"])
def test_random_and_truncated_bytes_never_raise(kind):
    rng = random.Random(hash(kind) & 0xFFFF)
    samples = [png(natural(20)), png(natural(21), "JPEG"), wav(), GOOD_TEXT, b'{"a": [1, 2]}', b"a,b\n1,2\n"]
    for s in samples:
        for cut in (1, 7, 44, len(s) // 2, len(s) - 1):
            v = check(s[:cut], kind)
            assert v.status in tg.verify.STATUSES
    for _ in range(60):
        blob = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 300)))
        head = rng.choice([b"", b"RIFF\x00\x00\x00\x00WAVEfmt ", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a"])
        assert check(head + blob, kind).status in tg.verify.STATUSES


def test_api_misuse_raises_typed_errors():
    with pytest.raises(InvalidArgument, match="unknown kind"):
        check(b"x", "video")
    with pytest.raises(InvalidArgument, match="bytes"):
        check("a str", "text")
    with pytest.raises(InvalidArgument, match="unknown VerifySpec fields"):
        check(b"x", "text", {"max_byte": 3})
    with pytest.raises(InvalidArgument):
        VerifySpec(schema={"a": "complex"})
    with pytest.raises(InvalidKey):
        Verifier(signing_key=b"\x00" * 32)
    with pytest.raises(InvalidKey):
        Verifier().receipt(check(GOOD_TEXT, "text"), "i", bytes(32))
    assert check(b"x", "tabular", {}).kind == "csv"
    with pytest.raises(InvalidArgument, match="data must be bytes-like, got int"):
        check(5, "text")  # bytes(5) would have checked five zero bytes
    assert check(bytearray(GOOD_TEXT), "text").accepted and check(memoryview(GOOD_TEXT), "text").accepted


def test_check_many_refuses_a_bad_item_before_registering_any():
    reg = DedupRegistry()
    spec = VerifySpec(task_id="t1", registry=reg, gibberish_threshold=None)
    other = b"My replacement card still has not arrived although you promised delivery within a week."
    with pytest.raises(InvalidArgument, match=r"items\[2\] must be bytes-like, got NoneType"):
        tg.verify.check_many([GOOD_TEXT, other, None], "text", spec)
    assert len(reg) == 0  # nothing half-done: the retry is not a duplicate of itself
    assert [v.status for v in tg.verify.check_many([GOOD_TEXT, other], "text", spec)] == ["accepted", "accepted"]
    assert len(reg) == 2
    with pytest.raises(InvalidArgument, match="a single bytes"):
        tg.verify.check_many(GOOD_TEXT, "text", spec)
    with pytest.raises(InvalidArgument, match=r"items\[0\] must be bytes \(encode text as UTF-8\), got str"):
        tg.verify.check_many(["text"], "text")


# -------------------------------------------------------------- receipts

def test_receipt_signs_verifies_and_round_trips():
    sk = tg.crypto.SigningKey.generate()
    ver = Verifier(signing_key=sk)
    v = ver.check(b"hi", "text", {"text_min_chars": 5, "gibberish_threshold": None})
    ct_hash = tg.crypto.sha256(b"sealed bytes")
    r = ver.receipt(v, "item-1", ct_hash, task_id="task-9")
    r.verify(sk.verify_key)
    blob = r.encode()
    assert tg.codec.decode(blob)[0:6] == [1, "task-9", "item-1", ct_hash, "rejected", ["text_too_short"]]
    back = Receipt.decode(blob)
    assert back == r and back.scores["chars"] == 2.0
    with pytest.raises(InvalidSignature):
        back.verify(tg.crypto.SigningKey.generate().verify_key)
    forged = Receipt(r.task_id, r.item_id, r.ciphertext_hash, "accepted", (), r.scores_micro, r.verifier, r.signature)
    with pytest.raises(InvalidSignature):
        forged.verify()
    with pytest.raises(DecodeError):
        Receipt.decode(blob[:-1])
    with pytest.raises(InvalidArgument):
        ver.receipt(v, "i", b"short")
    assert "Receipt(item_id='item-1', status='rejected'" in repr(r)


# ------------------------------------------------- near duplicates vs exact

def _mutate(words: list[str], vocab: list[str], n: int, rng: random.Random) -> str:
    w = list(words)
    for i in rng.sample(range(len(w)), min(n, len(w))):
        w[i] = rng.choice(vocab)
    return " ".join(w)


def _python_shingles(text: str, k: int = 5) -> set:
    t = " ".join(text.lower().split())
    return {t[i:i + k] for i in range(len(t) - k + 1)} if len(t) > k else {t}


def test_minhash_estimates_match_exact_jaccard_and_recall(shared):
    path = shared_path("data", "nlp", "banking77", "train.csv")
    with open(path, newline="") as f:
        texts = [r[0] for r in csv.reader(f)][1:]
    rng = random.Random(5)
    vocab = sorted({w for t in texts for w in t.split()})
    docs = [" ".join(rng.sample(texts, 4)) for _ in range(600)]
    lsh = tg.verify.MinHashLSH(num_perm=128, threshold=0.8)
    lsh.insert_many(docs)
    hasher = tg._core.verify.MinHasher(128)
    hits = total = 0
    errs = []
    for i, d in enumerate(docs):
        q = _mutate(d.split(), vocab, rng.randrange(0, 4), rng)
        a, b = _python_shingles(d), _python_shingles(q)
        exact = len(a & b) / len(a | b)                       # slow reference
        assert tg.verify.jaccard(d, q) == pytest.approx(exact, abs=1e-12)
        s = hasher.signatures([d, q])
        errs.append(float(np.mean(s[0] == s[1])) - exact)
        if exact >= 0.8:
            total += 1
            hits += any(j == i for j, _ in lsh.query(q))
    errs = np.array(errs)
    assert abs(errs.mean()) < 0.01 and errs.std() < 0.05   # unbiased, se ≈ sqrt(J(1-J)/128)
    assert total > 200 and hits / total >= 0.95
    # Dissimilar pairs (other documents) are almost never reported.
    fp = sum(len([j for j, _ in lsh.query(" ".join(rng.sample(texts, 4)))]) for _ in range(300))
    assert fp / 300 < 0.01


# ------------------------------------------------------ perceptual hashes

def _reference_phash(gray: np.ndarray) -> tuple[np.ndarray, int]:
    """Slow reference: exact area averaging by integrating a piecewise-constant image, scipy DCT."""
    from scipy.fft import dct

    def area_matrix(n_in: int, n_out: int) -> np.ndarray:
        m = np.zeros((n_out, n_in))
        s = n_in / n_out
        for o in range(n_out):
            lo, hi = o * s, (o + 1) * s
            for j in range(n_in):
                m[o, j] = max(0.0, min(hi, j + 1) - max(lo, j)) / s
        return m

    small = area_matrix(gray.shape[0], 32) @ gray.astype(float) @ area_matrix(gray.shape[1], 32).T
    c = dct(dct(small, axis=0), axis=1)[:8, :8]
    bits = (c > np.median(c)).ravel()
    return c, int("".join("1" if b else "0" for b in bits), 2)


def test_phash_matches_numpy_reference_without_copying():
    for seed, (h, w) in enumerate([(96, 128), (33, 47), (20, 300), (500, 40)]):
        gray = natural(seed, h, w)[..., 0]
        c_ref, h_ref = _reference_phash(gray)
        np.testing.assert_allclose(tg._core.verify.phash_coefficients(gray), c_ref, rtol=1e-9, atol=1e-6)
        assert tg.verify.phash(gray) == h_ref
        # A strided view (every other column) is read in place and equals its copy.
        view = gray[:, ::2]
        assert tg.verify.phash(view) == tg.verify.phash(np.ascontiguousarray(view))
    with pytest.raises(InvalidArgument):
        tg.verify.phash(np.zeros((4, 4), np.float32))


def test_phash_agrees_with_imagehash_and_is_robust():
    imagehash = pytest.importorskip("imagehash")
    dists, robust, apart = [], [], []
    for seed in range(12):
        img = Image.fromarray(natural(seed, 240, 320)).convert("L")
        ours = tg.verify.phash(img)
        theirs = int(str(imagehash.phash(img)), 16)
        dists.append(tg.verify.hamming(ours, theirs))
        small = Image.open(io.BytesIO(png(np.asarray(img.resize((160, 120))), "JPEG", quality=70)))
        robust.append(tg.verify.hamming(ours, tg.verify.phash(small)))
        apart.append(tg.verify.hamming(ours, tg.verify.phash(Image.fromarray(natural(seed + 100, 240, 320)))))
    assert np.mean(dists) <= 8          # a different resampling filter, the same hash
    assert max(robust) <= 8 and min(apart) > 12


def test_verdict_repr_and_html():
    v = check(b"", "text")
    assert repr(v) == "Verdict('rejected', reasons=['empty'], kind='text')"
    assert "rejected" in v._repr_html_()
    assert "VerifySpec(" in repr(SPEC)


def test_a_callable_model_is_read_like_predict_proba_and_nan_goes_to_review():
    # A callable returning [[p_bad, p_good]] was scored by p_bad (good uploads rejected, bad
    # ones accepted), and a NaN score rejected the upload, which was then not stored.
    from tagger.verify import ModelCheck, VerifySpec
    text = b"How do I activate my new debit card?"

    def status(model, **kw):
        v = tg.verify.check(text, "text", VerifySpec(checks=[ModelCheck(model, name="quality_ok", **kw)]))
        return v.status, v.reasons

    assert status(lambda x: np.array([[0.1, 0.9]])) == ("accepted", ())
    assert status(lambda x: np.array([[0.9, 0.1]]))[0] == "rejected"
    assert status(lambda x: [0.9, 0.1], positive=0) == ("accepted", ())
    assert status(lambda x: 0.7) == ("accepted", ())
    assert status(lambda x: float("nan")) == ("needs_review", ("custom_check_error",))
    assert status(lambda x: np.ones((2, 2)) / 2) == ("needs_review", ("custom_check_error",))
    assert status(lambda x: [0.2, 0.8], positive=5) == ("needs_review", ("custom_check_error",))
