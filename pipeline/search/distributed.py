"""KerasTuner's distributed mode, configured the way KerasTuner reads it: environment variables.

A chief (``KERASTUNER_TUNER_ID=chief``) serves the oracle over gRPC and trains nothing; workers
(any other id) ask it for trials. The channel has no TLS and no authentication: the chief binds
the loopback address unless told otherwise, warns when it binds a wildcard address, and workers
on other machines reach it through an SSH tunnel. Its oracle refuses reports it cannot trust
(``pipeline.tuning.RecordingMixin``) and gives up on workers that fall silent.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import time
from contextlib import contextmanager
from typing import Any, Iterator

from genreport.pipeline.core.errors import ConfigError, GenreportError

ENV_KEYS = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
ADDRESS = re.compile(r"(?:(?:\[(?P<v6>[0-9a-fA-F:]+)\]|(?P<host>[A-Za-z0-9.-]+)):)?(?P<port>\d{1,5})")
LOOPBACK = "127.0.0.1"
WORKER_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")


def parse_oracle_address(text: str) -> tuple[str, int]:
    """'HOST:PORT', '[IPv6]:PORT' or a bare 'PORT' (the loopback address) as a host and a port in 1..65535."""
    match = ADDRESS.fullmatch(text.strip())
    if not match:
        raise ConfigError(f"--oracle {text!r} is not HOST:PORT")
    port = int(match["port"])
    if not 1 <= port <= 65535:
        raise ConfigError(f"--oracle port {port} is outside 1..65535")
    return match["v6"] or match["host"] or LOOPBACK, port


def grpc_target(host: str, port: int) -> str:
    """'host:port' as gRPC reads it: an IPv6 address keeps its brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_wildcard(host: str) -> bool:
    """Whether ``host`` is an address that listens on every interface (0.0.0.0, ::)."""
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


WILDCARD_WARNING = ("warning: --oracle {target} listens on every network interface, and the search channel has no "
                    "authentication or TLS: anyone who reaches the port can take and report trials. Prefer 127.0.0.1 "
                    "and connect workers through SSH tunnels (see the README, Distributed search)")


def check_bindable(host: str, port: int) -> None:
    """Raise a one-line error unless this machine can listen on ``host:port`` now (checked, then released)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC does
            probe.bind(address)
    except (OSError, IndexError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise GenreportError(f"--oracle {grpc_target(host, port)} cannot be served here: {reason}") from None


def worker_hint(host: str, port: int) -> str:
    """How to start a worker for a chief bound to ``host:port``; never a wildcard address."""
    if is_wildcard(host):
        return (f"start workers with: genreport tune-worker --oracle <this machine's address>:{port} --worker-id ID "
                f"(or through an SSH tunnel: --oracle 127.0.0.1:{port})")
    return f"start workers with: genreport tune-worker --oracle {grpc_target(host, port)} --worker-id ID"


def check_worker_id(worker_id: str) -> str:
    """A worker id usable in a tuner id and a folder name."""
    if not WORKER_ID.fullmatch(worker_id) or "chief" in worker_id:
        raise ConfigError(f"--worker-id {worker_id!r} must be 1-40 letters, digits, '-' or '_', and not contain 'chief'")
    return worker_id


def is_chief() -> bool:
    """Whether this process is a distributed search's chief."""
    return "chief" in os.environ.get("KERASTUNER_TUNER_ID", "") and "KERASTUNER_ORACLE_IP" in os.environ


def is_worker() -> bool:
    """Whether this process is a distributed search worker."""
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "")
    return bool(tuner_id) and "chief" not in tuner_id and "KERASTUNER_ORACLE_IP" in os.environ


@contextmanager
def tuner_role(tuner_id: str, host: str, port: int) -> Iterator[None]:
    """Set KerasTuner's role variables for the duration of a search, then restore them."""
    saved = {key: os.environ.get(key) for key in ENV_KEYS}
    ip = f"[{host}]" if ":" in host else host  # KerasTuner joins f"{ip}:{port}"
    os.environ.update({"KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": ip, "KERASTUNER_ORACLE_PORT": str(port)})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# gRPC retries a refused connection after 1, 1.6, 2.6, 4.1, 6.6, 10.5, ... s (up to 120 s), so a
# worker started well before its chief knocked less and less often and could miss the whole time
# the chief serves its search (seen on a 2-core AVX2 machine: one of two workers waited its 240 s
# out while the chief served for 13 s). A waiting worker knocks about every RETRY_MS (gRPC adds
# ±20% jitter). gRPC's min_reconnect_backoff_ms stays at its 20 s: it is also the time each
# attempt gets to connect, and a chief behind a slow link or an SSH tunnel needs more than 0.5 s.
RETRY_MS = 500
WAIT_CHANNEL_OPTIONS = (("grpc.initial_reconnect_backoff_ms", RETRY_MS), ("grpc.max_reconnect_backoff_ms", RETRY_MS))


def wait_for_chief(host: str, port: int, timeout: float) -> None:
    """Return once a gRPC server answers at host:port, or raise after ``timeout`` seconds; knocks about every ``RETRY_MS``."""
    import grpc

    target = grpc_target(host, port)
    channel = grpc.insecure_channel(target, options=WAIT_CHANNEL_OPTIONS)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise GenreportError(f"no genreport chief answered at {target} within {timeout:.0f} s; start `genreport full --oracle {target}` first") from None
    finally:
        channel.close()


def serve_oracle(oracle: Any, target: str | None = None, poll_seconds: float = 5.0) -> None:
    """Serve ``oracle`` to workers at ``target`` (default: KerasTuner's role variables) until the search ends.

    KerasTuner's ``oracle_chief.start_server`` with three changes: a failed bind is an error at
    once (not a server listening nowhere), another process cannot share the port, and every
    ``poll_seconds`` the oracle gives up on silent workers (``expire_silent_workers``), so a peer
    that took a trial and vanished cannot hold the chief forever. As in KerasTuner, the search
    is over once a worker has been told so and no trial runs and no worker is still known.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer, exit_chief

    target = target or f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), options=[("grpc.so_reuseport", 0)])
    servicer = OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(target)
    except RuntimeError:
        bound = 0
    if not bound:
        raise GenreportError(f"the search oracle cannot listen on {target} (address in use, or not this machine's)")
    server.start()
    try:
        while True:
            time.sleep(poll_seconds)
            expire = getattr(oracle, "expire_silent_workers", None)
            if expire is not None:
                expire()
            if servicer.stop_triggered and exit_chief(oracle):
                return
    finally:
        server.stop(grace=None)
