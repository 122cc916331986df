"""pkgrun serve: the repository's files over HTTP, and a .repo file that points at the server."""

from __future__ import annotations

import threading
import urllib.request
from pathlib import Path

from pkgrun.serve import make_server


def test_serves_files_and_a_repo_file_pointing_at_itself(tmp_path: Path) -> None:
    (tmp_path / "el7" / "x86_64" / "repodata").mkdir(parents=True)
    (tmp_path / "el7" / "x86_64" / "repodata" / "repomd.xml").write_text("<repomd/>")
    (tmp_path / "el7" / "pkgrun.repo").write_text("baseurl=file:///somewhere/el7/$basearch/\n")
    server = make_server(tmp_path, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/el7/x86_64/repodata/repomd.xml") as response:
            assert response.read() == b"<repomd/>"
        with urllib.request.urlopen(f"{base}/el7/pkgrun.repo") as response:
            repo_file = response.read().decode()
        assert f"baseurl=http://127.0.0.1:{port}/el7/$basearch/" in repo_file
        assert repo_file.startswith("[pkgrun-el7]\n") and "gpgcheck=0" in repo_file
    finally:
        server.shutdown()
        server.server_close()
