"""Which origins may use the app: Chainlit's real server (``chainlit.server.app``) with the shipped
``.chainlit/config.toml``, asked the way a browser asks, without starting ``chainlit run``.

Chainlit reads its config when ``chainlit.server`` is imported, so each case runs in a fresh
interpreter, with ``CHAINLIT_APP_ROOT`` pointing at a copy of the app's ``.chainlit`` folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .paths import PROJECT_ROOT

OWN = "http://testserver"  # the origin of starlette's TestClient: the app's own page
EVIL = "https://evil.example"

PROBE = """
import json
from starlette.testclient import TestClient
from chainlit.server import app
from playground.ui.origins import restrict_socket_origins

restrict_socket_origins()  # what chainlit_app.py does when the app starts
client = TestClient(app)  # no lifespan: the app's module is not loaded, only the server's layers
found = {}
# A credentialed cross-origin read (fetch(..., {credentials: "include"}) from another site): the
# browser hands the response to that site only if it is allowed by Access-Control-Allow-Origin.
r = client.get("/health", headers={"Origin": ORIGIN, "Cookie": "access_token=stolen"})
found["read"] = [r.status_code, r.headers.get("access-control-allow-origin")]
# The preflight of a JSON POST from that origin (e.g. to list a rater's conversations).
r = client.options("/project/threads", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                                                "Access-Control-Request-Headers": "content-type"})
found["preflight"] = [r.status_code, r.headers.get("access-control-allow-origin")]
# The app's own page: a POST carries its Origin even on the same origin; the CORS layer must let
# it through to the route (which answers 422 to an empty body, not a CORS 400).
r = client.post("/project/threads", headers={"Origin": OWN}, json={})
found["own_post"] = r.status_code
# The app's own page opening its socket.io connection (engine.io polling handshake).
r = client.get("/ws/socket.io/?EIO=4&transport=polling", headers={"Origin": OWN})
found["own_socket"] = [r.status_code, r.text[:2]]
# Another site's page opening a socket with the rater's cookie (browsers send its Origin).
r = client.get("/ws/socket.io/?EIO=4&transport=polling", headers={"Origin": ORIGIN, "Cookie": "access_token=x"})
found["socket"] = r.status_code
print(json.dumps(found))
"""


def probe(tmp_path: Path, origin: str, allow_origins: str | None = None) -> dict:
    """What Chainlit's server answers ``origin``, with the shipped config or with its
    ``allow_origins`` line replaced, as a deployment would configure it."""
    root = tmp_path / "app"
    shutil.copytree(PROJECT_ROOT / ".chainlit", root / ".chainlit", ignore=shutil.ignore_patterns("translations"))
    if allow_origins is not None:
        config = root / ".chainlit" / "config.toml"
        text, count = re.subn(r"(?m)^allow_origins = .*$", f"allow_origins = {allow_origins}", config.read_text())
        assert count == 1
        config.write_text(text)
    script = f"ORIGIN = {origin!r}\nOWN = {OWN!r}\n" + PROBE
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, CHAINLIT_APP_ROOT=str(root)),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_shipped_config_lets_no_other_origin_read_with_a_raters_cookie(tmp_path: Path) -> None:
    found = probe(tmp_path, EVIL)
    # No Access-Control-Allow-Origin: the other site's script never sees the response.
    assert found["read"] == [200, None]
    assert found["preflight"] == [400, None]  # and cannot even send a JSON POST
    # The app's own page is not affected: same-origin requests are not subject to CORS.
    assert found["own_post"] == 422
    assert found["own_socket"] == [200, "0{"]
    assert found["socket"] == 400  # nor can it open the app's socket


def test_a_configured_public_origin_is_allowed(tmp_path: Path) -> None:
    # What config.toml's comment tells a deployment to do when another origin must use the app.
    found = probe(tmp_path, "https://arena.example.org", allow_origins='["https://arena.example.org"]')
    assert found["read"] == [200, "https://arena.example.org"]
    assert found["preflight"] == [200, "https://arena.example.org"]
    assert found["own_post"] == 422 and found["own_socket"] == [200, "0{"]
    assert found["socket"] == 200
