"""The config builder's HTTP server: the page, its form schemas, the shipped templates, server-side checks
with the config definitions, and saving YAML where the user points.

Safety: it binds 127.0.0.1 only; a request whose `Host` is not this address and port is refused (DNS
rebinding), and every POST must carry the page's random token in `X-Dmg-Token` (another web page cannot set
that header on a cross-origin request without a CORS preflight, which this server never grants). The form's
values are data only: they are checked by the config definitions and written with `dump_yaml`; nothing
in them is run. A save writes one `.yaml`/`.yml` file, atomically, into a folder that exists, only when
the config is valid, and replaces an existing file only when the user confirms it.

API (JSON): GET `/api/state`, `/api/schema?kind=K`, `/api/template?kind=K&name=N`; POST `/api/check`
`{kind, config, path}` -> `{problems: [{path, key, message}], yaml}` (relative paths taken from the folder of
`path`, the file it would be saved as); POST `/api/save` `{kind, config, path,
overwrite}` -> `{saved}` (422 with the problems when invalid, 409 when the file exists).
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from dmg_bmi import config_reference as ref
from dmg_bmi.atomic import write_text
from dmg_bmi.builder.form import form_schema, place, restore_nulls, short_title
from dmg_bmi.core.config import dump_yaml, load_yaml, parse_yaml
from dmg_bmi.errors import ConfigError
from dmg_bmi.train.configs import shipped

HOST = "127.0.0.1"
ASSET_ENV = "DMG_BMI_JSONEDITOR"
# json-editor as Debian/Ubuntu ship it (package libjs-json-editor, MIT), and its copyright file.
SYSTEM_ASSET = Path("/usr/share/javascript/json-editor/jsoneditor.min.js")
SYSTEM_LICENCE = Path("/usr/share/doc/libjs-json-editor/copyright")
MAX_BODY = 1 << 20  # bytes of a POST body
STATIC = {"builder.js": "text/javascript", "builder.css": "text/css"}


def asset() -> tuple[Path, Path | None]:
    """(json-editor's script, its licence file or None): `$DMG_BMI_JSONEDITOR` (the script, or a folder
    holding `jsoneditor.min.js` or `jsoneditor.js`, with its `LICENSE`), else the Debian package's. A
    ConfigError saying how to get it when there is none."""
    given = os.environ.get(ASSET_ENV)
    if given:
        path = Path(given).expanduser()
        if path.is_dir():
            path = next((path / n for n in ("jsoneditor.min.js", "jsoneditor.js") if (path / n).is_file()),
                        path / "jsoneditor.min.js")
        if not path.is_file():
            raise ConfigError(f"{ASSET_ENV}={given}: no json-editor script there (jsoneditor.min.js)")
        licence = path.parent / "LICENSE"
        return path, licence if licence.is_file() else None
    if SYSTEM_ASSET.is_file():
        return SYSTEM_ASSET, SYSTEM_LICENCE if SYSTEM_LICENCE.is_file() else None
    raise ConfigError(
        "the config builder's form widgets come from json-editor (MIT licence), which is not installed: on "
        "Debian or Ubuntu `apt-get install libjs-json-editor`; elsewhere download json-editor's "
        f"dist/jsoneditor.min.js and set {ASSET_ENV} to it")


# Config kind -> its shipped templates: the run configs (`dmg_bmi/configs/*.yaml`, as `--config NAME` finds
# them) and the BMI init config templates (`dmg_bmi/configs/bmi/*.yaml`).
TEMPLATES = {"train": shipped, "bmi": lambda: shipped("bmi")}


def template(kind: str, name: str) -> dict:
    """The shipped template `name` of config kind `kind`, as written (its paths not resolved)."""
    found = TEMPLATES[kind]()
    if name not in found:
        raise ConfigError(f"no {kind} template {name!r}; shipped: {', '.join(found)}")
    return parse_yaml(found[name].read_bytes(), f"template {name}.yaml")


def to_yaml(config: dict, kind: str) -> str:
    """The YAML text a save writes: a header line naming the kind and the check command, then `config` in
    the form's key order."""
    head = (f"# dmg_bmi {short_title(kind)}, made with `dmg-bmi config-builder`.\n"
            "# Check: `dmg-bmi config validate FILE`; keys: `dmg-bmi config explain KEY`.\n")
    return head + dump_yaml(config)


