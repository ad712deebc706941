"""KerasTuner's distributed mode, configured the way KerasTuner reads it: environment variables.

A chief (``KERASTUNER_TUNER_ID=chief``) serves the oracle over gRPC and trains nothing; workers
(any other id) ask it for trials. The channel has no TLS and no authentication: bind the chief
to a trusted network only.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from typing import Iterator

from pipeline.errors import ConfigError, GenreportError

ENV_KEYS = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
ADDRESS = re.compile(r"(?:\[(?P<v6>[0-9a-fA-F:]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>\d{1,5})")
WORKER_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")


def parse_oracle_address(text: str) -> tuple[str, int]:
    """'HOST:PORT' (or '[IPv6]:PORT') as a host and a port in 1..65535."""
    match = ADDRESS.fullmatch(text.strip())
    if not match:
        raise ConfigError(f"--oracle {text!r} is not HOST:PORT")
    port = int(match["port"])
    if not 1 <= port <= 65535:
        raise ConfigError(f"--oracle port {port} is outside 1..65535")
    return match["v6"] or match["host"], port


def check_worker_id(worker_id: str) -> str:
    """A worker id usable in a tuner id and a folder name."""
    if not WORKER_ID.fullmatch(worker_id) or "chief" in worker_id:
        raise ConfigError(f"--worker-id {worker_id!r} must be 1-40 letters, digits, '-' or '_', and not contain 'chief'")
    return worker_id


def is_worker() -> bool:
    """Whether this process is a distributed search worker."""
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "")
    return bool(tuner_id) and "chief" not in tuner_id and "KERASTUNER_ORACLE_IP" in os.environ


@contextmanager
def tuner_role(tuner_id: str, host: str, port: int) -> Iterator[None]:
    """Set KerasTuner's role variables for the duration of a search, then restore them."""
    saved = {key: os.environ.get(key) for key in ENV_KEYS}
    os.environ.update({"KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": host, "KERASTUNER_ORACLE_PORT": str(port)})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def wait_for_chief(host: str, port: int, timeout: float) -> None:
    """Return once a gRPC server answers at host:port, or raise after ``timeout`` seconds."""
    import grpc

    channel = grpc.insecure_channel(f"{host}:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise GenreportError(f"no genreport chief answered at {host}:{port} within {timeout:.0f} s; start `genreport full --oracle {host}:{port}` first") from None
    finally:
        channel.close()
