"""Open an ONNX model for a detector, refusing a missing file, a non-ONNX file or the wrong input shape.

Each refusal is one ``ModelUnavailable`` naming the file and what is wrong, raised when the detector is
made, so a run stops at start-up (exit 2) before any image is processed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from masksmith.errors import ModelUnavailable

ONNX_HINT = "pip install 'masksmith[anonymise]'"


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ModelUnavailable(f"ONNX detectors need onnxruntime; {ONNX_HINT}", argument="model") from None
    return onnxruntime


def open_session(
    path: str | os.PathLike[str],
    *,
    rank: int,
    channels: int | None,
    what: str,
    threads: int | None = None,
    min_outputs: int = 1,
) -> Any:
    """An onnxruntime CPU session for ``path`` whose first input has ``rank`` dims (and ``channels``).

    ``channels`` is checked on the channel axis (axis 1 for rank 4, axis 0 for rank 3) when it is fixed
    in the model. Raises ModelUnavailable naming the file for every problem.
    """
    file = Path(path)
    if not file.is_file():
        raise ModelUnavailable(f"{what} model file not found", file=file)
    ort = _ort()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = int(threads)
    try:
        session = ort.InferenceSession(str(file), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailable(f"not a usable ONNX model for the {what} ({first[:160]})", file=file) from None
    inputs = session.get_inputs()
    outputs = session.get_outputs()
    if not inputs:
        raise ModelUnavailable(f"the {what} model has no input", file=file)
    shape = list(inputs[0].shape)
    if len(shape) != rank:
        expected = "N×C×H×W" if rank == 4 else "C×H×W"
        raise ModelUnavailable(
            f"wrong model for the {what}: input {inputs[0].name!r} has shape {shape}, expected {expected}",
            file=file,
        )
    axis = 1 if rank == 4 else 0
    if channels is not None and isinstance(shape[axis], int) and shape[axis] != channels:
        raise ModelUnavailable(
            f"wrong model for the {what}: input has {shape[axis]} channels, expected {channels}", file=file
        )
    if len(outputs) < min_outputs:
        raise ModelUnavailable(
            f"wrong model for the {what}: {len(outputs)} output(s), expected at least {min_outputs}",
            file=file,
        )
    if "float" not in inputs[0].type:
        raise ModelUnavailable(
            f"wrong model for the {what}: input type {inputs[0].type}, expected a float tensor", file=file
        )
    return session


def input_dtype(session: Any) -> Any:
    """numpy dtype the session's first input wants (float16 models need float16 inputs)."""
    import numpy as np

    return np.float16 if "float16" in session.get_inputs()[0].type else np.float32
