"""Ed25519 signatures on verification records (the `cryptography` library).

The maintainers hold the private key (never in the repository, never in CI); the public key is
committed as `leaderboard/verify_key.pub` (PEM). `verify` signs each record it writes; `check`
verifies every record against the committed public key, so a hand edit of a status or of a number
in a record cannot pass CI. A record is signed as canonical JSON (sorted keys, no spaces, UTF-8).

    python -m leaderboard keygen --private-key ~/.refexp/leaderboard_ed25519.pem
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PUBLIC_KEY_PATH = Path(__file__).resolve().parent / "verify_key.pub"
PRIVATE_KEY_ENV = "REFEXP_SIGNING_KEY"  # path of the maintainers' PEM private key


class SignatureError(ValueError):
    """A record whose signature does not verify under the leaderboard's public key."""


def canonical(record: dict) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def generate(private_path: Path, public_path: Path) -> None:
    """Write a new key pair: the private key 0600 (outside the repository!), the public key PEM."""
    key = Ed25519PrivateKey.generate()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    public_path.write_bytes(public_pem(key.public_key()))


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def private_key_path(path: str | Path | None) -> Path:
    """The signing key's path (`path` or `$REFEXP_SIGNING_KEY`), without reading it; `ValueError` if none."""
    path = path or os.environ.get(PRIVATE_KEY_ENV)
    if not path:
        raise ValueError(f"no signing key: pass --signing-key PATH or set {PRIVATE_KEY_ENV} (maintainers only)")
    if not Path(path).is_file():
        raise ValueError(f"cannot read the signing key {path}: no such file")
    return Path(path).resolve()


def public_pem_of(path: str | Path) -> bytes:
    """The public key (PEM) of the private key at `path`, computed in a short-lived child process, so
    that the caller never holds the private key (`verify` checks it so before a re-run)."""
    import subprocess
    import sys

    code = ("import sys\nfrom leaderboard import signing\n"
            "sys.stdout.buffer.write(signing.public_pem(signing.load_private(sys.argv[1]).public_key()))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    if out.returncode != 0:
        raise ValueError(out.stderr.decode(errors="replace").strip().splitlines()[-1].removeprefix("ValueError: "))
    return out.stdout


def load_private(path: str | Path | None) -> Ed25519PrivateKey:
    """The signing key from `path` or `$REFEXP_SIGNING_KEY`, with a clear error when absent."""
    path = private_key_path(path)
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the signing key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def load_public(path: str | Path = PUBLIC_KEY_PATH) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(Path(path).read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key


def key_id(key: Ed25519PublicKey) -> str:
    """A short fingerprint of a public key (hex of its first 8 raw bytes), recorded in each record."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw[:8].hex()


def sign(record: dict, key: Ed25519PrivateKey) -> dict:
    """`{"record": record, "signature": base64}`, the file format of a verification record."""
    return {"record": record, "signature": base64.b64encode(key.sign(canonical(record))).decode()}


def verified_record(signed: dict, key: Ed25519PublicKey) -> dict:
    """The record of a signed dict, or `SignatureError` if the signature does not match it."""
    if not isinstance(signed, dict) or set(signed) != {"record", "signature"} or not isinstance(signed["record"], dict):
        raise SignatureError("not a signed record: expected {'record': {...}, 'signature': '...'}")
    try:
        key.verify(base64.b64decode(signed["signature"], validate=True), canonical(signed["record"]))
    except (InvalidSignature, ValueError, TypeError) as exc:
        raise SignatureError("the signature does not match the record under the leaderboard's public key") from exc
    return signed["record"]
