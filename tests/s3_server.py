"""A real S3 API endpoint on 127.0.0.1 for the `s3://` tests: moto's server mode in a thread.

`serve_s3()` starts `moto.server.ThreadedMotoServer` on a free port of 127.0.0.1, resets its
state, and yields an `S3` with one versioned bucket. Clients under test get their credentials
and the endpoint only from the environment (`S3.env`: `AWS_ACCESS_KEY_ID=testing`, ...,
`AWS_ENDPOINT_URL`), never from arguments, and never from the machine's `~/.aws` (the config
and credentials files point into the test's own directory). `S3.put` stores an object and
returns its version id and ETag, so a test can overwrite a key and ask for an older version.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class S3:
    endpoint: str  # http://127.0.0.1:PORT
    bucket: str
    env: dict[str, str]  # what a client needs in its environment, and nothing else
    client: Any  # a boto3 client for setting up objects (explicit keys: it is not under test)

    def put(self, key: str, body: bytes) -> tuple[str, str]:
        """Store BODY at KEY; return (version id, ETag without quotes)."""
        answer = self.client.put_object(Bucket=self.bucket, Key=key, Body=body)
        return str(answer["VersionId"]), str(answer["ETag"]).strip('"')

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def s3_env(endpoint: str, home: Path) -> dict[str, str]:
    """The environment that points a standard AWS client at ENDPOINT with the test keys."""
    return {
        **CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_CONFIG_FILE": str(home / "aws-config"),  # absent: no profile of the machine's
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",  # never ask an instance metadata service
    }


@contextmanager
def serve_s3(home: Path, bucket: str = "checkpoints") -> Iterator[S3]:
    """Moto's S3 on a free port of 127.0.0.1 with BUCKET, versioning on; stopped on exit."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        # The server keeps its state in this process: start from nothing.
        urllib.request.urlopen(
            urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10
        ).close()
        client = boto3.client(
            "s3", endpoint_url=endpoint, region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
            aws_access_key_id="testing", aws_secret_access_key="testing")
        client.create_bucket(Bucket=bucket)
        client.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        yield S3(endpoint=endpoint, bucket=bucket, env=s3_env(endpoint, home), client=client)
    finally:
        server.stop()
