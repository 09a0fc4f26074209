"""Small vectorised helpers for text keys, where pandas would loop in Python.

Household ids are text; joining on them row by row is the costliest thing a book does. These
helpers hash them once, in Arrow, and hand back positions that numpy can count and sum with.
"""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def arrow_text(values) -> pa.Array | pa.ChunkedArray:
    """Text values as an Arrow array; Arrow-backed pandas text is passed on without a copy."""
    array = getattr(values, "array", None)
    if isinstance(getattr(array, "dtype", None), pd.StringDtype) \
            and array.dtype.storage == "pyarrow":
        return pa.array(array)
    if isinstance(values, set | frozenset):
        values = list(values)
    return pa.array(np.asarray(values, dtype=object), type=pa.large_string(), from_pandas=True)


def member_of(values: pd.Series | pd.Index, allowed) -> np.ndarray:
    """Whether each text value is among `allowed` (missing values never are)."""
    column, choices = arrow_text(values), arrow_text(allowed)
    if column.type != choices.type:
        choices = choices.cast(column.type)
    found = pc.is_in(column, value_set=choices.drop_null())
    return found.fill_null(False).to_numpy(zero_copy_only=False)


def positions(keys: pd.Series, index: pd.Index) -> np.ndarray:
    """The position of each key in `index` (unique text), -1 where it is missing or absent."""
    return positions_of([keys], index)[0]


def positions_of(columns: list[pd.Series], index: pd.Index) -> list[np.ndarray]:
    """`positions` for several key columns at once: the index is hashed once, not per column."""
    choices = arrow_text(index)
    chunks = []
    for column in columns:
        array = arrow_text(column)
        array = array.cast(choices.type) if array.type != choices.type else array
        chunks += array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    found = pc.index_in(pa.chunked_array(chunks, type=choices.type), value_set=choices)
    flat = found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return np.split(flat, np.cumsum([len(c) for c in columns])[:-1])


def each_once(values: pd.Series) -> pd.Series:
    """True where a text value appears on no other row (missing values count as one value).

    `Series.duplicated(keep=False)` says the same, but hashes Arrow text through pandas'
    factorize, several times slower on millions of ids. CRMs mostly hand out ids in order,
    so a column that is nearly sorted already is sorted and its neighbours compared: a hash
    table of every id would cost far more memory than the sort's positions.
    """
    if len(values) == 0:
        return pd.Series(True, index=values.index, dtype=bool)
    try:
        text = arrow_text(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # not text: pandera reports the type
        return ~values.duplicated(keep=False)
    text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    descents = pc.sum(pc.less_equal(text[1:], text[:-1])).as_py() or 0
    if descents == 0 and text.null_count == 0:  # strictly increasing: no id can repeat
        return pd.Series(True, index=values.index, dtype=bool)
    if descents > len(text) // 100:
        codes = pc.dictionary_encode(text, null_encoding="encode").indices.to_numpy(
            zero_copy_only=False)
        return pd.Series(np.bincount(codes)[codes] == 1, index=values.index)
    order = pc.sort_indices(text).to_numpy()  # missing values last
    ranked = text.take(order)
    same = pc.fill_null(pc.equal(ranked[1:], ranked[:-1]), False).to_numpy(zero_copy_only=False)
    nulls = text.null_count
    if nulls:  # at the end of the order; missing ids are one value between them
        same[len(text) - nulls:] = nulls > 1
    repeated = np.zeros(len(text), dtype=bool)
    repeated[1:] |= same
    repeated[:-1] |= same
    once = np.empty(len(text), dtype=bool)
    once[order] = ~repeated
    return pd.Series(once, index=values.index)


def count_by(pos: np.ndarray, size: int, where: np.ndarray | None = None) -> np.ndarray:
    """How many rows fall on each position (rows at -1 or outside `where` are not counted)."""
    keep = pos >= 0 if where is None else (pos >= 0) & where
    return np.bincount(pos[keep], minlength=size)


def flag_table(pos: np.ndarray, codes: pd.Series, index: pd.Index,
               columns: list[str]) -> pd.DataFrame:
    """Booleans, one column per code: does the household (row) have a row with that code?

    `pos` places each row on its household (see `positions`).
    """
    out = {}
    for code in columns:
        out[code] = count_by(pos, len(index), (codes == code).fillna(False).to_numpy()) > 0
    return pd.DataFrame(out, index=index)
