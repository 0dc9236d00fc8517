"""What a generation must hold, and the checks that its manifest passes before use.

Every file is listed in the manifest with its SHA-256; `checked` refuses one whose bytes differ.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from qa.errors import StoreError

#: 2: the lexical index, the sentence vectors (.npy) and the token lists are stored, not rebuilt;
#: 3: sentence_rows.npy, so that passage records are parsed on first use, not at load; repeats.jsonl
FORMAT_VERSION = 3
MANIFEST = "manifest.json"
#: bm25s's own files, in each of passages.bm25/ and sentences.bm25/
BM25_FILES = ("params.index.json", "vocab.index.json", "data.csc.index.npy", "indices.csc.index.npy",
              "indptr.csc.index.npy")
LEXICAL = ("passages.bm25", "sentences.bm25")
FILES = ("passages.jsonl", "sentence_rows.npy", "passages.faiss", "sentences.npy", "tokens.jsonl", "repeats.jsonl",
         *(f"{folder}/{name}" for folder in LEXICAL for name in BM25_FILES))
REBUILD = "rebuild it with `qa index --force`"
#: the answer scorer's sentence vectors: a generation holds them when its manifest has a "scorer"
#: entry ({"fingerprint": the scorer's, "dim": its vectors' size}), listed in "files" like the others
SCORER_FILE = "scorer.npy"


class OldFormat(StoreError):
    """A generation an earlier qa wrote: rebuilt from the corpus when there is one, else refused."""

    def __init__(self, message: str, version: int) -> None:
        super().__init__(message)
        self.version = version


def read_manifest(gen: Path) -> dict[str, Any]:
    """The generation's manifest, checked for shape; StoreError naming the file otherwise."""
    path = gen / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise StoreError(f"index manifest missing: {path}; {REBUILD}") from e
    except OSError as e:
        raise StoreError(f"index manifest {path} is unreadable ({e.strerror or e}); {REBUILD}") from e
    except ValueError as e:
        raise StoreError(f"index manifest {path} is not valid JSON; {REBUILD}") from e
    if not isinstance(manifest, dict):
        raise StoreError(f"index manifest {path} is not a JSON object; {REBUILD}")
    version = manifest.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise StoreError(
            f"index manifest {path} has format version {version}, newer than this qa reads "
            f"({FORMAT_VERSION}): upgrade qa, or {REBUILD}"
        )
    if isinstance(version, int) and not isinstance(version, bool) and 1 <= version < FORMAT_VERSION:
        raise OldFormat(
            f"index manifest {path} has format version {version}, older than this qa's "
            f"({FORMAT_VERSION}); {REBUILD}",
            version,
        )
    if version != FORMAT_VERSION:
        raise StoreError(
            f"index manifest {path} has format version {version!r}; this qa reads version "
            f"{FORMAT_VERSION}; {REBUILD}"
        )
    problem = _manifest_problem(manifest)
    if problem:
        raise StoreError(f"index manifest {path} is damaged ({problem}); {REBUILD}")
    return manifest


#: the vector index kinds a manifest may record and their positive integer parameters ("ivf": before 4 sqrt(N) lists)
VECTOR_PARAMETERS = {"flat": (), "ivf": ("nlist", "nprobe"), "ivf_hnsw": ("nlist", "nprobe", "m", "ef_search")}


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _manifest_problem(m: dict[str, Any]) -> str | None:
    """What is wrong with a manifest's shape (the fields load and the interfaces rely on), or None."""
    model, files, counts = m.get("model"), m.get("files"), m.get("counts")
    if not isinstance(model, dict) or not isinstance(model.get("name"), str):
        return "no model name"
    if not _is_int(model.get("dim")) or not 0 < model["dim"] <= 65536:
        return "no valid model dimension"
    if not isinstance(files, dict) or any(not isinstance(files.get(n), str) for n in FILES):
        return "no checksum for every index file"
    if not isinstance(counts, dict) or any(not _is_int(counts.get(k)) or counts[k] < 0 for k in ("passages", "sentences")):
        return "no valid passage and sentence counts"
    if "scorer" in m:
        scorer = m["scorer"]
        if not isinstance(scorer, dict) or not isinstance(scorer.get("fingerprint"), str) \
                or not _is_int(scorer.get("dim")) or not 0 < scorer["dim"] <= 65536:
            return "a malformed answer scorer entry"
        if not isinstance(files.get(SCORER_FILE), str):
            return "no checksum for every index file"
    if not isinstance(m.get("chunking"), dict):
        return "no chunking settings"
    how = m.get("vector_index")
    if not isinstance(how, dict) or how.get("kind") not in VECTOR_PARAMETERS or not all(
        _is_int(how.get(k)) and how[k] > 0 for k in VECTOR_PARAMETERS[how["kind"]]
    ):
        return "no valid vector index kind"
    documents = m.get("documents", [])
    if not isinstance(documents, list) or not all(
        isinstance(d, dict)
        and isinstance(d.get("doc"), str)
        and isinstance(d.get("title"), str)
        and _is_int(d.get("passages"))
        and _is_int(d.get("characters"))
        for d in documents
    ):
        return "a malformed document entry"
    if not isinstance(m.get("sources", {}), dict):
        return "malformed sources"
    return None


def verified(gen: Path, files: dict[str, Any], name: str) -> None:
    """Refuses a generation file whose SHA-256 is not the manifest's, reading it in blocks."""
    path = gen / name
    try:
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as e:
        raise StoreError(f"index file {path} is missing or unreadable; {REBUILD}") from e
    if digest != files.get(name):
        raise StoreError(f"index corrupt (checksum mismatch in {path}); {REBUILD}")


def checked(gen: Path, files: dict[str, Any], name: str) -> bytes:
    """A generation file's bytes, refused unless their SHA-256 is the manifest's."""
    path = gen / name
    try:
        data = path.read_bytes()
    except OSError as e:
        raise StoreError(f"index file {path} is missing or unreadable; {REBUILD}") from e
    if hashlib.sha256(data).hexdigest() != files.get(name):
        raise StoreError(f"index corrupt (checksum mismatch in {path}); {REBUILD}")
    return data
