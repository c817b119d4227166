"""Task-level assignment off the happy path: exclusions read in the caller's item and
worker order, ties shared with or without exclusions, the detail of InfeasibleAssignment,
reassign granting every slot it can, and suitability from the best-matching category."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import tagger as tg
from tagger import errors
from tagger import task as task_module

NAMES = ["zed", "amy", "bob", "cat"]  # not in name order: list order and name order differ
ITEMS = [f"review number {i}: the product was fine" for i in range(8)]


@pytest.fixture()
def net():
    return tg.Network.memory()


def _publish(net, owner, seed=0, items=ITEMS, overlap=1, **kw):
    return net.publish_task(owner=owner, title="Review sentiment",
                            description="Label product reviews as positive or negative", kind="classification",
                            labels=["pos", "neg"], items=items, overlap=overlap, budget=100 * tg.TAG, seed=seed, **kw)


def _setup(net):
    alice = net.create_account("alice", fund=10_000 * tg.TAG)
    ws = [net.create_account(n, fund=100 * tg.TAG) for n in NAMES]
    return alice, ws


@pytest.mark.parametrize("seed", range(4))
def test_exclude_mask_rows_are_items_and_columns_the_workers_as_listed(net, seed) -> None:
    # Rows used to be read in the shuffled presentation order: item 0 went to an excluded worker.
    alice, ws = _setup(net)
    ex = np.zeros((len(ITEMS), 4), bool)
    ex[0, :3] = True
    ex[5, 1:] = True
    a = _publish(net, alice, seed).assign(ws, capacity=2, exclude=ex)
    assert a[a.item_id == 0].worker.tolist() == ["cat"]
    assert a[a.item_id == 5].worker.tolist() == ["zed"]
    assert not any(ex[int(r.item_id), NAMES.index(r.worker)] for r in a.itertuples())


@pytest.mark.parametrize("seed", range(4))
def test_exclude_pairs_name_workers_by_their_place_in_the_list(net, seed) -> None:
    # The worker index was read in name order: (i, 0) excluded "amy", not workers[0] = "zed".
    alice, ws = _setup(net)
    with pytest.warns(UserWarning, match="got no item.*zed"):
        a = _publish(net, alice, seed).assign(ws, capacity=3, exclude=[(i, 0) for i in range(len(ITEMS))])
    assert "zed" not in set(a.worker)
    assert len(a) == len(ITEMS)


@pytest.mark.parametrize("capacity", [3, 8])
def test_an_exclude_that_excludes_nothing_shares_ties_like_no_exclude(net, capacity) -> None:
    # With any exclude the min-cost-flow solver broke ties arbitrarily: one worker took all 8.
    alice, ws = _setup(net)
    plain = _publish(net, alice, 1).assign(ws, capacity=capacity)
    masked = _publish(net, alice, 1).assign(ws, capacity=capacity, exclude=np.zeros((len(ITEMS), 4), bool))
    assert plain.worker.value_counts().to_dict() == masked.worker.value_counts().to_dict() == dict.fromkeys(NAMES, 2)


def test_exclusions_keep_the_optimum_and_spread_equal_workers(net) -> None:
    alice = net.create_account("alice", fund=10_000 * tg.TAG)
    ws = [net.create_account(n, fund=100 * tg.TAG) for n in NAMES]
    ws.append(net.create_account("eve", fund=100 * tg.TAG, skills={"text/sentiment": 0.9}))
    items = [f"review number {i}: the product was fine" for i in range(12)]
    ex = np.zeros((12, 5), bool)
    ex[1:, 0] = True   # zed may take item 0 only
    ex[:6, 4] = True   # eve, the best worker, may not take items 0-5
    t = _publish(net, alice, 2, items=items, overlap=2)
    a = t.assign(ws, capacity=6, exclude=ex)
    counts = a.worker.value_counts()
    assert not any(ex[int(r.item_id), [*NAMES, "eve"].index(r.worker)] for r in a.itertuples())
    assert counts["eve"] == 6  # the optimum: the best worker takes every item it may
    assert counts["zed"] == 1
    # The 24 - 6 - 1 = 17 other slots go to the three equal workers as evenly as possible.
    assert sorted(counts[["amy", "bob", "cat"]]) == [5, 6, 6]


def test_a_worker_forced_above_its_share_leaves_no_equal_worker_idle(net) -> None:
    # Capacities cut to even share + one uniform slack let bob take all the unforced items:
    # amy 4, bob 4, cat 0, dan 0, and an idle-worker warning.
    alice = net.create_account("alice", fund=10_000 * tg.TAG)
    names = ["amy", "bob", "cat", "dan"]
    ws = [net.create_account(n, fund=100 * tg.TAG) for n in names]
    ex = np.zeros((8, 4), bool)
    ex[:4, 1:] = True  # items 0-3: amy only
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "got no item" warning
        a = _publish(net, alice).assign(ws, capacity=8, exclude=ex)
    counts = a.worker.value_counts().reindex(names, fill_value=0)
    assert counts["amy"] == 4
    assert sorted(counts[["bob", "cat", "dan"]]) == [1, 1, 2]


def test_assign_with_exclude_solves_once(net, monkeypatch) -> None:
    # The search for the least slack ran up to 22 solves (1.7 s where one takes 0.01 s).
    calls = []
    real = task_module.solve_assignment
    monkeypatch.setattr(task_module, "solve_assignment", lambda *a, **k: calls.append(1) or real(*a, **k))
    alice = net.create_account("alice", fund=10_000 * tg.TAG)
    ws = [net.create_account(f"w{j}", fund=100 * tg.TAG) for j in range(6)]
    ex = np.zeros((30, 6), bool)
    ex[:10, 1:] = True  # the first third: w0 only
    a = _publish(net, alice, items=[f"review {i} good" for i in range(30)]).assign(ws, capacity=30, exclude=ex)
    assert len(calls) == 1
    assert a.worker.value_counts().reindex([f"w{j}" for j in range(6)]).tolist() == [10, 4, 4, 4, 4, 4]


def _lp_optimum(s, overlap, cap, ex):
    """(most slots, best suitability among those) of the assignment LP (integral: a flow)."""
    linprog = pytest.importorskip("scipy.optimize").linprog
    n, m = ex.shape
    rows = [np.kron(np.eye(n)[i], np.ones(m)) for i in range(n)] + [np.tile(np.eye(m)[j], n) for j in range(m)]
    r = linprog(-(np.broadcast_to(s, (n, m)).ravel() + 1e4), A_ub=np.array(rows), b_ub=[overlap] * n + list(cap),
                bounds=[(0, 0 if e else 1) for e in ex.ravel()], method="highs")
    x = r.x.reshape(n, m)
    return round(x.sum()), float((x * s).sum())


def test_shared_ties_keep_the_optimum_and_leave_no_move_between_equal_workers() -> None:
    rng = np.random.default_rng(7)
    for _ in range(300):
        n, m = int(rng.integers(1, 11)), int(rng.integers(1, 7))
        overlap = int(rng.integers(1, min(m, 3) + 1))
        s = rng.choice([0.25, 0.5, 0.7], size=m)
        cap = rng.integers(0, n + 2, size=m).astype(np.int64)
        ex = rng.random((n, m)) < rng.choice([0.0, 0.1, 0.3, 0.6])
        w = task_module._balanced_assignment(s, overlap, cap, ex)
        filled = w >= 0
        load = np.bincount(w[filled], minlength=m)
        assert (load <= cap).all()
        for i in range(n):
            row = w[i][w[i] >= 0]
            assert len(set(row.tolist())) == len(row) and not ex[i, row].any()
        slots, best = _lp_optimum(s, overlap, cap, ex)
        assert filled.sum() == slots
        assert s[w[filled]].sum() == pytest.approx(best, abs=1e-9)
        for a in range(m):
            for b in range(m):
                if s[a] == s[b] and load[a] >= load[b] + 2 and load[b] < cap[b]:
                    # a could hand b an item: only when every item of a is one b holds or may not take
                    assert not any(a in w[i] and b not in w[i] and not ex[i, b] for i in range(n))


def test_ties_are_shared_along_a_chain_when_no_direct_move_exists() -> None:
    # a holds items 0-2 (b may not take them), c holds 3-4, b holds 5: a -> c -> b evens them.
    ex = np.zeros((6, 3), bool)
    ex[:3, 1] = True
    w = np.array([[0], [0], [0], [2], [2], [1]], dtype=np.int32)
    task_module._share_ties(w, np.full(3, 0.5), np.full(3, 6, dtype=np.int64), ex)
    assert np.bincount(w.ravel(), minlength=3).tolist() == [2, 2, 2]
    assert not ex[np.arange(6), w[:, 0]].any()


def _three_workers(net, n_items=40, overlap=3, seed=0):
    alice = net.create_account("alice", fund=10**6 * tg.TAG)
    ws = [net.create_account(f"w{i:02d}", fund=100 * tg.TAG) for i in range(3)]
    t = _publish(net, alice, seed, items=[f"review {i} good" for i in range(n_items)], overlap=overlap)
    return t, ws


@pytest.mark.parametrize("exclude", [None, "mask"])
def test_infeasible_assign_names_the_exact_shortfall_and_item_positions(net, exclude) -> None:
    # Without exclude the error had no .shortfall / .items; with it .items were shuffled rows.
    t, ws = _three_workers(net)
    ex = None
    if exclude == "mask":
        ex = np.zeros((40, 3), bool)
        ex[[3, 17], :] = True  # two items nobody may take: both must be among the short items
    with pytest.raises(errors.InfeasibleAssignment, match="by 90 slot") as info:
        t.assign(ws, capacity=10, exclude=ex)
    e = info.value
    assert e.shortfall == 90 == e.item_shortfall.sum()
    assert e.item_shortfall.shape == (40,)
    assert list(e.items) == list(np.flatnonzero(e.item_shortfall))
    if exclude == "mask":
        assert e.item_shortfall[3] == e.item_shortfall[17] == 3
    assert t.assignment is None  # nothing was staked or recorded


@pytest.mark.parametrize("exclude", [None, "mask"])
def test_partial_assign_with_more_overlap_than_workers_fills_what_it_can(net, exclude) -> None:
    # partial=True used to be ignored: overlap 3 with 2 workers raised at once.
    t, ws = _three_workers(net, n_items=6)
    ex = np.zeros((6, 2), bool) if exclude else None
    with pytest.raises(errors.InfeasibleAssignment, match="by 6 slot.*needs at least 3 workers") as info:
        t.assign(ws[:2], capacity=6, exclude=ex)
    assert info.value.shortfall == 6
    a = t.assign(ws[:2], capacity=6, exclude=ex, partial=True)
    assert len(a) == 12
    assert (a.groupby("item_id").worker.nunique() == 2).all()


def _expired_task(net, n_items, seed=0):
    """Overlap 3 past its deadline: item 0 unanswered (3 missing), the others answered twice."""
    alice = net.create_account("alice", fund=10**6 * tg.TAG)
    old = net.create_accounts(["o1", "o2", "o3"], fund=100 * tg.TAG)
    t = _publish(net, alice, seed, items=[f"item {i}" for i in range(n_items)], overlap=3, deadline=2)
    t.assign(old)
    for i in range(1, n_items):
        for w in ("o1", "o2"):
            t.submit(w, i, "pos")
    while net.height + 1 < t.deadline:
        net.transfer(alice, "o1", 1)
    return t


@pytest.mark.parametrize("n_items", [3, 4, 6])
def test_reassign_grants_every_missing_slot_that_capacity_covers(net, n_items) -> None:
    # Solved at the widest need and cut per item, it granted 4 of 5, 4 of 6, 5 of 8.
    t = _expired_task(net, n_items)
    need = 3 + (n_items - 1)
    new = net.create_accounts([f"n{k}" for k in range(need)], fund=100 * tg.TAG)
    r = t.reassign(new, capacity=1)
    assert len(r) == need
    assert r.groupby("item_id").size().to_dict() == {0: 3, **{i: 1 for i in range(1, n_items)}}
    assert not r.duplicated(["item_id", "worker"]).any()


def test_reassign_warns_when_capacity_cannot_cover_the_missing_slots(net) -> None:
    t = _expired_task(net, 4)
    new = net.create_accounts(["n0", "n1"], fund=100 * tg.TAG)
    with pytest.warns(UserWarning, match=r"granted 2 of 6 missing slot"):
        r = t.reassign(new, capacity=1)
    assert len(r) == 2


def test_suitability_reads_the_skill_of_the_best_matching_category_only(net) -> None:
    # The max over the top 3 let a sarcasm skill (matched at 0.07 %) outrank a sentiment expert.
    alice = net.create_account("alice", fund=10_000 * tg.TAG)
    t = _publish(net, alice)
    best, _, third = (c for c, _ in t.categories)
    assert t.categories[0][1] > 0.5 > t.categories[2][1]
    expert = net.create_account("expert", skills={best: 0.9})
    elsewhere = net.create_account("elsewhere", skills={third: 0.95})
    weak = net.create_account("weak", skills={best: 0.3})
    none = net.create_account("none")
    mixed = net.create_account("mixed", skills={best: 0.1, third: 1.0})
    wild = net.create_account("wild", skills={"*": 0.8, third: 1.0})
    s = dict(zip(["expert", "elsewhere", "weak", "none", "mixed", "wild"],
                 t.suitability([expert, elsewhere, weak, none, mixed, wild]) * 2))  # reputation 1/2 each
    assert s == pytest.approx({"expert": 0.9, "elsewhere": 0.5, "weak": 0.3, "none": 0.5, "mixed": 0.1, "wild": 0.8})
    # Documented on purpose: a skill declared below the neutral 0.5 ranks below declaring none.
    assert s["weak"] < s["none"] == s["elsewhere"] < s["expert"]


# ---------------------------------------------------------------- tg.match.assign inputs

S3 = np.array([[5., 1, 1], [1, 1, 1]])


def test_a_capacity_series_is_matched_to_the_frame_columns_by_label() -> None:
    # Read by position, worker "a" (capacity 0) got both items.
    frame = pd.DataFrame(S3, columns=list("abc"))
    got = tg.match.assign(frame, 1, pd.Series({"b": 5, "c": 5, "a": 0}))
    assert 0 not in got
    r = tg.match.solve_assignment(frame, 1, pd.Series({"c": 0, "b": 0, "a": 2}))
    assert r.workers.ravel().tolist() == [0, 0]
    with pytest.raises(errors.InvalidArgument, match=r"missing \['c'\]; unknown \['d'\]"):
        tg.match.assign(frame, 1, pd.Series({"a": 1, "b": 1, "d": 1}))
    with pytest.raises(errors.InvalidArgument, match="no worker labels"):
        tg.match.assign(S3, 1, pd.Series([0, 5, 5], index=["c", "a", "b"]))
    assert tg.match.assign(S3, 1, pd.Series([0, 5, 5])).ravel().tolist() == [1, 1]


@pytest.mark.parametrize("frame", [pd.DataFrame({"worker": [0], "item": [1]}), pd.DataFrame({"item": [1], "worker": [0]})])
def test_an_exclude_frame_is_read_by_column_name(frame) -> None:
    # Columns (worker, item) were read as (item, worker) rows.
    assert tg.match.assign(np.array([[5., 1, 1], [5, 1, 1]]), 1, 5, exclude=frame).ravel().tolist() == [0, 1]


S_LABELLED = pd.DataFrame([[3., 1, 2], [1, 3, 2], [2, 1, 3]], columns=[2, 0, 1])  # worker labels not positions


def test_an_exclude_frame_names_workers_and_items_by_the_suitability_labels() -> None:
    # The worker column was read as positions: worker label 2 (position 0) was not the one excluded.
    assert tg.match.assign(S_LABELLED, 1, 1, exclude=pd.DataFrame({"item": [0], "worker": [0]})).ravel().tolist() \
        == [0, 1, 2]  # label 0 is position 1: item 0 still gets position 0
    got = tg.match.assign(S_LABELLED, 1, 1, exclude=pd.DataFrame({"item": [0], "worker": [2]})).ravel()
    assert got[0] != 0
    named = pd.DataFrame([[1., 2], [2, 1]], columns=["a", "b"], index=["x", "y"])
    assert tg.match.assign(named, 1, 2, exclude=pd.DataFrame({"worker": ["b"], "item": ["x"]})).ravel().tolist() == [0, 0]
    with pytest.raises(errors.InvalidArgument, match="names worker 'c', which is not a worker label"):
        tg.match.assign(named, 1, 2, exclude=pd.DataFrame({"item": ["x"], "worker": ["c"]}))
    with pytest.raises(errors.InvalidArgument, match="names item 0, which is not an item label"):
        tg.match.assign(named, 1, 2, exclude=pd.DataFrame({"item": [0], "worker": ["a"]}))
    with pytest.raises(errors.InvalidArgument, match="suitability has no worker labels"):
        tg.match.assign(named.to_numpy(), 1, 2, exclude=pd.DataFrame({"item": [0], "worker": ["a"]}))
    with pytest.raises(errors.InvalidArgument, match="row 1 has a missing item or worker"):
        tg.match.assign(S_LABELLED, 1, 1, exclude=pd.DataFrame({"item": pd.array([0, None], "Int64"), "worker": [0, 1]}))


def test_a_boolean_exclude_frame_is_aligned_by_labels() -> None:
    # Its columns were read by position: np.eye labelled 0, 1, 2 excluded positions 0, 1, 2.
    mask = pd.DataFrame(np.eye(3, dtype=bool), columns=[0, 1, 2])  # excludes label j from item j
    assert tg.match.assign(S_LABELLED, 1, 1, exclude=mask).ravel().tolist() == [0, 1, 2]
    shuffled = pd.DataFrame(np.eye(3, dtype=bool), columns=[2, 0, 1], index=[2, 1, 0])
    got = tg.match.assign(S_LABELLED, 1, 1, exclude=shuffled).ravel().tolist()
    assert all(not (S_LABELLED.index[i] == j_item and S_LABELLED.columns[w] == lab)
               for i, w in enumerate(got) for j_item, lab in [(2, 2), (1, 0), (0, 1)])
    with pytest.raises(errors.InvalidArgument, match=r"columns are matched by label.*missing \[2\]; unknown \[3\]"):
        tg.match.assign(S_LABELLED, 1, 1, exclude=pd.DataFrame(np.eye(3, dtype=bool), columns=[0, 1, 3]))
    with pytest.raises(errors.InvalidArgument, match=r"rows are matched by label to item positions"):
        tg.match.assign(S_LABELLED.to_numpy(), 1, 1, exclude=pd.DataFrame(np.eye(3, dtype=bool), index=[5, 6, 7]))


def test_a_suitability_frame_with_a_repeated_worker_label_is_refused_where_labels_are_read() -> None:
    # Its capacity Series and exclude frame named two workers with one label; nothing else reads labels.
    frame = pd.DataFrame([[3., 1, 2], [1, 3, 2]], columns=["a", "a", "b"])
    with pytest.raises(errors.InvalidArgument, match="repeats the worker label 'a'"):
        tg.match.assign(frame, 1, pd.Series({"a": 1, "b": 1}))
    with pytest.raises(errors.InvalidArgument, match="repeats the worker label 'a'"):
        tg.match.assign(frame, 1, 1, exclude=pd.DataFrame({"item": [0], "worker": ["b"]}))
    assert tg.match.assign(frame, 1, 1).tolist() == [[0], [1]]


def test_an_exclude_frame_without_item_and_worker_columns_is_refused() -> None:
    with pytest.raises(errors.InvalidArgument, match="columns 'item' and 'worker'"):
        tg.match.assign(S3, 1, 5, exclude=pd.DataFrame({"i": [0], "w": [0]}))


def test_an_int_array_of_the_suitability_shape_is_refused_as_ambiguous() -> None:
    # A 0/1 int mask with 2 workers was read as a list of pairs.
    s = np.array([[5., 1], [1, 5], [3, 3], [3, 3]])
    mask = np.array([[1, 0], [0, 1], [0, 0], [0, 0]])
    with pytest.raises(errors.InvalidArgument, match=r"\(items, workers\) = \(4, 2\).*boolean mask.*DataFrame"):
        tg.match.assign(s, 1, 4, exclude=mask)
    assert tg.match.assign(s, 1, 4, exclude=mask.astype(bool)).ravel().tolist() == [1, 0, 0, 0]
    assert tg.match.assign(s, 1, 4, exclude=[(0, 0), (1, 1)]).ravel().tolist() == [1, 0, 0, 0]


S32 = np.array([[1., 2], [2, 1], [1, 1]])


@pytest.mark.parametrize("wrap", [np.array, lambda x: x], ids=["array", "list"])
def test_a_nested_list_and_its_array_are_read_alike(wrap) -> None:
    # The array was refused as ambiguous and the same nested list read as pairs.
    with pytest.raises(errors.InvalidArgument, match="as a mask and as \\(item, worker\\) pairs"):
        tg.match.assign(S32, 1, 3, exclude=wrap([[1, 0], [0, 1], [0, 0]]))
    # Pairs of the suitability's shape that cannot be a 0/1 mask (item 2) are pairs.
    assert tg.match.assign(S32, 1, 3, exclude=wrap([[2, 0], [1, 1], [0, 1]])).ravel().tolist() == [0, 0, 1]
    # Nested bools of that shape are a mask.
    got = tg.match.assign(S32, 1, 3, exclude=wrap([[False, True], [True, False], [False, False]])).ravel()
    assert got[:2].tolist() == [0, 1]  # the better worker of items 0 and 1 is the excluded one


@pytest.mark.parametrize("wrap", [np.array, lambda x: x], ids=["array", "list"])
def test_pairs_that_read_the_same_as_a_mask_are_taken(net, wrap) -> None:
    # 2 items x 2 workers: np.array([[0, 1], [1, 0]]) was refused while the nested list passed;
    # as a mask or as pairs it excludes the same two pairs.
    alice = net.create_account("alice", fund=10_000 * tg.TAG)
    ws = [net.create_account(n, fund=100 * tg.TAG) for n in ["amy", "bob"]]
    t = _publish(net, alice, items=["item 0 ok", "item 1 ok"])
    a = t.assign(ws, capacity=2, exclude=wrap([[0, 1], [1, 0]]))
    assert a.set_index("item_id").worker.to_dict() == {0: "amy", 1: "bob"}


def test_a_wrong_mask_shape_at_task_level_names_items_and_workers(net) -> None:
    # "suitability (6, 3)": a Task.assign caller has no suitability matrix.
    alice, ws = _setup(net)
    with pytest.raises(errors.InvalidArgument, match=r"shape \(8, 2\).*\(items, workers\) = \(8, 4\)"):
        _publish(net, alice).assign(ws, capacity=4, exclude=np.zeros((8, 2), bool))


def test_no_workers_leaves_every_slot_short_instead_of_refusing_the_overlap() -> None:
    # The core was asked for overlap min(overlap, 0 workers) = 0: "overlap must be >= 1, got 0".
    r = tg.match.solve_assignment(np.zeros((3, 0)), 1, 1)
    assert r.shortfall == 3 and r.workers.shape == (3, 1) and (r.workers == -1).all()
    assert r.item_shortfall.tolist() == [1, 1, 1]
    assert (tg.match.assign(np.zeros((3, 0)), 2, 1, partial=True) == -1).all()
    with pytest.raises(errors.InfeasibleAssignment) as info:
        tg.match.assign(np.zeros((3, 0)), 2, 1)
    assert info.value.shortfall == 6
    assert tg.match.assign(np.zeros((0, 0)), 1, 1).shape == (0, 1)
    assert tg.match.assign(np.zeros((0, 2)), 3, 1).shape == (0, 3)


@pytest.mark.parametrize("overlap", [0, -1])
def test_an_overlap_below_one_is_refused_in_one_voice(overlap) -> None:
    with pytest.raises(errors.InvalidArgument, match=rf"overlap must be in \[1, 2\*\*31 - 1\], got {overlap}"):
        tg.match.assign(np.ones((2, 2)), overlap, 1)


# ---------------------------------------------------------------- publish_task matching

def test_an_english_title_publishes_with_a_description_in_another_script(net) -> None:
    # The strict check ran on title + description together and called it the description.
    alice = net.create_account("alice", fund=10_000 * tg.TAG)
    t = net.publish_task(owner=alice, title="Review sentiment",
                         description="Разметьте отзывы покупателей по тональности, пожалуйста", kind="classification",
                         labels=["pos", "neg"], items=["a", "b"], overlap=1, budget=10 * tg.TAG)
    assert t.categories[0][0] in {"text/sentiment", "text/aspect_sentiment"}
    with pytest.raises(errors.InvalidArgument, match="title with the description is written in an unsupported script"):
        net.publish_task(owner=alice, title="Разметка отзывов", description="Разметьте отзывы покупателей",
                         kind="classification", labels=["pos", "neg"], items=["a", "b"], overlap=1, budget=10 * tg.TAG)


@pytest.mark.parametrize("k", [-1, 200, True, 2.0])
def test_publish_names_categories_when_refusing_it(net, k) -> None:
    # -1 was refused as "k must be ...", 200 quietly stored all 153 categories.
    alice = net.create_account("alice", fund=10_000 * tg.TAG)
    with pytest.raises(errors.InvalidArgument, match=r"categories must be an int in \[0, \d+\]"):
        _publish(net, alice, categories=k)


def test_a_capacity_beyond_64_bits_is_called_too_large_not_negative(net) -> None:
    alice, ws = _setup(net)
    t = _publish(net, alice)
    with pytest.raises(errors.InvalidArgument, match=r"capacity must be at most 2\*\*63 - 1, got 18446744073709551616"):
        t.assign(ws, capacity=2**64)
    with pytest.raises(errors.InvalidArgument, match=r">= 0 for every worker, got -1 \(workers\[1\]\)"):
        t.assign(ws, capacity=[8, -1, 8, 8])


def test_declared_skills_are_checked_by_name() -> None:
    net = tg.Network.memory()
    for bad, msg in (("text/sentiment", r"skills must be a dict of category -> score.*not str"),
                     ({"text/sentiment": "high"}, r"skill 'text/sentiment' must be a number in \[0, 1\], got 'high'"),
                     ({"text/sentiment": True}, r"must be a number in \[0, 1\], got True"),
                     ({"text/sentiment": 1.5}, r"must be in \[0, 1\], got 1.5")):
        with pytest.raises(errors.InvalidArgument, match=msg):
            net.create_account("w", skills=bad)
    net.create_account("w", skills={"text/sentiment": 0.9})  # the refused calls left no account "w" behind


@pytest.mark.parametrize("wrap", [pd.Series, dict], ids=["series", "dict"])
def test_task_assign_reads_a_capacity_series_by_worker_name(net, wrap) -> None:
    # Read by position, {"cat": 0, "amy": 3, "bob": 3} gave the first listed worker (amy) 0.
    alice = net.create_account("alice", fund=10_000 * tg.TAG)
    ws = [net.create_account(n, fund=100 * tg.TAG) for n in ["amy", "bob", "cat"]]
    t = _publish(net, alice, items=[f"item {i} ok" for i in range(6)])
    with pytest.raises(errors.InvalidArgument, match=r"capacity names 'dan', which is not one of the listed workers"):
        t.assign(ws, capacity=wrap({"amy": 3, "bob": 3, "dan": 3}))
    with pytest.raises(errors.InvalidArgument, match=r"capacity by worker misses \['cat'\]"):
        t.assign(ws, capacity=wrap({"amy": 3, "bob": 3}))
    with pytest.warns(UserWarning, match="got no item.*: cat"):
        a = t.assign(ws, capacity=wrap({"cat": 0, "amy": 3, "bob": 3}))
    assert a.worker.value_counts().to_dict() == {"amy": 3, "bob": 3}


def test_task_capacity_keys_are_what_workers_takes_and_an_unlabelled_series_is_positional(net) -> None:
    # Keyed by Account or address it was refused ("names workers not in the list [Account(...)]"),
    # and a plain Series (RangeIndex), positional in tg.match.assign, was refused too.
    alice = net.create_account("alice", fund=10_000 * tg.TAG)
    ws = [net.create_account(n, fund=100 * tg.TAG) for n in ["amy", "bob", "cat"]]
    for cap in ({ws[2]: 0, ws[0]: 3, ws[1]: 3}, {ws[2].address: 0, ws[0].address: 3, ws[1].address: 3},
                pd.Series([3, 3, 0])):
        t = _publish(net, alice, items=[f"item {i} ok" for i in range(6)])
        with pytest.warns(UserWarning, match="got no item.*: cat"):
            a = t.assign(ws, capacity=cap)
        assert a.worker.value_counts().to_dict() == {"amy": 3, "bob": 3}


def test_task_exclude_frames_name_workers_as_workers_does(net) -> None:
    # tg.match reads a frame by the suitability frame's labels; a task has none, so frames of
    # worker names were refused ("pass the suitability as a DataFrame labelled by worker").
    alice, ws = _setup(net)
    ex = np.zeros((len(ITEMS), 4), bool)
    ex[0, :3] = True  # item 0: only cat (the last listed)
    for frame in (pd.DataFrame({"item": [0, 0, 0], "worker": ["zed", "amy", "bob"]}),
                  pd.DataFrame({"item": [0, 0, 0], "worker": [ws[0].address, ws[1], "bob"]}),
                  pd.DataFrame(ex[:, [3, 0, 2, 1]], columns=["cat", "zed", "bob", "amy"])):
        a = _publish(net, alice).assign(ws, capacity=2, exclude=frame)
        assert a[a.item_id == 0].worker.tolist() == ["cat"]
    with pytest.raises(errors.InvalidArgument, match="exclude names 'dan', which is not one of the listed workers"):
        _publish(net, alice).assign(ws, capacity=2, exclude=pd.DataFrame({"item": [0], "worker": ["dan"]}))


@pytest.mark.parametrize("nothing", [[], np.zeros((len(ITEMS), 4), bool)], ids=["empty-list", "all-false"])
def test_an_exclude_of_nothing_takes_the_linear_rule_not_the_solver(net, monkeypatch, nothing) -> None:
    # (the solver took 113 s at 20,000 x 50 where the rule without exclusions is linear)
    calls = []
    real = task_module.solve_assignment
    monkeypatch.setattr(task_module, "solve_assignment", lambda *a, **k: calls.append(1) or real(*a, **k))
    alice, ws = _setup(net)
    _publish(net, alice).assign(ws, capacity=2, exclude=nothing)
    assert calls == []
