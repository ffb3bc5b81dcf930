"""A stand-in for the Hugging Face hub on 127.0.0.1: the read calls that Minari's `hf://` remote
makes through the real `huggingface_hub` client, served from a directory; and the hub client's
upload calls, recorded and applied to that directory.

Served (what `minari.download_dataset` / `list_remote_datasets` use, read from huggingface_hub 2.x):

    GET  /api/datasets?author=ORG&search=NAME         list the org's dataset repos
    GET  /api/datasets/ORG/NAME[/revision/REV]        repo info (its commit sha, its files)
    GET  /api/datasets/ORG/NAME/tree/REV[/PATH]       the file listing (snapshot_download)
    HEAD /datasets/ORG/NAME/resolve/REV/PATH          file metadata (hf_hub_download)
    GET  /datasets/ORG/NAME/resolve/REV/PATH          file bytes

A repo is the folder `<root>/ORG/NAME`; a missing repo or file answers 404 with the hub's
`X-Error-Code` (RepoNotFound, EntryNotFound), which the client turns into its own errors.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import os
import shutil
import threading
import urllib.parse
from pathlib import Path


def _files(repo: Path) -> list[str]:
    return sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file())


def _commit(repo: Path) -> str:
    """A 40-hex revision that changes whenever a file of the repo does."""
    h = hashlib.sha1()
    for rel in _files(repo):
        h.update(rel.encode() + b"\0" + hashlib.sha256((repo / rel).read_bytes()).digest())
    return h.hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    root: Path  # set on the subclass made per server
    requests: list  # (method, path) of every request, for tests to inspect

    def log_message(self, *args):  # quiet
        pass

    def _reply(self, code: int, body: bytes = b"", headers: dict | None = None, send_body: bool = True):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _json(self, obj, code: int = 200):
        self._reply(code, json.dumps(obj).encode(), {"Content-Type": "application/json"})

    def _error(self, code: int, error_code: str, send_body: bool = True):
        self._reply(code, json.dumps({"error": error_code}).encode(),
                    {"Content-Type": "application/json", "X-Error-Code": error_code}, send_body)

    def do_HEAD(self):
        self._route(send_body=False)

    def do_GET(self):
        self._route(send_body=True)

    def _route(self, send_body: bool):
        url = urllib.parse.urlsplit(self.path)
        parts = [urllib.parse.unquote(p) for p in url.path.split("/") if p]
        query = urllib.parse.parse_qs(url.query)
        self.requests.append((self.command, url.path))
        if parts[:2] == ["api", "datasets"] and len(parts) == 2:
            return self._list(query)
        if parts[:2] == ["api", "datasets"] and len(parts) >= 4:
            repo = self.root / parts[2] / parts[3]
            if not repo.is_dir():
                return self._error(404, "RepoNotFound")
            rest = parts[4:]
            if rest[:1] == ["tree"]:
                return self._tree(repo, "/".join(rest[2:]))
            return self._info(repo, f"{parts[2]}/{parts[3]}")
        if parts[:1] == ["datasets"] and len(parts) >= 6 and parts[3] == "resolve":
            repo = self.root / parts[1] / parts[2]
            if not repo.is_dir():
                return self._error(404, "RepoNotFound", send_body)
            path = repo / "/".join(parts[5:])
            if not path.is_file():
                return self._error(404, "EntryNotFound", send_body)
            data = path.read_bytes()
            headers = {"X-Repo-Commit": _commit(repo), "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
                       "Content-Type": "application/octet-stream"}
            return self._reply(200, data, headers, send_body)
        self._error(404, "NotFound", send_body)

    def _list(self, query):
        authors = query.get("author", [])
        searches = query.get("search", [])
        out = []
        for org in sorted(p for p in self.root.iterdir() if p.is_dir()):
            if authors and org.name not in authors:
                continue
            for repo in sorted(p for p in org.iterdir() if p.is_dir()):
                if all(s in repo.name for s in searches):
                    out.append({"id": f"{org.name}/{repo.name}", "_id": repo.name, "private": False,
                                "sha": _commit(repo)})
        self._json(out)

    def _info(self, repo: Path, repo_id: str):
        self._json({"id": repo_id, "_id": repo.name, "private": False, "sha": _commit(repo),
                    "siblings": [{"rfilename": f} for f in _files(repo)]})

    def _tree(self, repo: Path, under: str):
        out = []
        for rel in _files(repo):
            if under and not rel.startswith(under.rstrip("/") + "/"):
                continue
            data = (repo / rel).read_bytes()
            out.append({"type": "file", "path": rel, "size": len(data), "oid": hashlib.sha1(data).hexdigest()})
        self._json(out)


class FakeHub:
    """The server (`url`), its repos folder (`root`), the requests it saw and the uploads made."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.requests: list[tuple[str, str]] = []
        self.uploads: list[tuple[str, dict]] = []
        handler = type("Handler", (_Handler,), {"root": self.root, "requests": self.requests})
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # ------------------------------------------------------------- the hub client's write calls
    def create_repo(self, api, repo_id, *, repo_type=None, exist_ok=False, **kw):
        self.uploads.append(("create_repo", {"repo_id": repo_id, "repo_type": repo_type, "token": api.token}))
        (self.root / repo_id).mkdir(parents=True, exist_ok=True)

    def upload_folder(self, api, *, repo_id, folder_path, path_in_repo=None, repo_type=None, **kw):
        self.uploads.append(("upload_folder", {"repo_id": repo_id, "folder_path": str(folder_path),
                                               "path_in_repo": path_in_repo, "repo_type": repo_type, "token": api.token}))
        dest = self.root / repo_id / (path_in_repo or "")
        shutil.copytree(folder_path, dest, dirs_exist_ok=True)

    def upload_file(self, api, *, path_or_fileobj, path_in_repo, repo_id, repo_type=None, **kw):
        self.uploads.append(("upload_file", {"repo_id": repo_id, "path_in_repo": path_in_repo, "repo_type": repo_type,
                                             "token": api.token}))
        dest = self.root / repo_id / path_in_repo
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path_or_fileobj, dest)


@contextlib.contextmanager
def hub_client_at(endpoint: str, home: Path, monkeypatch):
    """Point the real huggingface_hub client at `endpoint`, as HF_ENDPOINT does (the variable is
    set for subprocesses; the client reads it once, at import, so its constants are set too), with
    its cache under `home`."""
    import huggingface_hub.constants as C

    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setattr(C, "ENDPOINT", endpoint)
    monkeypatch.setattr(C, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(C, "HF_HOME", str(home))
    monkeypatch.setattr(C, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(C, "HF_XET_CACHE", str(home / "xet"))
    os.makedirs(home, exist_ok=True)
    yield
