"""The ONNX export of the bundled model: built once with torch, kept in a cache folder, checked on load.

    $QA_MODEL_CACHE (default $QA_HOME/models, default ~/.qa/models)/
      minilm-<weights sha256[:16]>-v<EXPORT_VERSION>/
        model.onnx        the encoder with mean pooling and L2 normalisation inside the graph,
                          already optimised by onnxruntime (fused attention, layer norm, GELU)
        model.onnx.data   its weights, beside it so onnxruntime maps them instead of parsing them
        export.json       what it was built from, and the SHA-256 of both files
        model-int8.onnx   the same graph with its matrix products in int8 (weights per channel,
                          activations per run) and a second output, the last layer's token states,
                          from which each sentence's vector is pooled: what an index build embeds
                          with; made from the checked model.onnx without torch, on first use
        model-int8.onnx.data  its weights, beside it (mapped, as the float export's: read from one
                          file, onnxruntime held ~90 MB more at its peak while loading it, ~50 MB after)
        int8.json         what it was made from (export.json's SHA-256s) and the SHA-256 of both

Derived from the installed weights on the user's machine, never shipped. Every file is written under
a temporary name, fsynced and renamed, export.json last, so a crash leaves either no export (it is
built again) or a complete one. The export is trusted only when export.json names this model's
weights and both files have the SHA-256 it records; the loader also compares a canary vector.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

from qa.config import MODEL_NAME
from qa.disk import writer_lock
from qa.errors import ModelError
from qa.places import model_cache

#: bump when the exported graph changes: a new folder is built, an old one is left alone
EXPORT_VERSION = 1
OPSET = 17
ONNX_FILE = "model.onnx"
DATA_FILE = "model.onnx.data"
FILES = (ONNX_FILE, DATA_FILE)
RECORD = "export.json"
CACHE_ENV = "QA_MODEL_CACHE"
INPUTS = ("input_ids", "attention_mask")
#: the weights file whose size and time are recorded, so a load can tell it was not touched since
WEIGHTS = "model.safetensors"
#: the int8 copy an index build embeds with (qa.models.ortmodel.OnnxEncoder.bulk), and its record
INT8_FILE = "model-int8.onnx"
INT8_DATA = "model-int8.onnx.data"
INT8_FILES = (INT8_FILE, INT8_DATA)
INT8_RECORD = "int8.json"
#: bump when the int8 recipe changes: the copy is made again (3: its weights in a file of their own)
INT8_VERSION = 3
#: the int8 copy's second output: the last layer's token states (batch, tokens, 384), before pooling
TOKENS_OUTPUT = "tokens"
#: what is quantized: only the matrix products' weights, one scale per output channel. Measured on
#: the SQuAD documents (docs/benchmarks.md): cosine to the float vectors 0.994 (median); quantizing
#: every op the tool knows (per tensor) gave 0.958, too far
INT8_OPTIONS: dict[str, Any] = {"op_types_to_quantize": ["MatMul"], "per_channel": True, "weight_type": "QInt8"}


def cache_root() -> Path:
    return model_cache().path  # $QA_MODEL_CACHE, else $QA_HOME/models, else ~/.qa/models


def export_dir(fingerprint: str) -> Path:
    return cache_root() / f"minilm-{fingerprint[:16]}-v{EXPORT_VERSION}"


def weights_stat(folder: Path) -> dict[str, Any] | None:
    """Where the weights are and their size and modification time: unchanged means not rewritten."""
    try:
        st = (folder / WEIGHTS).stat()
    except OSError:
        return None
    return {"path": str(folder / WEIGHTS), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def read_record(where: Path, fingerprint: str) -> tuple[dict[str, Any] | None, str]:
    """The export's record when it fits these weights, else None and why (missing, foreign, damaged)."""
    try:
        record = json.loads((where / RECORD).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "missing"
    except (OSError, ValueError):
        return None, f"{where / RECORD} is unreadable"
    files = record.get("files") if isinstance(record, dict) else None
    if not isinstance(files, dict) or not all(isinstance(files.get(n), str) for n in FILES):
        return None, f"{where / RECORD} is damaged"
    if record.get("fingerprint") != fingerprint or record.get("version") != EXPORT_VERSION:
        return None, f"{where / RECORD} belongs to other weights"
    return record, ""


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _trace(folder: Path, path: Path, max_length: int) -> str:
    """torch.onnx.export of the model with pooling and normalisation; returns torch's version."""
    import warnings

    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel

    class Pooled(torch.nn.Module):
        def __init__(self, encoder: Any) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    encoder = AutoModel.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False).eval()
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.enable_truncation(max_length)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    # traced on a padded batch, so the attention mask is part of the graph
    example = tok.encode_batch(["China and North Korea signed a treaty in 1961.", "coal"])
    ids = torch.tensor([e.ids for e in example], dtype=torch.int64)
    mask = torch.tensor([e.attention_mask for e in example], dtype=torch.int64)
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's notes on transformers' shape checks
        torch.onnx.export(Pooled(encoder), (ids, mask), str(path), input_names=list(INPUTS),
                          output_names=["embedding"], dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    return str(torch.__version__)


def _optimise(raw: Path, out: Path) -> None:
    """onnxruntime's portable graph fusions, done once here instead of at every load."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(out / ONNX_FILE)
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", DATA_FILE)
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    options.log_severity_level = 3
    ort.InferenceSession(str(raw), options, providers=["CPUExecutionProvider"])


def build(folder: Path, fingerprint: str, max_length: int, refused: dict[str, Any] | None = None) -> Path:
    """Exports the (already verified) model folder into its cache folder; needs torch and onnx.

    `refused` is the record of the export the caller found unusable: kept only if another process
    replaced it meanwhile."""
    import shutil

    from qa.models.bundled import offline_env

    offline_env()
    where = export_dir(fingerprint)
    with writer_lock(where):  # one builder at a time: two first runs side by side build it once
        record, _ = read_record(where, fingerprint)
        if record and record != refused and all(sha256_file(where / n) == record["files"][n] for n in FILES):
            return where  # another process built it while we waited
        work = where / f".build-{secrets.token_hex(4)}"
        work.mkdir()
        try:
            try:
                torch_version = _trace(folder, work / "raw.onnx", max_length)
                (work / "out").mkdir()
                _optimise(work / "raw.onnx", work / "out")
            except ImportError as e:
                raise ModelError(f"cannot build the ONNX export of the model: {e.name or e} is not installed; "
                                 "run scripts/setup") from e
            except Exception as e:  # the exporter's own errors, the onnx package missing, damaged files
                from qa.models.bundled import REINSTALL

                reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
                raise ModelError(f"cannot build the ONNX export of the model in {folder} ({reason}); "
                                 f"run scripts/setup, or {REINSTALL}") from e
            digests = {}
            for name in (DATA_FILE, ONNX_FILE):  # the weights first: a graph never names missing data
                with (work / "out" / name).open("rb+") as f:
                    os.fsync(f.fileno())
                digests[name] = sha256_file(work / "out" / name)
                os.replace(work / "out" / name, where / name)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        record = {
            "version": EXPORT_VERSION, "model": MODEL_NAME, "fingerprint": fingerprint, "files": digests,
            "opset": OPSET, "max_seq_length": max_length, "torch": torch_version,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "weights": weights_stat(folder),
        }
        _write_atomic(where / RECORD, (json.dumps(record, indent=1) + "\n").encode())
        fd = os.open(where, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return where


def read_int8_record(where: Path, record: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The int8 copy's record when it was made by this recipe from this export (`record`), else None
    and why."""
    try:
        int8 = json.loads((where / INT8_RECORD).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "missing"
    except (OSError, ValueError):
        return None, f"{where / INT8_RECORD} is unreadable"
    if not isinstance(int8, dict) or not all(isinstance((int8.get("files") or {}).get(n), str) for n in INT8_FILES):
        return None, f"{where / INT8_RECORD} is damaged"
    if int8.get("version") != INT8_VERSION or int8.get("source") != record.get("files"):
        return None, f"{where / INT8_RECORD} was made from another export"
    return int8, ""


def _with_tokens(model: Path, out: Path) -> None:
    """A copy of the export whose graph also outputs the last layer's token states (TOKENS_OUTPUT):
    the output of its last layer normalisation (plain, or fused with the residual sum by onnxruntime's
    optimiser), which the pooling averages."""
    import onnx
    from onnx import helper

    graph_model = onnx.load(str(model))  # with its weights, from the file beside it
    graph = graph_model.graph
    norms = [n for n in graph.node if n.op_type in ("LayerNormalization", "SkipLayerNormalization")]
    if not norms:
        raise ValueError("the export has no LayerNormalization to take the token states from")
    graph.node.append(helper.make_node("Identity", [norms[-1].output[0]], [TOKENS_OUTPUT], name="qa_tokens"))
    graph.output.append(helper.make_tensor_value_info(TOKENS_OUTPUT, onnx.TensorProto.FLOAT, ["batch", "tokens", 384]))
    onnx.save(graph_model, str(out))


def build_int8(where: Path, record: dict[str, Any], refused: dict[str, Any] | None = None) -> dict[str, Any]:
    """Makes the int8 copy of the (already checked) export in `where`, with onnxruntime's dynamic
    quantization (no torch); written under a temporary name and renamed, its record last."""
    import shutil

    with writer_lock(where):
        int8, _ = read_int8_record(where, record)
        if int8 and int8 != refused and all(sha256_file(where / n) == int8["files"][n] for n in INT8_FILES):
            return int8  # another process made it while we waited
        work = where / f".int8-{secrets.token_hex(4)}"
        work.mkdir()
        try:
            try:
                import onnx
                import onnxruntime
                from onnxruntime.quantization import QuantType, quantize_dynamic

                _with_tokens(where / ONNX_FILE, work / "tokens.onnx")
                options = dict(INT8_OPTIONS)
                logging.disable(logging.WARNING)  # the quantizer's advice on the root logger, not ours
                try:
                    quantize_dynamic(str(work / "tokens.onnx"), str(work / "whole.onnx"),
                                     weight_type=getattr(QuantType, options.pop("weight_type")),
                                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT}, **options)
                finally:
                    logging.disable(logging.NOTSET)
                # its weights in a file beside the graph, which onnxruntime maps instead of parsing
                onnx.save_model(onnx.load(str(work / "whole.onnx")), str(work / INT8_FILE), save_as_external_data=True,
                                all_tensors_to_one_file=True, location=INT8_DATA, size_threshold=1024)
            except ImportError as e:
                raise ModelError(f"cannot make the int8 copy of the model: {e.name or e} is not installed; "
                                 "run scripts/setup") from e
            except Exception as e:  # the quantizer's own errors on a graph it cannot read
                reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
                raise ModelError(f"cannot make the int8 copy of the model in {where} ({reason}); "
                                 "delete that folder and run scripts/setup") from e
            digests = {}
            for name in (INT8_DATA, INT8_FILE):  # the weights first: the graph names them
                with (work / name).open("rb+") as f:
                    os.fsync(f.fileno())
                digests[name] = sha256_file(work / name)
                os.replace(work / name, where / name)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        int8 = {"version": INT8_VERSION, "source": record["files"], "files": {n: digests[n] for n in INT8_FILES},
                "quantization": INT8_OPTIONS, "onnxruntime": onnxruntime.__version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        _write_atomic(where / INT8_RECORD, (json.dumps(int8, indent=1) + "\n").encode())
    return int8


def sha256_file(path: Path) -> str:
    """The file's SHA-256, read through a memory map (no copy); "" when it cannot be read."""
    import mmap

    try:
        with path.open("rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                return hashlib.sha256(b"").hexdigest()
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                return hashlib.sha256(m).hexdigest()
    except (OSError, ValueError):
        return ""
