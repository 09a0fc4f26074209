"""Small vectorised helpers for text columns, where pandas would loop in Python."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def member_of(values: pd.Series | pd.Index, allowed) -> np.ndarray:
    """Whether each text value is among `allowed` (missing values never are).

    pandas' own `isin` on Arrow-backed text builds one Python object per allowed value;
    Arrow's hash lookup does the same work in C.
    """
    column = pa.array(np.asarray(values, dtype=object), type=pa.large_string(), from_pandas=True)
    if not isinstance(allowed, pd.Series | pd.Index | np.ndarray | list):
        allowed = list(allowed)
    choices = pa.array(np.asarray(allowed, dtype=object), type=pa.large_string(),
                       from_pandas=True)
    found = pc.is_in(column, value_set=choices.drop_null())
    return found.fill_null(False).to_numpy(zero_copy_only=False)


def flag_table(keys: pd.Series, codes: pd.Series, index: pd.Index,
               columns: list[str]) -> pd.DataFrame:
    """Booleans, one column per code: does the household (row) have a row with that code?"""
    out = {}
    for code in columns:
        holders = keys[(codes == code).fillna(False).to_numpy()]
        out[code] = member_of(index, holders.dropna().unique())
    return pd.DataFrame(out, index=index)
