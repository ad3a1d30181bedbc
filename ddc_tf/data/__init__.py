"""Data sets as `tf.data` pipelines: named sources, bring-your-own files, streaming.

Public API:
- `load_arrays(source, n_clusters=None, **options) -> ArrayData`: a `KNOWN_SOURCES` name
  or a path (`.npz`, `.npy`, `.csv`/`.tsv`, IDX folder, image folder), validated once;
- `to_dataset(data, batch_size=100, shuffle=True, seed=0, ...) -> tf.data.Dataset`;
- `load(source, ...) -> (tf.data.Dataset, ArrayData)`: both at once;
- `write_shards(source, out_dir)` / `stream_dataset(out_dir, ...)`: TFRecord shards for
  data that does not fit in memory.

Example:
    >>> from ddc_tf.data import load
    >>> ds, data = load("digits", batch_size=100)
    >>> data.x.shape, data.n_classes
    ((1797, 64), 10)
"""

from ddc_tf.data.arrays import ArrayData, check_n_clusters
from ddc_tf.data.pipeline import to_dataset
from ddc_tf.data.sources import KNOWN_SOURCES, load, load_arrays
from ddc_tf.data.streaming import stream_dataset, write_shards

__all__ = [
    "ArrayData",
    "KNOWN_SOURCES",
    "check_n_clusters",
    "load",
    "load_arrays",
    "stream_dataset",
    "to_dataset",
    "write_shards",
]
