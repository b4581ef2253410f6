"""Flower's deployment runtime: the coordinator's SuperLink, each member's SuperNode, and ``flwr run``.

Nothing here reimplements Flower: these functions write the files Flower's own processes read (TLS
certificates, SuperNode keys, the ``flwr`` connection file, the Flower App's ``pyproject.toml``) and build
their command lines. Facts about Flower 1.42 this relies on:

- the SuperLink serves its Fleet, Control and ServerAppIo APIs on one TLS port (``--host``/``--port``);
- with ``--enable-supernode-auth`` only SuperNodes whose public key was registered through the Control API
  (``flwr supernode register``) may connect, and the node id it returns is the ``src_node_id`` of that
  node's replies: that is how a reply is tied to a member before its signature is checked;
- ServerApp and ClientApps run in processes the runtime spawns, importing the app components from the
  installed ``fairshare`` package; runtime dependency installation is disabled (air-gapped sites).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import tomli_w
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fairshare.errors import LearningError

__all__ = [
    "FLOWER_APP",
    "NODE_CONFIG_KEYS",
    "RUN_CONFIG",
    "Certificates",
    "flower_env",
    "generate_certificates",
    "generate_node_key",
    "register_node",
    "run_app",
    "superlink_command",
    "supernode_command",
    "wait_for_port",
    "write_app",
    "write_connection",
]

SERVER_APP = "fairshare.consortium.federation:server_app"
CLIENT_APP = "fairshare.learning.clientapp:app"


@dataclass(frozen=True)
class Certificates:
    """The coordinator's TLS files: members get ``ca``; ``cert`` and ``key`` stay on the coordinator."""

    ca: Path
    cert: Path
    key: Path


def _bin(name: str) -> str:
    """Flower's console scripts from the same environment as this Python (the .venv), else PATH."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        raise LearningError(f"{name} not found; install fairshare with its dependencies (make demo sets up .venv)")
    return found


def flower_env(flwr_home: Path) -> dict[str, str]:
    """Flower's processes start more of Flower's console scripts by name: put this environment's first on PATH."""
    return {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "FLWR_HOME": str(flwr_home),
        "FLWR_TELEMETRY_ENABLED": "0",
        "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
    }


def generate_certificates(folder: Path, hostnames: list[str], days: int = 365) -> Certificates:
    """A consortium CA and the SuperLink's certificate for ``hostnames`` (names or IP addresses).

    Kept if already there: members hold a copy of the CA, so replacing it would lock every node out.
    """
    certs = Certificates(folder / "ca.crt", folder / "server.pem", folder / "server.key")
    if certs.ca.exists() and certs.cert.exists() and certs.key.exists():
        return certs
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fairshare consortium CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    names: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    key = ec.generate_private_key(ec.SECP384R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0] if hostnames else "superlink")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(folder / "ca.key", ca_key)
    _write_private(certs.key, key)
    certs.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    certs.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return certs


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey, openssh: bool = False) -> None:
    form = serialization.PrivateFormat.OpenSSH if openssh else serialization.PrivateFormat.TraditionalOpenSSL
    data = key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def generate_node_key(path: Path) -> Path:
    """A SuperNode key pair (ECDSA P-384, OpenSSH format, as ``ssh-keygen -t ecdsa -b 384``); returns the .pub."""
    public = path.with_name(path.name + ".pub")
    if path.exists() or public.exists():
        raise LearningError(f"{path} already exists; node keys are never overwritten (its .pub may be registered)")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    _write_private(path, key, openssh=True)
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH) + b"\n"
    )
    return public


def superlink_command(address: str, certs: Certificates, database: Path) -> list[str]:
    host, port = _split(address)
    return [
        _bin("flower-superlink"),
        "--ssl-ca-certfile",
        str(certs.ca),
        "--ssl-certfile",
        str(certs.cert),
        "--ssl-keyfile",
        str(certs.key),
        "--enable-supernode-auth",
        "--disable-runtime-dependency-installation",
        "--host",
        host,
        "--port",
        str(port),
        "--database",
        str(database),
    ]


def supernode_command(superlink: str, ca: Path, node_key: Path, node_config: dict[str, str], port: int) -> list[str]:
    """``node_config`` values are quoted as TOML strings; the port is the node's local ClientApp API."""
    config = " ".join(f"{k}={json.dumps(v)}" for k, v in node_config.items())
    return [
        _bin("flower-supernode"),
        "--superlink",
        superlink,
        "--root-certificates",
        str(ca),
        "--auth-supernode-private-key",
        str(node_key),
        "--node-config",
        config,
        "--port",
        str(port),
    ]


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise LearningError(f"address {address!r} must be host:port, e.g. 0.0.0.0:9092")
    return host, int(port)


