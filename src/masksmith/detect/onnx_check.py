"""Open an ONNX model for a detector, refusing a missing file, a non-ONNX file or the wrong input shape.

Each refusal is one ``ModelUnavailable`` naming the file and what is wrong, raised when the detector is
made, so a run stops at start-up (exit 2) before any image is processed. :class:`OnnxModel` is what the
ONNX detectors hold: the session, its first input and the float type that input wants.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Protocol

import numpy as np
import numpy.typing as npt

from masksmith.detect.hints import ANONYMISE_HINT
from masksmith.errors import ModelUnavailable

ONNX_HINT = ANONYMISE_HINT

#: A network input or output array (onnxruntime returns whatever dtype the graph declares).
Tensor = npt.NDArray[np.generic]


class OnnxNode(Protocol):
    """An input or output of an onnxruntime session (``onnxruntime.NodeArg``)."""

    @property
    def name(self) -> str: ...

    @property
    def shape(self) -> Sequence[int | str | None]: ...

    @property
    def type(self) -> str: ...


class OnnxSession(Protocol):
    """What detectors use of ``onnxruntime.InferenceSession``."""

    def get_inputs(self) -> Sequence[OnnxNode]: ...

    def get_outputs(self) -> Sequence[OnnxNode]: ...

    def run(self, output_names: Sequence[str] | None, input_feed: Mapping[str, Tensor]) -> list[Tensor]: ...


def import_onnxruntime(*, needed_by: str = "ONNX detectors need", hint: str = ONNX_HINT) -> ModuleType:
    """The ``onnxruntime`` module; ModelUnavailable saying "<needed_by> onnxruntime; <hint>" when missing."""
    try:
        import onnxruntime
    except ImportError:
        raise ModelUnavailable(f"{needed_by} onnxruntime; {hint}", argument="model") from None
    module: ModuleType = onnxruntime
    return module


class SessionOptions(Protocol):
    """What detectors set on ``onnxruntime.SessionOptions``."""

    log_severity_level: int
    intra_op_num_threads: int

    def add_session_config_entry(self, key: str, value: str) -> None: ...


def session_options(
    ort: ModuleType, *, threads: int | None, allow_spinning: bool | None = None
) -> SessionOptions:
    """Quiet ``SessionOptions`` (errors only), ``threads`` intra-op threads and spinning when given.

    Idle onnxruntime threads busy-wait by default (``allow_spinning``); beside background writers they
    steal those writers' cores.
    """
    options: SessionOptions = ort.SessionOptions()
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = int(threads)
    if allow_spinning is not None:
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if allow_spinning else "0")
    return options


def open_session(
    path: str | os.PathLike[str],
    *,
    rank: int,
    channels: int | None,
    what: str,
    threads: int | None = None,
    min_outputs: int = 1,
) -> OnnxSession:
    """An onnxruntime CPU session for ``path`` whose first input has ``rank`` dims (and ``channels``).

    ``channels`` is checked on the channel axis (axis 1 for rank 4, axis 0 for rank 3) when it is fixed
    in the model. Raises ModelUnavailable naming the file for every problem.
    """
    file = Path(path)
    if not file.is_file():
        raise ModelUnavailable(f"{what} model file not found", file=file)
    ort = import_onnxruntime()
    options = session_options(ort, threads=threads)
    try:
        session: OnnxSession = ort.InferenceSession(
            str(file), sess_options=options, providers=["CPUExecutionProvider"]
        )
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


FloatType = type[np.float16] | type[np.float32]


def input_dtype(session: OnnxSession) -> FloatType:
    """numpy dtype the session's first input wants (float16 models need float16 inputs)."""
    return np.float16 if "float16" in session.get_inputs()[0].type else np.float32


class OnnxModel:
    """A session with its first input's name and shape, fed in the float type that input wants."""

    def __init__(self, session: OnnxSession) -> None:
        self.session = session
        first = session.get_inputs()[0]
        self.input_name: str = first.name
        self.input_shape: list[int | str | None] = list(first.shape)
        self.dtype: FloatType = input_dtype(session)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        rank: int,
        channels: int | None,
        what: str,
        threads: int | None = None,
        min_outputs: int = 1,
    ) -> OnnxModel:
        """:func:`open_session` with the same checks, wrapped."""
        return cls(
            open_session(
                path, rank=rank, channels=channels, what=what, threads=threads, min_outputs=min_outputs
            )
        )

    def run(self, blob: npt.NDArray[np.floating]) -> list[Tensor]:
        """All outputs for ``blob`` (cast to :attr:`dtype` when it is not already)."""
        return self.session.run(None, {self.input_name: np.ascontiguousarray(blob, dtype=self.dtype)})


def fixed_input_hw(shape: Sequence[int | str | None], fallback: int) -> tuple[int, int]:
    """(height, width) from the last two dims of an input shape; a dynamic dim takes ``fallback``."""
    dims = list(shape)[-2:]
    h, w = (d if isinstance(d, int) and d > 0 else fallback for d in dims)
    return int(h), int(w)