class Builder:
    """What the page works on: the working folder (relative save paths), the file it was opened with, the
    json-editor asset, and the page's token."""

    def __init__(self, folder: Path, file: Path | None = None, kind: str = "train"):
        self.folder = folder.resolve()
        self.file = file
        self.kind = _kind(kind)
        self.script, self.licence = asset()
        self.token = secrets.token_urlsafe(24)
        self.start = self._start()

    def _start(self) -> dict:
        """The config the page opens: `file` when it exists (its kind told from its keys), else a template
        of `kind` (quickstart for a run config); `save_path` is `file` or `config.yaml`. A `file` the
        builder could not make or save (a realization, not .yaml/.yml, its folder missing) is a ConfigError
        now, not at the first save."""
        if self.file is None:
            return self._template_start("config.yaml")
        save = str(self.file)
        if not self.file.exists():
            self.target(save)
            return self._template_start(save)
        raw = load_yaml(self.file)
        kind = ref.kind_of(raw, save)
        if kind not in TEMPLATES:
            raise ConfigError(f"{save} is a {short_title(kind)}: the builder makes "
                              f"{' and '.join(map(short_title, TEMPLATES))}s; check it with "
                              f"`dmg-bmi config validate {save}`")
        self.target(save)
        return {"kind": kind, "config": raw, "source": save, "save_path": save}

    def _template_start(self, save: str) -> dict:
        names = list(TEMPLATES[self.kind]())
        name = "quickstart" if "quickstart" in names else names[0]
        return {"kind": self.kind, "config": template(self.kind, name), "source": f"template {name}",
                "save_path": save}

    def state(self) -> dict:
        return {"kinds": {k: short_title(k) for k in TEMPLATES},
                "templates": {k: list(f()) for k, f in TEMPLATES.items()},
                "start": self.start, "licence": self.licence is not None}

    def target(self, given: str) -> Path:
        """The file a save writes: `given`, relative to the working folder; a ConfigError unless it names a
        .yaml/.yml file in a folder that exists."""
        if not given.strip():
            raise ConfigError("save: give a file name (e.g. my_run.yaml)")
        path = (self.folder / Path(given.strip()).expanduser()).resolve()
        if path.suffix.lower() not in (".yaml", ".yml"):
            raise ConfigError(f"save: {given!r} must end in .yaml or .yml")
        if not path.parent.is_dir():
            raise ConfigError(f"save: folder {path.parent} does not exist (for {given!r})")
        if path.exists() and not path.is_file():
            raise ConfigError(f"save: {path} exists and is not a file")
        return path

    def save_folder(self, given: str) -> Path:
        """The folder relative paths in the config are taken from: that of the file it would be saved as
        (`given`), else the working folder."""
        try:
            return self.target(given).parent
        except ConfigError:
            return self.folder

    def check(self, kind: str, config: Any, base: Path | None = None) -> dict:
        """The problems of `config` (kind `kind`; its empty optional keys made null, `restore_nulls`) placed
        on their fields, and its YAML text."""
        config = restore_nulls(config, kind)
        problems = ref.validate_mapping(config, kind, base or self.folder)
        return {"problems": place(problems, kind), "yaml": to_yaml(config, kind) if isinstance(config, dict)
                else ""}

    def save(self, kind: str, config: Any, given: str, overwrite: bool) -> tuple[HTTPStatus, dict]:
        path = self.target(given)
        result = self.check(kind, config, path.parent)
        if result["problems"]:
            n = len(result["problems"])
            return HTTPStatus.UNPROCESSABLE_ENTITY, {
                **result, "message": f"not saved: {n} problem{'s' * (n > 1)}, shown beside their fields"}
        if path.exists() and not overwrite:
            return HTTPStatus.CONFLICT, {"exists": str(path),
                                         "message": f"{path} exists: replace it? (its comments are not kept)"}
        write_text(path, result["yaml"])
        return HTTPStatus.OK, {"saved": str(path), "message": f"saved {path}"}


def _static(name: str) -> bytes:
    """The bytes of the page's file `name` (`dmg_bmi/builder/static/`)."""
    return (resources.files("dmg_bmi.builder") / "static" / name).read_bytes()


def _kind(value: Any) -> str:
    """A config kind the builder makes (`TEMPLATES`: run and BMI init configs)."""
    if value not in TEMPLATES:
        raise ConfigError(f"kind must be one of {', '.join(TEMPLATES)}, got {value!r}")
    return value


