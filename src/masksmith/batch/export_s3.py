"""Export to S3 through boto3 (``masksmith[s3]``), with credentials kept out of logs and messages.

boto3's usual credential chain applies; ``endpoint_url`` selects an S3-compatible store. Access keys
and session tokens are redacted from boto3/botocore/urllib3 log records and from every error message
raised here (:func:`redact`, :func:`describe_error`). Each upload is checked with ``head_object``:
size, the ETag (single part or the multipart form) and a ``sha256`` metadata value.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from masksmith.batch.export_model import ArchiveDigest, multipart_etag
from masksmith.errors import ExportError, ModelUnavailable

__all__ = ["S3Target", "describe_error", "redact"]


_MASK = "***"
_PATTERNS = (
    # SigV4 Authorization header and presigned URLs: Credential=AKID/date/region/service/aws4_request
    (re.compile(r"(?i)(credential=)[^/&\s,'\"]+"), r"\1" + _MASK),
    (re.compile(r"(?i)(signature=)[0-9a-f]+"), r"\1" + _MASK),
    (re.compile(r"(?i)(x-amz-security-token['\"]?\s*[:=]\s*b?['\"]?)[^&\s,'\"]+"), r"\1" + _MASK),
    (re.compile(r"(?i)(awsaccesskeyid=)[^&\s,'\"]+"), r"\1" + _MASK),
    # user:password@ in an endpoint URL
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/@\s]+@"), r"\1" + _MASK + "@"),
)
_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
_LOGGER_PREFIXES = ("boto3", "botocore", "s3transfer", "urllib3", "masksmith.batch.export")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known credentials and credential-shaped fragments replaced by ``***``."""
    with _SECRETS_LOCK:
        known = {*_SECRETS, *secrets}
    for secret in sorted((s for s in known if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, _MASK)
    for pattern, substitute in _PATTERNS:
        text = pattern.sub(substitute, text)
    return text


class _RedactingFilter(logging.Filter):
    """Rewrites a log record's message (and traceback text) with credentials redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is logging's problem, not ours
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = _RedactingFilter()


def _guard_logs(secrets: Iterable[str] = ()) -> None:
    """Remember ``secrets`` and put the redacting filter on every AWS/HTTP library logger.

    Logger filters see only records logged to that very logger, so each existing logger under the
    library names gets it; called before every S3 request so loggers created late are covered too.
    """
    with _SECRETS_LOCK:
        _SECRETS.update(s for s in secrets if s)
    names = [n for n in list(logging.root.manager.loggerDict) if n.startswith(_LOGGER_PREFIXES)]
    for name in {*names, *_LOGGER_PREFIXES}:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def describe_error(exc: BaseException) -> str:
    """One redacted line for a library exception."""
    code = ""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", "") or "")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    label = f"{type(exc).__name__}{f' ({code})' if code else ''}"
    return redact(f"{label}: {text}" if text else label)


class S3Target:
    """``s3://bucket/prefix`` through boto3; single PUT with Content-MD5 below ``multipart_threshold``."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        profile: str | None = None,
        region: str | None = None,
        multipart_threshold: int = 64 * 1024 * 1024,
        part_size: int = 16 * 1024 * 1024,
        client: Any = None,  # a boto3 S3 client (boto3 ships no types)
    ) -> None:
        if not bucket or "/" in bucket:
            raise ExportError(f"S3 bucket name {bucket!r} is not valid", argument="s3")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.profile = profile
        self.region = region
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self._client = client
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # Sent to other processes: the client and its lock are made again there.
        state = dict(self.__dict__)
        state["_client"] = None
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        endpoint_url: str | None = None,
        profile: str | None = None,
        region: str | None = None,
        multipart_threshold: int = 64 * 1024 * 1024,
        part_size: int = 16 * 1024 * 1024,
        client: Any = None,
    ) -> S3Target:
        """``bucket/folder`` or ``s3://bucket/folder`` (the options as for the constructor)."""
        text = url.strip()
        text = text[5:] if text.lower().startswith("s3://") else text
        bucket, _, prefix = text.partition("/")
        return cls(
            bucket,
            prefix,
            endpoint_url=endpoint_url,
            profile=profile,
            region=region,
            multipart_threshold=multipart_threshold,
            part_size=part_size,
            client=client,
        )

    def describe(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self.key(key)}" if key else f"s3://{self.bucket}/{self.prefix}"

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        try:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError
        except ImportError:
            raise ModelUnavailable("boto3 is not installed; install masksmith[s3]", argument="s3") from None
        _guard_logs()
        try:
            session = boto3.session.Session(profile_name=self.profile, region_name=self.region)
            credentials = session.get_credentials()
        except BotoCoreError as exc:
            raise ExportError(f"cannot set up S3: {describe_error(exc)}", argument="s3") from None
        if credentials is None:
            raise ExportError(
                "no AWS credentials found (environment, shared credentials file, profile or instance role)",
                argument="s3",
            )
        frozen = credentials.get_frozen_credentials()
        _guard_logs([frozen.access_key, frozen.secret_key, frozen.token or ""])
        config = Config(
            connect_timeout=10,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": "path"} if self._custom_endpoint() else None,
        )
        try:
            return session.client("s3", endpoint_url=self.endpoint_url, config=config)
        except (BotoCoreError, ValueError) as exc:
            raise ExportError(f"cannot set up S3: {describe_error(exc)}", argument="s3") from None

    def _custom_endpoint(self) -> bool:
        # boto3 also takes the endpoint from AWS_ENDPOINT_URL(_S3); S3-compatible stores want path style
        return bool(
            self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        )

    @contextlib.contextmanager
    def _errors(self, what: str, key: str = "") -> Iterator[None]:
        """Library failures become one redacted ExportError naming the operation and the object."""
        from botocore.exceptions import BotoCoreError, ClientError

        _guard_logs()
        try:
            yield
        except (BotoCoreError, ClientError, OSError) as exc:
            raise ExportError(f"{what} failed: {describe_error(exc)}", file=self.describe(key)) from None

    def check(self) -> None:
        """Fail early, once, when the bucket cannot be reached."""
        client = self.client
        with self._errors("opening the bucket"):
            client.head_bucket(Bucket=self.bucket)

    def put(self, archive: Path, key: str, digest: ArchiveDigest) -> str:
        client = self.client
        object_key = self.key(key)
        metadata = {"sha256": digest.sha256, "md5": digest.md5}
        if digest.size <= self.multipart_threshold:
            expected_etag = digest.md5
            content_md5 = base64.b64encode(bytes.fromhex(digest.md5)).decode("ascii")
            with self._errors("upload", key), open(archive, "rb") as body:
                client.put_object(
                    Bucket=self.bucket,
                    Key=object_key,
                    Body=body,
                    ContentMD5=content_md5,
                    ContentType="application/gzip",
                    Metadata=metadata,
                )
        else:
            from boto3.s3.transfer import TransferConfig
            from s3transfer.utils import ChunksizeAdjuster

            part = ChunksizeAdjuster().adjust_chunksize(self.part_size, digest.size)
            expected_etag = multipart_etag(archive, part)
            config = TransferConfig(multipart_threshold=self.multipart_threshold, multipart_chunksize=part)
            with self._errors("upload", key):
                client.upload_file(
                    str(archive),
                    self.bucket,
                    object_key,
                    ExtraArgs={"Metadata": metadata, "ContentType": "application/gzip"},
                    Config=config,
                )
        with self._errors("checking the upload", key):
            head = client.head_object(Bucket=self.bucket, Key=object_key)
        problems = _compare_head(head, digest, expected_etag)
        if problems:
            with contextlib.suppress(ExportError), self._errors("removing the bad upload", key):
                client.delete_object(Bucket=self.bucket, Key=object_key)
            raise ExportError(
                f"uploaded object does not match the archive: {problems}", file=self.describe(key)
            )
        return self.describe(key)


def _compare_head(head: dict[str, Any], digest: ArchiveDigest, expected_etag: str) -> str:
    problems = []
    size = head.get("ContentLength")
    if size != digest.size:
        problems.append(f"size {size} != {digest.size}")
    stored = (head.get("Metadata") or {}).get("sha256")
    if stored != digest.sha256:
        problems.append(f"sha256 metadata {stored!r} != {digest.sha256[:12]}…")
    etag = str(head.get("ETag", "")).strip('"')
    if etag != expected_etag:
        problems.append(f"ETag {etag!r} != {expected_etag!r}")
    return "; ".join(problems)
