"""tg.match's Catalog and Category off the happy path: ids with surrounding whitespace,
categories with only blank text, catalog files with a byte-order mark or a repeated id,
and a directory given as a catalog path."""

from __future__ import annotations

import json

import pytest

from tagger import errors
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
