"""The models of a facemask worker: CenterFace (one session per thread) and dlib's 68 points, loaded once."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import threading
from typing import Any

from masksmith.errors import ConfigError, ModelUnavailable
from masksmith.facemask.options import FaceMaskOptions

__all__ = ["FaceModels", "WorkerSetup", "WorkerState", "check_models", "execution_providers"]

_log = logging.getLogger(__name__)


class FaceModels:
    """The models one worker uses: a CenterFace session of its own and dlib's shared 68-point predictor."""

    def __init__(self, options: FaceMaskOptions) -> None:
        from masksmith.detect.registry import create_detector, face_detector_name

        name = face_detector_name()
        tuning: dict[str, Any] = (
            {"threshold": options.threshold, "providers": execution_providers(options.device)}
            if name == "centerface"
            else {}
        )
        self.detector = create_detector(
            name, max_side=options.detect_max_side, intra_op_threads=options.ort_threads, **tuning
        )


def execution_providers(device: str) -> list[str]:
    """onnxruntime providers for ``device``: ``cpu``; ``cuda`` (needs onnxruntime-gpu, else ConfigError);
    ``auto`` (CUDA when onnxruntime-gpu can use it, CPU otherwise)."""
    if device == "cpu":
        return ["CPUExecutionProvider"]
    import onnxruntime

    available = onnxruntime.get_available_providers()
    has_cuda = "CUDAExecutionProvider" in available
    if device == "cuda" and not has_cuda:
        raise ConfigError(
            "CUDA is not available to onnxruntime (install onnxruntime-gpu in place of onnxruntime); "
            f"available: {', '.join(available)}",
            argument="device",
        )
    if device not in ("cuda", "auto"):
        raise ConfigError(f"must be cpu, cuda or auto, got {device!r}", argument="device")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if has_cuda else ["CPUExecutionProvider"]


_preload_lock = threading.Lock()
_preload_started = False


def _preload() -> None:
    from masksmith.detect.landmarks import load_shape_predictor

    with contextlib.suppress(Exception):  # a missing model is reported where it is used
        load_shape_predictor()


def _preload_in_background() -> None:
    """Load dlib's 68-point model (~0.7 s) while the first images are being detected (once per process).

    dlib releases the GIL while it reads the model and ``predict_68`` waits on the same lock, so the load
    overlaps with CenterFace instead of delaying the first image.
    """
    global _preload_started
    with _preload_lock:
        if _preload_started:
            return
        _preload_started = True
    threading.Thread(target=_preload, name="masksmith-dlib-preload", daemon=True).start()


def check_models(mask: bool) -> None:
    """Fail before any work when a model or optional package is missing (one clear ModelUnavailable)."""
    from masksmith.detect.landmarks import INSTALL_HINT
    from masksmith.detect.registry import face_detector_name

    if face_detector_name() == "dlib-faces":
        _log.warning("CenterFace is not installed; using dlib's HOG face detector (frontal faces only)")
    packages = ("onnx", "onnxruntime", *(("dlib", "face_recognition_models") if mask else ()))
    for package in packages:
        if importlib.util.find_spec(package) is None:
            raise ModelUnavailable(f"{package} is not installed; {INSTALL_HINT}", argument=package)


class WorkerState:
    """One worker's models, made once per worker by :class:`WorkerSetup`: dlib's 68-point predictor
    (loaded once per process) and a CenterFace session per thread (onnxruntime sessions and their
    buffers are not shared between threads), made when a thread first needs one."""

    def __init__(self, options: FaceMaskOptions) -> None:
        self.options = options
        self._threads = threading.local()
        if options.mask:
            _preload_in_background()

    def models(self) -> FaceModels:
        models: FaceModels | None = getattr(self._threads, "models", None)
        if models is None:
            models = self._threads.models = FaceModels(self.options)
        return models


class WorkerSetup:
    """The per-worker ``setup`` of a run (a class, so it pickles to process and Ray workers)."""

    def __init__(self, options: FaceMaskOptions) -> None:
        self.options = options

    def __call__(self) -> WorkerState:
        return WorkerState(self.options)
