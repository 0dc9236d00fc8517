"""A shipped reader's int8 ONNX weights back as a torch state dict, to go on training it.

The reader ships only as its int8 export (`qa/models/reader_model/model.onnx`, written by
`qa.models.training.reader.export_onnx`: torch's exporter, then onnxruntime's dynamic per-channel
quantization). Its fp32 weights were never kept, so a run that goes on from it (`--init` naming a
model folder) starts from the dequantized weights, `(q - zero_point) * scale`: within half a
quantization step of what was trained, which a few steps of training absorb.

Names are recovered from the graph: the exporter keeps a module's name on its parameters
("network.bert.encoder.layer.0.output.LayerNorm.weight"), except a linear layer's weight, stored
transposed under a generated name ("onnx::MatMul_892") whose product's node names the module
("/network/bert/encoder/layer.0/attention/self/query/MatMul").
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

PREFIX = "network."
_QUANTIZED = "_quantized"
_TRANSPOSED = "_Transposed"
_MODULE = re.compile(r"^/network/(.+)/(?:MatMul|Gemm)")


def _dequantized(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray) -> np.ndarray:
    """Per tensor (scalar scale) or per output channel (the last axis of a [in, out] weight)."""
    return (q.astype(np.float32) - zero_point.astype(np.float32)) * scale.astype(np.float32)


def state_dict(model: Path) -> dict[str, np.ndarray]:
    """{torch parameter name: fp32 array} of the reader exported to `model` (a model.onnx), in
    `BertForSequenceClassification`'s names and layout (a linear weight [out, in])."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(model)).graph
    arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    product = {n.input[1]: n.output[0] for n in graph.node if n.op_type == "MatMulInteger"}
    out: dict[str, np.ndarray] = {}
    for name, value in arrays.items():
        if name.endswith(("_scale", "_zero_point")):
            continue
        if not name.endswith(_QUANTIZED):
            if value.dtype == np.float32 and name.startswith(PREFIX):
                out[name[len(PREFIX):]] = value
            continue
        stem = name[: -len(_QUANTIZED)]
        weight = _dequantized(value, arrays[stem + "_scale"], arrays[stem + "_zero_point"])
        if stem.endswith(_TRANSPOSED):  # a linear layer named by the exporter: stored [in, out]
            out[stem[len(PREFIX): -len(_TRANSPOSED)]] = weight.T.copy()
        elif stem.startswith(PREFIX):  # an embedding table, as in torch
            out[stem[len(PREFIX):]] = weight
        else:  # a linear layer under a generated name: its product's node names the module
            found = _MODULE.match(product.get(name, ""))
            if found is None:
                raise ValueError(f"{model}: no module for the weight {stem}")
            out[found.group(1).replace("/", ".") + ".weight"] = weight.T.copy()
    return out


def layers(model: Path) -> int:
    """How many transformer layers the reader exported to `model` has."""
    import onnx

    found = {int(m.group(1)) for t in onnx.load(str(model)).graph.initializer
             if (m := re.match(r"network\.bert\.encoder\.layer\.(\d+)\.", t.name))}
    if not found:
        raise ValueError(f"{model}: no transformer layers found")
    return max(found) + 1


def load_into(network: Any, model: Path) -> int:
    """Puts the dequantized weights of `model` into `network` (a BertForSequenceClassification of
    the same shape); refuses any parameter left out or not its own. Returns how many were set."""
    import torch

    weights = state_dict(model)
    own = network.state_dict()
    missing = [k for k in own if k not in weights and not k.endswith("position_ids")]
    unknown = [k for k in weights if k not in own]
    wrong = [k for k in weights if k in own and tuple(own[k].shape) != weights[k].shape]
    if missing or unknown or wrong:
        raise ValueError(f"{model} does not fit the network: missing {missing[:3]}, unknown {unknown[:3]}, "
                         f"other shapes {wrong[:3]}")
    network.load_state_dict({k: torch.tensor(v) for k, v in weights.items()}, strict=False)
    return len(weights)
