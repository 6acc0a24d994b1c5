"""An S3-compatible server on 127.0.0.1 (moto's, in a thread of the test process) and the environment a
client process reads it with: the usual AWS variables, nothing in a config of ours."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test-key-id", "AWS_SECRET_ACCESS_KEY": "test-secret-never-printed"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """moto's S3 on loopback: `upload` puts a folder's files under a bucket prefix; `objects` lists a
    bucket's keys with their ETags (what a read must leave unchanged)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            **{
                "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            },
        )

    def upload(self, folder: Path, bucket: str, prefix: str) -> None:
        s3 = self.client()
        if bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
            s3.create_bucket(Bucket=bucket)
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                s3.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")

    def objects(self, bucket: str) -> dict[str, str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", [])}

    def client_env(
        self, home: Path, offline: bool = False, credentials: bool = True, endpoint: str | None = None
    ) -> dict[str, str]:
        """A client process's environment: this server (or `endpoint`, a proxy in front of it),
        lerobot's cache under `home`, no AWS config file of the machine's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "AWS_"))}
        env.update(
            AWS_ENDPOINT_URL=endpoint or self.endpoint,
            AWS_DEFAULT_REGION="us-east-1",
            AWS_CONFIG_FILE=str(home / "no-aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-credentials"),
            AWS_EC2_METADATA_DISABLED="true",
            HF_HOME=str(home / "hf"),
            HF_LEROBOT_HOME=str(home / "lerobot"),
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            HF_HUB_OFFLINE="1" if offline else "0",
        )
        if offline:  # nothing listens there: a request would fail the read
            env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
        if credentials:
            env.update(CREDENTIALS)
        return env
