"""The local embedding model: WordLlama ``l2_supercat`` (256 dimensions), run in process from the
files its wheel ships, with no network.

The model is a table of token embeddings (one 256-float row per token of a 32k-token vocabulary):
a text's embedding is the mean of its tokens' rows, normalised. The ``wordllama`` package's own
loader is not used: it looks for a ``tokenizer/`` folder where its wheel has ``tokenizers/`` and
then downloads, and importing it configures the root logger. Its two packaged files (weights in
safetensors, a ``tokenizers`` JSON) are read directly, located without importing the package.

The first dimensions carry the most information (the model is trained "Matryoshka"-style at 64,
128 and 256), so ``dimensions`` keeps a prefix and normalises it again.
"""

from __future__ import annotations

import importlib.util
import itertools
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from claudegate.errors import UserError

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from tokenizers import Tokenizer

__all__ = ["LOCAL_MODEL", "LOCAL_MODEL_NAMES", "LocalEmbedder", "local_embedder"]

LOCAL_MODEL = "wordllama-l2-supercat-256"
"""The local model's descriptive name (it is also served as ``local``)."""
LOCAL_MODEL_NAMES = ("local", LOCAL_MODEL)

_WEIGHTS = "weights/l2_supercat_256.safetensors"
_TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"
_TENSOR = "embedding.weight"
_BATCH = 128


def _package_dir() -> Path:
    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the local embedding model needs the wordllama package (pip install wordllama)",
            field="model",
        )
    return Path(next(iter(spec.submodule_search_locations)))


class LocalEmbedder:
    """Embeds texts with the packaged WordLlama model. Thread-safe; load it once (``local_embedder``)."""

    dimensions = 256
    name = LOCAL_MODEL

    def __init__(self, directory: Path | None = None) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        root = directory or _package_dir()
        weights = load_file(str(root / _WEIGHTS))[_TENSOR]
        self._table: NDArray[np.float32] = np.ascontiguousarray(weights, dtype=np.float32)
        tokenizer: Tokenizer = Tokenizer.from_file(str(root / _TOKENIZER))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self._tokenizer = tokenizer

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Each text's token ids."""
        encoded = self._tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        return [item.ids for item in encoded]

    def count_tokens(self, texts: list[str]) -> list[int]:
        """How many tokens each text has (what usage reports)."""
        return [len(ids) for ids in self.token_ids(texts)]

    def embed_ids(self, ids: list[list[int]], dimensions: int | None = None) -> NDArray[np.float32]:
        """Unit vectors (one row per text) of already tokenised texts; an empty text is all zeros."""
        width = dimensions or self.dimensions
        out = np.zeros((len(ids), self.dimensions), dtype=np.float32)
        for start in range(0, len(ids), _BATCH):  # batches keep the gathered rows in cache
            self._pool(ids[start : start + _BATCH], out[start : start + _BATCH])
        if width != self.dimensions:
            out = np.ascontiguousarray(out[:, :width])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def _pool(self, ids: list[list[int]], out: NDArray[np.float32]) -> None:
        """The sum of each text's token rows into ``out``."""
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        total = int(lengths.sum())
        if not total:
            return
        flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=total)
        np.clip(flat, 0, self._table.shape[0] - 1, out=flat)
        rows = self._table[flat]
        filled = lengths > 0
        starts = (np.cumsum(lengths) - lengths)[filled]
        out[filled] = np.add.reduceat(rows, starts, axis=0)

    def embed(self, texts: list[str], dimensions: int | None = None) -> NDArray[np.float32]:
        """Unit vectors, one row per text (``dimensions``: a prefix of the 256, renormalised)."""
        return self.embed_ids(self.token_ids(texts), dimensions)


_lock = threading.Lock()
_loaded: LocalEmbedder | None = None


def local_embedder() -> LocalEmbedder:
    """The process's one ``LocalEmbedder`` (loaded on first use: about 18 MB, well under a second)."""
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = LocalEmbedder()
        return _loaded
