"""Building Arrow string columns from numpy arrays without a Python loop per row.

Millions of ids and Chinese texts are made per chunk, so strings are assembled as bytes in numpy
(fixed-width ids) or by Arrow's C++ kernels (vocabulary look-ups and element-wise joins).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# "0000".."9999" as 4-byte words: one gather writes four digits at once.
_QUADS = np.frombuffer(b"".join(f"{i:04d}".encode() for i in range(10_000)), dtype=np.uint32)


def fixed_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.StringArray:
    """`prefix` + zero-padded `numbers` (e.g. 'O' + 000001234), built as one byte matrix."""
    numbers = np.asarray(numbers, dtype=np.int64)
    n = numbers.size
    if n and (int(numbers.min()) < 0 or int(numbers.max()) >= 10**width):
        raise ValueError(f"ids must lie in [0, 10**{width})")
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    groups = -(-width // 4)
    # uint32 division is several times faster than int64 division in numpy.
    rest = numbers.astype(np.uint32) if (n == 0 or numbers.max() < 2**32) else numbers.astype(np.uint64)
    quads = np.empty((n, groups), dtype=np.uint32)
    for group in range(groups - 1, -1, -1):
        quotient = rest // 10_000
        quads[:, group] = _QUADS[rest - quotient * 10_000]
        rest = quotient
    digits = quads.view(np.uint8).reshape(n, groups * 4)
    row = head.size + width
    matrix = np.empty((n, row), dtype=np.uint8)
    matrix[:, : head.size] = head
    matrix[:, head.size :] = digits[:, groups * 4 - width :]
    offsets = np.arange(0, (n + 1) * row, row, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(matrix))


def digit_strings(rng: np.random.Generator, n: int, width: int) -> pa.StringArray:
    """`n` random strings of `width` decimal digits (phone tails, house numbers)."""
    matrix = rng.integers(ord("0"), ord("9") + 1, size=(n, width), dtype=np.uint8)
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(matrix.tobytes()))


def pick(vocabulary: pa.Array | list[str], index: np.ndarray) -> pa.Array:
    """vocabulary[index] as a plain string column."""
    vocab = vocabulary if isinstance(vocabulary, pa.Array) else pa.array(vocabulary, pa.string())
    return vocab.take(pa.array(np.asarray(index, dtype=np.int64)))


def join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of string columns (and literal strings) without separators."""
    return pc.binary_join_element_wise(*parts, "")


def with_nulls(values: pa.Array, null_mask: np.ndarray) -> pa.Array:
    """`values` with nulls where `null_mask` is true (optional fields a shop leaves empty)."""
    return pc.if_else(pa.array(null_mask), pa.nulls(len(values), values.type), values)
