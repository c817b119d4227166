"""tg.match's Catalog and Category off the happy path: ids with surrounding whitespace,
categories with only blank text, catalog files with a byte-order mark or a repeated id,
and a directory given as a catalog path."""

from __future__ import annotations

import hashlib
import json
import pickle

import pytest

from tagger import _match_io, errors
from tagger.match import Catalog, Category, CategoryIndex


@pytest.mark.parametrize("cid", ["  text/x  ", "text/x ", "\ttext/x"])
def test_a_category_id_with_surrounding_whitespace_is_refused(cid) -> None:
    # Kept, it gave the modality "  text" and made "text/x " and "text/x" two categories.
    with pytest.raises(errors.InvalidArgument, match="leading or trailing whitespace"):
        Category(id=cid, description="d")


def test_a_category_with_only_blank_text_is_refused_when_built() -> None:
    # Accepted here, it was refused later by CategoryIndex.from_catalog in the core's words.
    with pytest.raises(errors.InvalidArgument, match="'t/x' has neither a description nor examples"):
        Category(id="t/x", description="  ", examples=["  ", "", "\n"])
    assert Category(id="t/x", description="  ", examples=["", "dogs"]).examples == ("", "dogs")


def test_a_catalog_file_with_a_byte_order_mark_loads(tmp_path) -> None:
    p = tmp_path / "bom.json"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps([{"id": "a/b", "description": "x"}]).encode())
    assert Catalog.load(p).ids == ["a/b"]


def test_a_repeated_id_in_a_catalog_file_names_the_file_and_the_entries(tmp_path) -> None:
    p = tmp_path / "dup.json"
    p.write_text(json.dumps({"categories": [{"id": "a/b", "description": "x"}, {"id": "c/d", "description": "y"},
                                            {"id": "a/b", "description": "z"}]}))
    with pytest.raises(errors.InvalidArgument, match=r"dup\.json: duplicate category id 'a/b' \(entries 0 and 2\)"):
        Catalog.load(p)


def test_a_directory_as_a_catalog_path_suggests_a_catalog_file_name(tmp_path) -> None:
    # The hint was the CategoryIndex's 'intents.tgix'.
    with pytest.raises(errors.InvalidArgument, match="is a directory; give a catalog file name.*catalog.json"):
        Catalog.load(tmp_path)
    with pytest.raises(errors.InvalidArgument, match="catalog.json"):
        Catalog([Category(id="a/b", description="x")]).save(tmp_path)


def test_the_shipped_catalog_still_builds() -> None:
    assert len(Catalog.default()) == len(CategoryIndex.default().categories)


@pytest.mark.parametrize("path", [123, b"/tmp/catalog.json", None, 1.5])
def test_a_catalog_path_of_another_type_is_refused_by_name(path) -> None:
    # The directory check ran first: Path(123) raised a bare TypeError.
    catalog = Catalog([Category(id="a/b", description="x")])
    with pytest.raises(errors.InvalidArgument, match=f"path must be a str or os.PathLike, got {type(path).__name__}"):
        catalog.save(path)
    if path is not None:  # load(None) is the shipped catalog
        with pytest.raises(errors.InvalidArgument, match="path must be a str or os.PathLike"):
            Catalog.load(path)


def test_a_catalog_saves_and_loads_through_a_pathlike_and_a_str(tmp_path) -> None:
    catalog = Catalog([Category(id="a/b", description="x")])
    catalog.save(tmp_path / "c.json")
    assert Catalog.load(str(tmp_path / "c.json")).ids == ["a/b"]


def _saved_before_the_whitespace_check(ids) -> bytes:
    """A saved catalog index whose category ids are ``ids``, as a release that accepted ids
    with surrounding whitespace wrote it (the header rewritten, its checksum redone)."""
    cats = [{"id": cid.strip(), "description": d}
            for cid, d in zip(ids, ["positive or negative opinion of a product review", "unsolicited bulk email advertising"])]
    data = CategoryIndex.from_catalog(Catalog(cats)).to_bytes()
    magic, version, size = _match_io._HEAD.unpack_from(data)
    header = json.loads(data[_match_io._HEAD.size:_match_io._HEAD.size + size])
    for entry, cid in zip(header["catalog"], ids):
        entry["id"] = cid
    head = json.dumps(header).encode()
    body = _match_io._HEAD.pack(magic, version, len(head)) + head + data[_match_io._HEAD.size + size:-_match_io._DIGEST]
    return body + hashlib.sha256(body).digest()


def test_an_index_saved_with_a_whitespace_id_before_it_was_refused_still_opens(tmp_path) -> None:
    # CategoryIndex.load raised "category id 'text/spam ' has leading or trailing whitespace".
    data = _saved_before_the_whitespace_check(["text/sentiment", "text/spam "])
    (tmp_path / "old.tgix").write_bytes(data)
    for idx in (CategoryIndex.load(tmp_path / "old.tgix"), CategoryIndex.from_bytes(data)):
        assert idx.categories == ["text/sentiment", "text/spam "]
        assert idx.top_k("buy cheap pills now", k=1)[0][0] == "text/spam "
        assert pickle.loads(pickle.dumps(idx)).categories == idx.categories
    with pytest.raises(errors.InvalidArgument, match="leading or trailing whitespace"):
        Category(id="text/spam ", description="d")  # a new category is still refused


def test_a_catalog_file_saved_with_a_whitespace_id_still_loads(tmp_path) -> None:
    p = tmp_path / "old.json"
    p.write_text(json.dumps({"categories": [{"id": " text/x", "description": "x", "modality": " text"}]}))
    assert Catalog.load(p).ids == [" text/x"]
    with pytest.raises(errors.InvalidArgument, match="leading or trailing whitespace"):
        Catalog([{"id": " text/x", "description": "x"}])
