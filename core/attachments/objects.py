"""Attached files in an S3-compatible object store (``ATTACHMENT_STORAGE = "s3"``): AWS S3,
MinIO, Ceph and the like, shared by every web node.

An upload is streamed from its received temporary file (multipart past 8 MiB) to
``<S3_PREFIX><first two characters>/<storage name>`` inside the transaction that adds the
attachment row; a rollback of that transaction deletes the object again. Objects are read back
in chunks into a spooled file and checked against the row's SHA-256 by the caller, as every
stored file is. Credentials come from boto3's usual sources (AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY, a profile, an instance role); nothing secret is in the configuration.
"""

from __future__ import annotations

import logging
import tempfile
from typing import Any, BinaryIO

from flask import current_app

from core.attachments import storage
from core.errors import CQMSError

log = logging.getLogger("cqms.attachments")
CLIENT = "cqms_s3_client"
CHUNK = 1024 * 1024
SPOOL = 1024 * 1024


class StorageUnavailable(CQMSError):
    """The object store could not be reached or refused the request."""


def configured() -> bool:
    return bool(current_app.config["S3_BUCKET"])


def _client() -> Any:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    client = app.extensions.get(CLIENT)
    if client is None:
        import boto3
        from botocore.config import Config

        config = app.config
        client = app.extensions[CLIENT] = boto3.client(
            "s3", endpoint_url=config["S3_ENDPOINT_URL"] or None,
            region_name=config["S3_REGION"] or None,
            config=Config(connect_timeout=5, read_timeout=60,
                          retries={"max_attempts": 3, "mode": "standard"}))
    return client


def key_of(storage_name: str) -> str:
    if not storage.STORAGE_NAME.match(storage_name or ""):
        raise ValueError(f"not a storage name: {storage_name!r}")
    return f"{current_app.config['S3_PREFIX']}{storage_name[:2]}/{storage_name}"


def put(received: storage.Received, storage_name: str) -> None:
    """Upload the received file; raises ``StorageUnavailable`` (nothing is kept) on failure."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = current_app.config["S3_BUCKET"], key_of(storage_name)
    try:
        with received.path.open("rb") as fh:
            _client().upload_fileobj(fh, bucket, key, ExtraArgs={
                "Metadata": {"sha256": received.sha256}})
    except (BotoCoreError, ClientError) as exc:
        log.error("attachment upload to s3://%s/%s failed: %s", bucket, key, exc)
        raise StorageUnavailable("The file store cannot be reached; nothing was saved. Try "
                                 "again in a moment.") from None


def remove(storage_name: str) -> None:
    """Delete an object whose transaction did not commit (a failure is logged: the object is an
    orphan no row points to)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        _client().delete_object(Bucket=current_app.config["S3_BUCKET"], Key=key_of(storage_name))
    except (BotoCoreError, ClientError) as exc:
        log.warning("could not remove the orphan object %s: %s", storage_name, exc)


def read(storage_name: str) -> BinaryIO | None:
    """The stored object in a spooled file (at its start), or None if the store has no such
    object; ``OSError`` when the store cannot be reached."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        found = _client().get_object(Bucket=current_app.config["S3_BUCKET"],
                                     Key=key_of(storage_name))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise OSError(f"the file store refused the read: {exc}") from None
    except BotoCoreError as exc:
        raise OSError(f"the file store cannot be reached: {exc}") from None
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 - handed to the caller
    body = found["Body"]
    try:
        while chunk := body.read(CHUNK):
            out.write(chunk)
    finally:
        body.close()
    out.seek(0)
    return out  # type: ignore[return-value]