def _dial(address: str) -> tuple[str, int]:
    """Where to connect to a server that listens on ``address`` on this machine (0.0.0.0 is not dialable)."""
    host, port = _split(address)
    return ("127.0.0.1" if host == "0.0.0.0" else host), port


def wait_for_port(address: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    host, port = _dial(address)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise LearningError(f"the process serving {address} exited with code {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise LearningError(f"nothing answered on {address} within {timeout:.0f} s")


def write_connection(flwr_home: Path, name: str, address: str, ca: Path) -> None:
    """The ``flwr`` CLI's connection to this SuperLink, as the default, in ``$FLWR_HOME/config.toml``."""
    host, port = _dial(address)
    flwr_home.mkdir(parents=True, exist_ok=True)
    config = {"superlink": {"default": name, name: {"address": f"{host}:{port}", "root-certificates": str(ca)}}}
    (flwr_home / "config.toml").write_text(tomli_w.dumps(config))


def register_node(flwr_home: Path, connection: str, public_key: Path) -> int:
    """Register a SuperNode's public key with the SuperLink; returns the node id its replies will carry."""
    if not public_key.exists():
        raise LearningError(
            f"node public key {public_key} does not exist; the member creates it with `fairshare node keygen`"
        )
    result = subprocess.run(
        [_bin("flwr"), "supernode", "register", str(public_key), connection, "--format", "json"],
        capture_output=True,
        text=True,
        env=flower_env(flwr_home),
        timeout=60,
    )
    try:
        answer = json.loads(result.stdout)
    except json.JSONDecodeError:
        answer = {}
    node_id = answer.get("node-id", answer.get("node_id"))
    if result.returncode != 0 or not answer.get("success", True) or node_id is None:
        detail = answer.get("error-message") or result.stdout.strip() or result.stderr.strip()
        raise LearningError(f"registering node key {public_key} failed: {detail}")
    return int(node_id)


RUN_CONFIG: dict[str, object] = {"home": "", "consortium": "", "rounds": 0}
"""The ServerApp's run-config keys (``--run-config``): the coordinator's fairshare home (absolute path), the
consortium's name (empty: the only one under ``home``) and the rounds to train (0: the consortium file's)."""

NODE_CONFIG_KEYS = ("member", "data-path", "key-path", "behaviour", "model-factory")
"""The ClientApp's node-config keys (``flower-supernode --node-config``), written by ``fairshare node start``:
the member's name, its rows (.npz), its account key file, and ``honest`` (or a test behaviour)."""

FLOWER_APP: dict[str, object] = {
    "publisher": "fairshare",
    "components": {"serverapp": SERVER_APP, "clientapp": CLIENT_APP},
    "config": RUN_CONFIG,
}
"""``[tool.flwr.app]``: the same in the repository's pyproject.toml (``flwr run .``) and in ``write_app``'s."""


def write_app(folder: Path) -> Path:
    """The Flower App that ``flwr run`` bundles: a pyproject naming fairshare's ServerApp and ClientApp.

    The components are imported from the installed ``fairshare`` package, so the app folder holds only this
    file; it is what the repository's own pyproject.toml declares, for an installed fairshare without it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    project = {
        "build-system": {"requires": ["hatchling"], "build-backend": "hatchling.build"},
        "project": {
            "name": "fairshare-federation",
            "version": "1.0.0",
            "description": "The fairshare consortium's ServerApp and ClientApp.",
            "license": "Apache-2.0",
            "dependencies": [],
        },
        "tool": {"hatch": {"build": {"targets": {"wheel": {"packages": ["."]}}}}, "flwr": {"app": FLOWER_APP}},
    }
    (folder / "pyproject.toml").write_text(tomli_w.dumps(project))
    return folder


def run_app(flwr_home: Path, app: Path, connection: str, run_config: dict[str, object]) -> int:
    """``flwr run`` with the logs streamed to this terminal; returns its exit code."""
    overrides = " ".join(f"{k}={json.dumps(v)}" for k, v in run_config.items())
    command = [_bin("flwr"), "run", str(app), connection, "--stream", "--run-config", overrides]
    return subprocess.run(command, env=flower_env(flwr_home), check=False).returncode
