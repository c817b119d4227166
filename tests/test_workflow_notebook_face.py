"""What a notebook user touches around the workflow: exports, reprs, plots, top-level names."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

import tagger as tg

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def finished():
    net = tg.Network.memory()
    rng = np.random.default_rng(1)
    alice = net.create_account("alice", fund=1_000 * tg.TAG)
    workers = [net.create_account(f"w{i}", fund=20 * tg.TAG) for i in range(5)]
    items = pd.Series([f"text number {i}" for i in range(30)], index=[f"it{i}" for i in range(30)])
    truth = pd.Series(rng.choice(["a", "b"], 30), index=items.index)
    task = net.publish_task(owner=alice, title="Binary labels", description="Pick a or b for each short text.",
                            labels=["a", "b"], items=items, overlap=3, budget=90 * tg.TAG, gold=truth[:6].to_dict(),
                            method="glad")
    asg = task.assign(workers)
    asg["label"] = np.where(rng.random(len(asg)) < 0.9, truth.reindex(asg["item_id"]).to_numpy(), "a")
    task.submit_many(asg[["item_id", "worker", "label"]])
    res = task.finalize("glad")
    nft = task.mint_nft()
    return net, task, res, nft


def test_item_ids_from_the_series_index_are_kept(finished):
    net, task, res, nft = finished
    assert set(res.labels.index) == {f"it{i}" for i in range(30)}
    assert tg.verify_proof(nft.prove("it3"), nft.manifest)
    with pytest.raises(tg.errors.InvalidArgument, match="not in this dataset"):
        nft.prove("nope")


def test_exports(finished, tmp_path):
    net, task, res, nft = finished
    ds = net.dataset(nft, as_account="alice")
    df = ds.to_pandas()
    assert list(df.columns) == ["item_id", "data", "label", "confidence"] and len(ds) == 30
    back = pd.read_parquet(ds.to_parquet(tmp_path / "d.parquet"))
    assert back.equals(df)
    lines = (tmp_path / "d.jsonl").read_text() if ds.to_jsonl(tmp_path / "d.jsonl") else ""
    rows = [json.loads(x) for x in lines.splitlines()]
    assert len(rows) == 30 and rows[0]["item_id"] == df["item_id"][0]
    for name in ("to_hf_dataset", "to_torch"):
        try:
            out = getattr(ds, name)()
        except ImportError as e:
            assert "pip install" in str(e)
        else:
            assert len(out) == 30


def test_reprs_and_html(finished):
    net, task, res, nft = finished
    listing = net.market.list(nft, price=10 * tg.TAG, kind="license")
    for obj in (net, net.account("alice"), task, res, nft, listing, net.market, net.dataset(nft, as_account="alice")):
        assert repr(obj) and "\n" not in repr(obj), type(obj)
        html = obj._repr_html_()
        assert html.startswith("<div>") and "</table>" in html, type(obj)
    net.market.cancel(listing)


def test_plots(finished):
    net, task, res, nft = finished
    fig = res.plot()
    assert len(fig.axes) == 3
    fig2 = net.plot_flows()
    assert len(fig2.axes) == 2
    import matplotlib.pyplot as plt
    _, three = plt.subplots(1, 3)
    assert res.plot(ax=three) is three[0].figure
    _, one = plt.subplots()
    with pytest.raises(tg.errors.InvalidArgument, match="three panels: pass ax= three Axes"):
        res.plot(ax=one)  # (numpy's IndexError, after drawing the first panel)
    plt.close("all")


def test_metadata_is_erc721_json(finished):
    net, task, res, nft = finished
    meta = json.loads(nft.metadata_json())
    assert meta["name"] == "Binary labels" and isinstance(meta["attributes"], list)
    assert bytes.fromhex(meta["manifest_hash"]) == net.ledger.nft(nft.id)["manifest_hash"]
