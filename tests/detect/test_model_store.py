"""``models fetch``: a small ONNX model served by a local HTTP server; right and wrong checksum, cut-off transfer."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402

from masksmith.cli.main import run as cli_main  # noqa: E402
from masksmith.detect import model_store  # noqa: E402
from masksmith.detect.model_store import ModelEntry, cached_model, fetch_model  # noqa: E402
from masksmith.errors import ModelUnavailable  # noqa: E402


def _model_bytes() -> bytes:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


MODEL = _model_bytes()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/cut.onnx":  # promises the whole file, sends half, hangs up
            self.send_response(200)
            self.send_header("Content-Length", str(len(MODEL)))
            self.end_headers()
            self.wfile.write(MODEL[: len(MODEL) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path != "/tiny.onnx":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(MODEL)))
        self.end_headers()
        self.wfile.write(MODEL)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _entry(url: str, *, sha: str | None = None, size: int | None = None) -> ModelEntry:
    return ModelEntry(
        name="tiny-test",
        detector="mask_rcnn",
        classes=("person",),
        url=url,
        size=len(MODEL) if size is None else size,
        sha256=sha or hashlib.sha256(MODEL).hexdigest(),
        licence="test",
        file_name="tiny.onnx",
        source="built by the test",
    )


def _leftovers(cache: Path) -> list[str]:
    folder = cache / "models"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_right_checksum_lands_in_the_cache_and_loads(server: str, tmp_path: Path) -> None:
    entry = _entry(f"{server}/tiny.onnx")
    path = fetch_model(entry, cache_dir=tmp_path)
    assert path == tmp_path / "models" / "tiny.onnx"
    assert path.read_bytes() == MODEL
    assert cached_model(entry, cache_dir=tmp_path) == path
    ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])  # a real, loadable model
    assert _leftovers(tmp_path) == ["tiny.onnx"]
    # a second fetch keeps the verified file (no download: the URL is now wrong)
    assert fetch_model(_entry(f"{server}/gone.onnx"), cache_dir=tmp_path) == path


def test_wrong_checksum_is_refused_and_nothing_stays(server: str, tmp_path: Path) -> None:
    entry = _entry(f"{server}/tiny.onnx", sha="0" * 64)
    with pytest.raises(ModelUnavailable, match=r"checksum mismatch.*nothing was kept"):
        fetch_model(entry, cache_dir=tmp_path)
    assert _leftovers(tmp_path) == []
    assert cached_model(entry, cache_dir=tmp_path) is None


def test_interrupted_download_leaves_nothing(server: str, tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="nothing was kept"):
        fetch_model(_entry(f"{server}/cut.onnx"), cache_dir=tmp_path)
    assert _leftovers(tmp_path) == []


def test_larger_than_pinned_is_refused(server: str, tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="larger than the pinned"):
        fetch_model(_entry(f"{server}/tiny.onnx", size=len(MODEL) - 10), cache_dir=tmp_path)
    assert _leftovers(tmp_path) == []


def test_unreachable_server_names_the_model(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match=r"tiny-test.*failed"):
        fetch_model(_entry("http://127.0.0.1:9/tiny.onnx"), cache_dir=tmp_path, timeout=5)
    assert _leftovers(tmp_path) == []


def test_cli_fetch_from_a_mirror_keeps_the_pinned_checksum(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(model_store.CATALOGUE, "tiny-test", _entry("https://example.invalid/tiny.onnx"))
    monkeypatch.setenv("MASKSMITH_CACHE_DIR", str(tmp_path))
    code = cli_main(["models", "fetch", "tiny-test", "--url", f"{server}/tiny.onnx"])
    assert code == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "models" / "tiny.onnx")
    monkeypatch.setitem(model_store.CATALOGUE, "bad-test", _entry("https://example.invalid/x", sha="1" * 64))
    assert cli_main(["models", "fetch", "bad-test", "--url", f"{server}/tiny.onnx"]) == 2
    assert "checksum mismatch" in capsys.readouterr().err
    assert cli_main(["models", "fetch", "no-such-model"]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err


def test_catalogue_pins_the_zoo_mask_rcnn() -> None:
    entry = model_store.get_model_entry("maskrcnn-12-int8")
    assert entry.size == 45_769_352
    assert entry.sha256 == "4409935e855719fd6cd986f7ec2a3de840d0bd9c9cf7a0cba84ce95377f5b476"
    assert entry.url.endswith("MaskRCNN-12-int8.onnx") and "Apache-2.0" in entry.licence


def test_models_list_per_class_says_what_is_missing_and_how_to_get_it() -> None:
    from masksmith.detect.model_coverage import class_rows
    from masksmith.detect.registry import ModelRow

    rows = [
        ModelRow("centerface", "face", True, "x", "pip"),
        ModelRow("hog-people", "person", True, "x", "pip"),
        ModelRow("mask-rcnn", "instance-segmentation", False, "", "masksmith models fetch maskrcnn-12-int8"),
        ModelRow("text-plates", "licence_plate", False, "", "pip install rapidocr"),
    ]
    lines = {line.split()[0]: line for line in class_rows(rows)}
    assert "yes: centerface" in lines["face"]
    assert lines["person"].split(None, 1)[1].startswith("NO (only hog-people (weak cue))")
    assert "masksmith models fetch maskrcnn-12-int8" in lines["car"]
    assert "NO; to get one: pip install rapidocr" in lines["licence_plate"]
