"""The anonymisation pipeline with the real sink (SQLite) and notifier (aiosmtpd): rows and e-mails of a run."""

from __future__ import annotations

import email
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

from masksmith.anonymise import pipeline
from masksmith.anonymise.config import load_config
from masksmith.anonymise.notify import notifier_from_config
from masksmith.anonymise.sinks import DatabaseSink, make_engine, sink_from_config
from tests.pg import free_port

controller_module = pytest.importorskip("aiosmtpd.controller")
sa = pytest.importorskip("sqlalchemy")


class CarStub:
    """One car in the middle of every image."""

    name = "car-stub"

    def __init__(self) -> None:
        from masksmith.detect import CAR

        self.classes = (CAR,)

    def detect(self, image_rgb: np.ndarray) -> Any:
        from masksmith.detect import CAR, Detections, class_id

        h, w = image_rgb.shape[:2]
        return Detections(
            boxes=np.array([[w * 0.3, h * 0.3, w * 0.6, h * 0.6]], np.float32),
            scores=np.array([0.9], np.float32),
            class_ids=np.array([class_id(CAR)]),
            image_size=(h, w),
        )


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def test_run_writes_rows_and_sends_the_finished_email(tmp_path: Path, rng: np.random.Generator) -> None:
    inbox, port = Inbox(), free_port()
    server = controller_module.Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    try:
        inp = tmp_path / "tilSladding" / "in"
        names = ["Fy50_Ev6_S1D1_m00123_f1.jpg", "sub/Fy50_Ev6_S1D1_m00145_f1.jpg"]
        for name in names:
            (inp / name).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(inp / name, quality=90)
        values = {
            "write_exif_to_db": True, "data_eier": "Statens vegvesen", "db_max_n_accumulated_rows": 1,
            "finished_email": True, "smtp_host": "127.0.0.1", "smtp_port": port,
            "email_to_addresses": ["ops@example.org"], "max_num_async_workers": 1,
        }  # fmt: skip
        config_path = tmp_path / "config.yml"
        config_path.write_text(yaml.safe_dump(values), encoding="utf-8")
        config = load_config(config_path)
        sink = sink_from_config(config, cache_dir=tmp_path / "state")
        assert isinstance(sink, DatabaseSink)
        summary = pipeline.anonymise(
            inp, tmp_path / "out", config=config, sink=sink, notifier=notifier_from_config(config),
            detectors=[CarStub()], progress=False,
        )  # fmt: skip
        assert summary.exit_code == 0
    finally:
        server.stop()
    engine = make_engine(sink.url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT filnavn, meter, detekterteobjekter FROM vegbilder ORDER BY meter")
        ).all()
    engine.dispose()
    assert [(r[0], r[1]) for r in rows] == [(names[0], 123.0), (names[1].split("/")[1], 145.0)]
    assert all(r[2] == '{"car": "1"}' for r in rows)
    assert sink.stats.inserted == 2 and sink.stats.pending == 0
    [message] = inbox.messages
    assert "Anonymisation finished." in message["Subject"]
    assert message["Subject"].count("[masksmith anonymise]") == 1  # not prefixed twice
