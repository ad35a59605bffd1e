"""load_table refuses bad files with one clear line; profile_table describes columns and target."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from mlpilot.engine.data import DataError, DataProfile, load_table, profile_table


def _error(path, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        load_table(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message and ": " in message  # one line: the problem, then what to do
    return message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (b"  \n\t\n  ", "is empty"),
        (b"a,b,c\n", "has a header but no rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "looks binary"),
        (b"a,b\n1,2\n3,4,5,6\n", "could not be parsed as CSV"),
    ],
    ids=["zero-bytes", "whitespace", "header-only", "binary", "ragged"],
)
def test_bad_files_raise_data_error(tmp_path, content, expected):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    message = _error(path)
    assert expected in message and "data.csv" in message


def test_missing_file_and_directory(tmp_path):
    assert "does not exist" in _error(tmp_path / "nope.csv")
    assert "is a directory" in _error(tmp_path)


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "data.parquet"
    path.write_text("this is not parquet\n")
    assert "could not be read as Parquet" in _error(path)


def test_header_only_parquet(tmp_path):
    path = tmp_path / "empty.parquet"
    pd.DataFrame({"a": pd.Series([], dtype=float)}).to_parquet(path)
    assert "has a header but no rows" in _error(path)


def test_sniffs_delimiters_strips_names_and_reads_na_values(tmp_path):
    semicolon = tmp_path / "semi.csv"
    semicolon.write_text(" a ;b;c \n1;x;?\n2;y;3\n")
    df = load_table(semicolon, na_values=["?"])
    assert list(df.columns) == ["a", "b", "c"]
    assert df["c"].isna().tolist() == [True, False]
    tsv = tmp_path / "tabs.tsv"
    tsv.write_text("a\tb\n1\t2\n")
    assert load_table(tsv).shape == (1, 2)


def test_parquet_roundtrip_with_na_values(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"a": [1.0, 2.0], "b": ["?", "u"]}).to_parquet(path)
    df = load_table(path, na_values=["?"])
    assert df["a"].tolist() == [1.0, 2.0] and df["b"].isna().tolist() == [True, False]


def test_latin1_csv(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("city,n\nK\xf6ln,1\nZ\xfcrich,2\n".encode("latin-1"))
    assert load_table(path)["city"].tolist() == ["Köln", "Zürich"]


@pytest.fixture
def mixed_df() -> pd.DataFrame:
    n = 40
    rng = np.random.default_rng(1)
    return pd.DataFrame({
        "id": np.arange(n),
        "amount": np.r_[rng.normal(size=n - 2), [np.nan, np.nan]],
        "flag": rng.random(n) > 0.5,
        "answer": rng.choice(["yes", "no"], size=n),
        "month": rng.choice(["may", "jun", "jul"], size=n),
        "when": [f"2021-03-{d:02d}" for d in rng.integers(1, 28, size=n)],
        "comment": [f"customer {i} wrote a long free-text remark" for i in range(n)],
        "code": rng.choice(["A11", "A12"], size=n),
        "const": ["k"] * n,
        "label": rng.choice(["a", "b", "c"], size=n, p=[0.6, 0.3, 0.1]),
    })


def test_profile_kinds_without_warnings(mixed_df):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # datetime sniffing must not spam warnings
        profile = profile_table(mixed_df)
    kinds = {c.name: c.kind for c in profile.columns}
    assert kinds == {
        "id": "numeric", "amount": "numeric", "flag": "boolean", "answer": "categorical",
        "month": "categorical", "when": "datetime", "comment": "text", "code": "categorical",
        "const": "categorical", "label": "categorical",
    }


def test_profile_column_details(mixed_df):
    profile = profile_table(mixed_df)
    ident, amount, const = profile.column("id"), profile.column("amount"), profile.column("const")
    assert ident.is_integer and ident.is_monotonic and ident.unique_fraction == 1.0
    assert (ident.min, ident.max, ident.mean) == (0.0, 39.0, 19.5)
    assert amount.n_missing == 2 and amount.missing_fraction == pytest.approx(0.05)
    assert not amount.is_integer and not amount.is_monotonic
    assert const.is_constant and const.min is None and const.examples == ["k"]
    assert len(profile.column("comment").examples) == 5
    assert profile.column("nope") is None
    assert (profile.n_rows, profile.n_columns) == (40, 10)


def test_profile_is_json_roundtrippable(mixed_df):
    profile = profile_table(mixed_df, target="label")
    again = DataProfile.model_validate(json.loads(profile.model_dump_json()))
    assert again == profile


def test_target_profile_class_counts(mixed_df):
    target = profile_table(mixed_df, target="label").target
    counts = mixed_df["label"].value_counts()
    assert target.class_counts == {k: int(v) for k, v in counts.items()}
    assert target.imbalance_ratio == pytest.approx(counts.min() / counts.max())


def test_target_profile_integer_and_continuous():
    df = pd.DataFrame({"grade": [1.0, 2.0, 2.0, np.nan], "price": [1.5, 2.25, 3.0, 9.0]})
    grade = profile_table(df, target="grade").target
    assert grade.class_counts == {"2": 2, "1": 1} and grade.imbalance_ratio == 0.5
    price = profile_table(df, target="price").target
    assert price.class_counts == {} and price.imbalance_ratio is None


def test_unknown_target_is_data_error(mixed_df):
    with pytest.raises(DataError, match="target column 'nope' is not in the data"):
        profile_table(mixed_df, target="nope")


def test_penguins_profile(penguins_df):
    profile = profile_table(penguins_df, target="species")
    assert profile.target.class_counts == {"Adelie": 152, "Gentoo": 124, "Chinstrap": 68}
    assert profile.column("sex").n_missing == 11
    assert profile.column("body_mass_g").kind == "numeric"
