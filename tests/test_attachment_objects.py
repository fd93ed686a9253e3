"""Attachments in an S3-compatible object store (ATTACHMENT_STORAGE = "s3", issue 13), against a
real S3 server run locally (moto in server mode, its own process): streamed up inside the
row's transaction and removed on rollback, read back and checked against the SHA-256, an
altered or missing object found by `cqms audit verify`, a store that cannot be reached refused
with a clear message and nothing kept."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from kernel_plugin import make_plugin
from sqlalchemy import func, select

from core import create_record
from core.attachments import objects
from core.attachments.models import Attachment
from core.attachments.service import AttachmentIntegrityError, add_attachment, open_attachment
from core.audit.verify import verify
from core.db import db
from core.testing import DEFAULT_PASSWORD, login

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
BUCKET = "cqms-attachments"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "cqms-test", "AWS_SECRET_ACCESS_KEY": "cqms-test-secret"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H",
                               "127.0.0.1", "-p", str(port)], stdout=log.open("wb"),
                              stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise AssertionError(f"moto_server did not start: {log.read_text()[-2000:]}"
                                     ) from None
            time.sleep(0.2)
    yield endpoint
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def bucket(s3_server, monkeypatch):
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


@pytest.fixture
def app_config(temp_plugin, s3_server):
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)},
            "ATTACHMENT_STORAGE": "s3", "S3_BUCKET": BUCKET, "S3_ENDPOINT_URL": s3_server,
            "S3_REGION": "us-east-1"}


@pytest.fixture
def widget(app, bucket, make_user):
    alice = make_user("alice", "author")
    record = create_record("acme_widget", alice, title="Widget")
    db.session.commit()
    return record, alice


def keys(client) -> list[str]:
    return [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_a_file_goes_to_the_store_and_is_read_back_checked(app, client, widget, bucket):
    record, alice = widget
    big = PDF + b"%" + b"x" * (9 * 1024 * 1024) + b"\n"  # past 8 MiB: a multipart upload
    attachment = add_attachment(record, alice, "big.pdf", io.BytesIO(big))
    db.session.commit()
    key = f"attachments/{attachment.storage_name[:2]}/{attachment.storage_name}"
    assert keys(bucket) == [key]
    head = bucket.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentLength"] == len(big)
    assert head["Metadata"]["sha256"] == attachment.sha256
    assert [p for p in (Path(app.instance_path) / "attachments").rglob("*")
            if p.is_file()] == []  # nothing kept on the node
    with open_attachment(attachment) as fh:
        assert fh.read() == big
    login(client, "alice")
    response = client.get(f"/files/{attachment.id}")
    assert response.status_code == 200 and response.data == big


def test_a_rolled_back_upload_leaves_no_object(app, widget, bucket):
    record, alice = widget
    add_attachment(record, alice, "a.pdf", io.BytesIO(PDF))
    assert len(keys(bucket)) == 1  # uploaded inside the transaction
    db.session.rollback()
    assert keys(bucket) == []
    assert db.session.scalar(select(func.count()).select_from(Attachment)) == 0


def test_an_altered_or_missing_object_is_found(app, widget, bucket):
    record, alice = widget
    altered = add_attachment(record, alice, "altered.pdf", io.BytesIO(PDF))
    missing = add_attachment(record, alice, "missing.pdf", io.BytesIO(PDF + b"\n"))
    db.session.commit()
    bucket.put_object(Bucket=BUCKET, Key=objects.key_of(altered.storage_name),
                      Body=PDF.replace(b"1.7", b"1.6"))
    bucket.delete_object(Bucket=BUCKET, Key=objects.key_of(missing.storage_name))
    with pytest.raises(AttachmentIntegrityError, match="altered"):
        open_attachment(altered)
    with pytest.raises(AttachmentIntegrityError, match="missing"):
        open_attachment(missing)
    db.session.rollback()
    with db.engine.connect() as conn:
        report = verify(conn, reconcilers=app.extensions["cqms"].reconcilers)
    lines = [f.line() for f in report.findings]
    assert any(f"core_attachment {altered.id} " in line and "altered or replaced" in line
               for line in lines), lines
    assert any(f"core_attachment {missing.id} " in line and "stored file is missing" in line
               for line in lines), lines


def test_a_store_that_cannot_be_reached_refuses_the_upload_and_keeps_nothing(
        app, client, widget, bucket):
    record, alice = widget
    app.config["S3_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"  # nothing listens
    app.extensions.pop(objects.CLIENT, None)
    token = client.post("/api/v1/auth/tokens", json={
        "username": "alice", "password": DEFAULT_PASSWORD}).get_json()["token"]
    response = client.post(f"/api/v1/records/acme_widget/{record.id}/attachments",
                           data={"file": (io.BytesIO(PDF), "a.pdf")},
                           content_type="multipart/form-data",
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.get_json()["detail"].startswith("The file store cannot be reached")
    with pytest.raises(objects.StorageUnavailable, match="cannot be reached; nothing was saved"):
        add_attachment(record, alice, "a.pdf", io.BytesIO(PDF))
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Attachment)) == 0
    assert keys(bucket) == []