class Handler(BaseHTTPRequestHandler):
    """The routes of the API (module docstring); errors answer JSON `{"message": ...}`."""

    builder: Builder  # set on the subclass `serve` makes
    server_version = "dmg-bmi-config-builder"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the base class's name)
        pass  # the terminal shows the address and the saves, not every request

    def _send(self, status: HTTPStatus, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: HTTPStatus, data: dict) -> None:
        self._send(status, json.dumps(data).encode("utf-8"), "application/json")

    def _host_ok(self) -> bool:
        port = self.server.server_address[1]
        return self.headers.get("Host", "") in (f"{HOST}:{port}", f"localhost:{port}")

    def do_GET(self) -> None:  # noqa: N802  (http.server's name)
        if not self._host_ok():
            return self._json(HTTPStatus.FORBIDDEN, {"message": "wrong Host header"})
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        b = self.builder
        try:
            if url.path == "/":
                page = _static("index.html").replace(b"{{token}}", b.token.encode("ascii"))
                return self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")
            if url.path.startswith("/static/") and url.path[8:] in STATIC:
                return self._send(HTTPStatus.OK, _static(url.path[8:]), STATIC[url.path[8:]])
            if url.path == "/vendor/jsoneditor.js":
                return self._send(HTTPStatus.OK, b.script.read_bytes(), "text/javascript")
            if url.path == "/vendor/json-editor-licence.txt" and b.licence is not None:
                return self._send(HTTPStatus.OK, b.licence.read_bytes(), "text/plain; charset=utf-8")
            if url.path == "/api/state":
                return self._json(HTTPStatus.OK, b.state())
            if url.path == "/api/schema":
                return self._json(HTTPStatus.OK, form_schema(_kind(query.get("kind"))))
            if url.path == "/api/template":
                return self._json(HTTPStatus.OK, {"config": template(_kind(query.get("kind")),
                                                                     query.get("name", ""))})
        except ConfigError as exc:
            return self._json(HTTPStatus.BAD_REQUEST, {"message": str(exc)})
        return self._json(HTTPStatus.NOT_FOUND, {"message": f"no page {url.path}"})

    def do_POST(self) -> None:  # noqa: N802
        if not self._host_ok():
            return self._json(HTTPStatus.FORBIDDEN, {"message": "wrong Host header"})
        if not secrets.compare_digest(self.headers.get("X-Dmg-Token", ""), self.builder.token):
            return self._json(HTTPStatus.FORBIDDEN, {"message": "missing or wrong X-Dmg-Token"})
        size = int(self.headers.get("Content-Length") or 0)
        if size > MAX_BODY:
            return self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"message": f"body over {MAX_BODY} bytes"})
        try:
            body = json.loads(self.rfile.read(size) or b"{}")
            kind = _kind(body.get("kind"))
            if self.path == "/api/check":
                folder = self.builder.save_folder(str(body.get("path", "")))
                return self._json(HTTPStatus.OK, self.builder.check(kind, body.get("config"), folder))
            if self.path == "/api/save":
                status, out = self.builder.save(kind, body.get("config"), str(body.get("path", "")),
                                                bool(body.get("overwrite")))
                if status == HTTPStatus.OK:
                    print(out["message"], flush=True)
                return self._json(status, out)
        except json.JSONDecodeError as exc:
            return self._json(HTTPStatus.BAD_REQUEST, {"message": f"body is not JSON: {exc}"})
        except (ConfigError, OSError) as exc:
            return self._json(HTTPStatus.BAD_REQUEST, {"message": str(exc)})
        except Exception as exc:  # a fault of ours: the page says so instead of keeping an old "valid"
            fault = f"{type(exc).__name__}: {exc}"
            return self._json(HTTPStatus.INTERNAL_SERVER_ERROR,
                              {"message": f"the check failed ({fault}); please report it"})
        return self._json(HTTPStatus.NOT_FOUND, {"message": f"no action {self.path}"})


def serve(builder: Builder, port: int = 0) -> ThreadingHTTPServer:
    """A server for `builder` on 127.0.0.1:`port` (0: a free port), serving on a daemon thread; its URL is
    `url(server)`; stop it with `server.shutdown()`."""
    handler = type("BoundHandler", (Handler,), {"builder": builder})
    try:
        server = ThreadingHTTPServer((HOST, port), handler)
    except OSError as exc:
        raise ConfigError(f"config-builder: cannot listen on {HOST}:{port}: {exc.strerror or exc} "
                          "(choose another --port, or 0 for a free one)") from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="config-builder", daemon=True).start()
    return server


def url(server: ThreadingHTTPServer) -> str:
    return f"http://{HOST}:{server.server_address[1]}/"
