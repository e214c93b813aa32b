"""Faces found in an image and the masked copies drawn on them (pure: arrays in, arrays out)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from masksmith.detect.api import Detector
from masksmith.errors import ConfigError
from masksmith.facemask.faces import DEFAULT_MAX_PITCH, DEFAULT_MAX_YAW, find_face_poses
from masksmith.facemask.fit import MaskFit, apply_mask, coverage_problem, draw_fit
from masksmith.facemask.pose import FacePose
from masksmith.facemask.templates import MaskStyle, MaskType, draw_style, render_style

__all__ = ["FIT_RETRIES", "Augmentation", "Face", "augment_image", "find_faces", "is_grayscale"]

FIT_RETRIES = 2  # refits of a mask that touched an eye or left the nose or mouth bare, before skipping


@dataclass(frozen=True)
class Face:
    """A detected face: box (x1, y1, x2, y2), score, CenterFace's 5 landmarks and dlib's 68 (if masking).

    ``pose`` is set when the 68 points were fitted; ``skip`` names why the face gets no mask (``pose``:
    turned beyond the limits or no orientation shows a frontal face; ``fit``: the drawn mask would not
    cover the nose and mouth or would touch an eye), with ``detail`` saying what was measured.
    """

    box: NDArray[np.float32]
    score: float
    landmarks5: NDArray[np.float32]
    landmarks68: NDArray[np.float32] | None
    pose: FacePose | None = None
    skip: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class Augmentation:
    """One augmented image: per face the style drawn and its exact changed pixels (H×W bool), its fit,
    why it was skipped and every colour drawn; None / () for a skipped face."""

    index: int
    image: NDArray[np.uint8]
    styles: tuple[MaskStyle | None, ...]
    changed: tuple[NDArray[np.bool_] | None, ...]
    steps: tuple[NDArray[np.uint8], ...] = field(repr=False, default=())
    fits: tuple[MaskFit | None, ...] = ()
    skips: tuple[tuple[str, str] | None, ...] = ()
    colors: tuple[tuple[str, ...], ...] = ()

    def union(self) -> NDArray[np.bool_]:
        """Every pixel any face's mask changed (H×W bool)."""
        out = np.zeros(self.image.shape[:2], bool)
        for diff in self.changed:
            if diff is not None:
                out |= diff
        return out


def find_faces(
    detector: Detector,
    image_rgb: NDArray[np.uint8],
    *,
    landmarks68: bool = True,
    max_yaw: float = DEFAULT_MAX_YAW,
    max_pitch: float = DEFAULT_MAX_PITCH,
) -> list[Face]:
    """Faces found by ``detector`` (CenterFace), in any orientation, with dlib's 68 points fitted upright
    and the head pose when asked; faces beyond the pose limits are marked to be skipped."""
    found = find_face_poses(
        detector, image_rgb, landmarks68=landmarks68, max_yaw=max_yaw, max_pitch=max_pitch
    )
    return [
        Face(
            box=f.box,
            score=f.score,
            landmarks5=f.landmarks5,
            landmarks68=f.landmarks68,
            pose=f.pose,
            skip=f.skip,
            detail=f.detail,
        )
        for f in found
    ]


def is_grayscale(image_rgb: NDArray[np.uint8]) -> bool:
    """Whether an RGB image is really gray (channels within 2 levels everywhere, on a sample)."""
    sample = image_rgb[:: max(1, image_rgb.shape[0] // 256), :: max(1, image_rgb.shape[1] // 256)].astype(
        np.int16
    )
    return bool(
        np.abs(sample[..., 0] - sample[..., 1]).max() <= 2
        and np.abs(sample[..., 1] - sample[..., 2]).max() <= 2
    )


def _template_size(landmarks68: NDArray[np.float32]) -> int:
    """Template width matched to the face: about 1.5 template pixels per face pixel, 96..384."""
    inter_ocular = float(np.linalg.norm(landmarks68[42:48].mean(axis=0) - landmarks68[36:42].mean(axis=0)))
    return int(np.clip(round(inter_ocular * 4.5 / 32) * 32, 96, 384))


def augment_image(
    image_rgb: NDArray[np.uint8],
    faces: Sequence[Face],
    rng: np.random.Generator,
    *,
    n_augmentations: int,
    mask_types: Sequence[MaskType | str] = tuple(MaskType),
    keep_steps: bool = False,
    gray: bool | None = None,
    below_nose: float = 0.0,
) -> Iterator[Augmentation]:
    """Yield ``n_augmentations`` masked copies; each face draws its own style and fit from ``rng``.

    Faces marked to skip get no mask. A drawn mask that would leave the nose tip or a mouth corner
    bare or touch an eye point is not kept: that face is skipped for ``fit`` in this augmentation.
    ``gray`` (default: detected) draws gray masks; ``below_nose`` is the chance a mask is worn under
    the nose (its check then wants the nose tip clear). ``keep_steps`` also keeps the image after each
    drawn face (for journals). The input is not mutated.
    """
    gray = is_grayscale(image_rgb) if gray is None else gray
    for k in range(n_augmentations):
        current = image_rgb
        styles: list[MaskStyle | None] = []
        changed: list[NDArray[np.bool_] | None] = []
        steps: list[NDArray[np.uint8]] = []
        fits: list[MaskFit | None] = []
        skips: list[tuple[str, str] | None] = []
        colors: list[tuple[str, ...]] = []
        for face in faces:
            if face.skip is not None or face.landmarks68 is None:
                if face.landmarks68 is None and face.skip is None:
                    raise ConfigError("masking needs the 68 landmarks of every face", argument="faces")
                styles.append(None)
                changed.append(None)
                fits.append(None)
                colors.append(())
                skips.append((face.skip or "pose", face.detail))
                continue
            style = draw_style(rng, tuple(mask_types), gray=gray)
            fit = draw_fit(rng, below_nose=below_nose)
            template = render_style(
                style, rng=rng, size=_template_size(face.landmarks68), below_nose=fit.below_nose
            )
            yaw = face.pose.yaw if face.pose is not None else None
            grain_seed = int(rng.integers(2**63))  # every try draws the same grain; rng moves on once
            for _ in range(FIT_RETRIES + 1):
                drawn, alpha, diff = apply_mask(
                    current, face.landmarks68, template, yaw_deg=yaw, fit=fit,
                    rng=np.random.default_rng(grain_seed),
                )  # fmt: skip
                problem = coverage_problem(alpha, face.landmarks68, changed=diff, nose=not fit.below_nose)
                if problem is None:
                    break
                # an eye touched: sit lower on the nose; nose or mouth bare: stand further off the face
                fit = (
                    MaskFit(drop=fit.drop + 0.12, loose=fit.loose, below_nose=fit.below_nose)
                    if problem.startswith("eye")
                    else MaskFit(
                        drop=max(fit.drop - 0.1, -0.06), loose=fit.loose + 0.3, below_nose=fit.below_nose
                    )
                )
            if problem is not None:
                styles.append(None)
                changed.append(None)
                fits.append(None)
                colors.append(())
                skips.append(("fit", problem))
                continue
            current = drawn
            styles.append(style)
            changed.append(diff)
            fits.append(fit)
            colors.append(template.colors)
            skips.append(None)
            if keep_steps:
                steps.append(current)
        yield Augmentation(
            k, current, tuple(styles), tuple(changed), tuple(steps), tuple(fits), tuple(skips), tuple(colors)
        )
