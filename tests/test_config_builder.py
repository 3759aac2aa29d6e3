"""The config builder (issue 15): its form schema covers every key, its server checks with the config
definitions and places each problem on its field, and it saves only valid configs, only where it is told,
only from its own page (token, Host). The page itself is driven in a real browser in
test_config_builder_browser.py."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from dmg_bmi import config_reference as ref
from dmg_bmi.builder import form, server
from dmg_bmi.cli import main
from dmg_bmi.core.config import load_yaml, parse_yaml
from dmg_bmi.errors import ConfigError

CHECKPOINT = "quickstart_hbv11p.pt"  # what the shipped BMI template names


@pytest.fixture
def fake_asset(tmp_path, monkeypatch) -> Path:
    """A stand-in json-editor script (the API tests never run it) and its licence, via the env variable."""
    folder = tmp_path / "vendor"
    folder.mkdir()
    (folder / "jsoneditor.min.js").write_text("/* json-editor */", encoding="utf-8")
    (folder / "LICENSE").write_text("MIT License", encoding="utf-8")
    monkeypatch.setenv(server.ASSET_ENV, str(folder))
    return folder


@pytest.fixture
def running(tmp_path, fake_asset):
    """(builder, base URL) of a server on a free port, working in tmp_path/work."""
    work = tmp_path / "work"
    work.mkdir()
    (work / CHECKPOINT).write_bytes(b"")  # the catchment template's checkpoint, as quickstart leaves it
    builder = server.Builder(work)
    srv = server.serve(builder, 0)
    yield builder, server.url(srv)
    srv.shutdown()
    srv.server_close()


def call(url: str, body: dict | None = None, token: str | None = None, host: str | None = None):
    """(status, decoded JSON or text) of a GET (body None) or POST."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["X-Dmg-Token"] = token
    if host is not None:
        headers["Host"] = host
    data = None if body is None else json.dumps(body).encode()
    method = "GET" if body is None else "POST"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, ctype = response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        status, raw, ctype = exc.code, exc.read(), exc.headers["Content-Type"]
    return status, json.loads(raw) if ctype == "application/json" else raw.decode()


# ------------------------------------------------------------------------------ the form schema
@pytest.mark.parametrize("kind", list(server.TEMPLATES))
def test_form_schema_has_every_key_with_its_help_and_units(kind):
    schema = form.form_schema(kind)

    def node(path: str) -> dict:
        out = schema
        for part in form._plain(path).split("."):
            out = out["oneOf"][0] if "oneOf" in out else out  # a section that may be null
            out = out["items"] if out.get("type") == "array" and "items" in out else out
            out = out["properties"][part]
        return out

    keys = ref.keys(kind)
    assert keys
    for info in keys:
        found = node(info.path)
        name = info.path.replace("[]", "").split(".")[-1]
        assert found["title"] == (f"{name} [{info.units}]" if info.units else name), info.path
        if info.help:
            assert info.help in found["options"]["infoText"], info.path
        if info.range:
            assert info.range in found["options"]["infoText"], info.path
        if not info.section:  # its type in words, e.g. "date YYYY-MM-DD", "list of text"
            assert info.type in found["options"]["infoText"], info.path
        if info.allowed:
            # a list of choices (e.g. the multimodel's members) offers them per item
            offered = found.get("enum") or found.get("items", {}).get("enum")
            assert offered == list(info.allowed), info.path
        if " or null" in info.type and info.default is not None:  # null must be sayable: grad_clip
            assert [b["type"] for b in found["oneOf"]][1] == "null", info.path


@pytest.mark.parametrize("kind", list(server.TEMPLATES))
def test_form_schema_is_draft4_plain(kind):
    """json-editor 1.x reads no `$defs`, `$ref`, `if`/`then` or nullable `anyOf`: none is left (null is a
    `oneOf` choice)."""
    text = json.dumps(form.form_schema(kind))
    for word in ('"$ref"', '"$defs"', '"if"', '"then"', '"anyOf"'):
        assert word not in text, word
    assert text.count('"type": "null"') == text.count(f'{{"type": "null", "title": "{form.NULL_TITLE}"}}')


def test_form_offers_every_physics_option():
    options = form.form_schema("train")["properties"]["model"]["properties"]["phy"]["properties"]["options"]
    expected = {i.path.split(".")[-1] for i in ref.keys("train") if i.path.startswith(ref.OPTIONS_KEY + ".")}
    assert expected and set(options["properties"]) == expected


def test_place_puts_each_problem_on_the_longest_known_key():
    placed = form.place(["model.phy.nmul must be in [1, 256], got 0",
                         "model.phy: unknown key 'nmull' (known: name, nmul)",
                         "model.phy.nmul.extra is odd",
                         "2 problems: a; b"], "train")
    assert [p["path"] for p in placed] == ["root.model.phy.nmul", "root.model.phy", "root.model.phy.nmul",
                                           "root"]
    (member,) = form.place(["members[1].weight must be >= 0, got -1"], "bmi")
    assert member["path"] == "root.members.1.weight" and member["key"] == "members[1].weight"


# ------------------------------------------------------------------------------ the server
def test_state_schema_and_templates(running):
    builder, url = running
    status, state = call(url + "api/state")
    assert status == 200 and set(state["kinds"]) == {"train", "bmi"} == set(server.TEMPLATES)
    assert "quickstart" in state["templates"]["train"] and "catchment" in state["templates"]["bmi"]
    assert state["start"]["kind"] == "train" and state["start"]["config"]["model"]["phy"]["name"]
    for kind in server.TEMPLATES:
        status, schema = call(url + f"api/schema?kind={kind}")
        assert status == 200 and schema == form.form_schema(kind)
        for name in state["templates"][kind]:
            status, out = call(url + f"api/template?kind={kind}&name={name}")
            assert status == 200
            assert ref.validate_mapping(out["config"], kind, builder.folder) == [], (kind, name)
    status, out = call(url + "api/template?kind=bmi&name=nope")
    assert status == 400 and "nope" in out["message"] and "catchment" in out["message"]
    status, out = call(url + "api/schema?kind=crop")
    assert status == 400 and "'crop'" in out["message"]


def test_page_carries_the_token_and_the_licence(running, fake_asset):
    builder, url = running
    status, page = call(url)
    assert status == 200 and f'content="{builder.token}"' in page and "/vendor/jsoneditor.js" in page
    assert call(url + "vendor/jsoneditor.js")[1] == "/* json-editor */"
    assert call(url + "vendor/json-editor-licence.txt")[1] == "MIT License"
    assert call(url + "static/builder.js")[0] == 200
    assert call(url + "static/../server.py")[0] == 404


def test_check_places_problems_and_previews_yaml(running):
    builder, url = running
    config = server.template("train", "quickstart")
    config["model"]["phy"]["nmul"] = 0
    config["train"]["lr"] = "fast"
    status, out = call(url + "api/check", {"kind": "train", "config": config}, token=builder.token)
    assert status == 200
    paths = {p["path"]: p["message"] for p in out["problems"]}
    assert paths == {"root.model.phy.nmul": "model.phy.nmul must be in [1, 256], got 0",
                     "root.train.lr": "train.lr: expected a number, got 'fast'"}
    assert parse_yaml(out["yaml"].encode(), "preview") == config


def test_save_writes_only_valid_configs_where_told(running, tmp_path):
    builder, url = running
    config = server.template("bmi", "catchment")
    config["latitude"] = 123.0
    body = {"kind": "bmi", "config": config, "path": "site.yaml"}
    status, out = call(url + "api/save", body, token=builder.token)
    assert status == 422 and out["message"].startswith("not saved: 1 problem")
    assert out["problems"][0]["path"] == "root.latitude" and "123" in out["problems"][0]["message"]
    assert not (builder.folder / "site.yaml").exists()

    config["latitude"] = 40.5
    status, out = call(url + "api/save", body, token=builder.token)
    assert status == 200 and out["saved"] == str(builder.folder / "site.yaml")
    assert load_yaml(builder.folder / "site.yaml") == config
    assert main(["config", "validate", str(builder.folder / "site.yaml")]) == 0

    config["latitude"] = 41.0
    status, out = call(url + "api/save", body, token=builder.token)
    assert status == 409 and "exists" in out["message"]
    assert load_yaml(builder.folder / "site.yaml")["latitude"] == 40.5  # untouched until confirmed
    status, out = call(url + "api/save", {**body, "overwrite": True}, token=builder.token)
    assert status == 200 and load_yaml(builder.folder / "site.yaml")["latitude"] == 41.0
    assert sorted(p.name for p in builder.folder.iterdir()) == [CHECKPOINT, "site.yaml"]  # no temp file left

    for path, words in [("site.json", "must end in .yaml"), ("nowhere/site.yaml", "does not exist"),
                        ("", "give a file name")]:
        status, out = call(url + "api/save", {**body, "path": path}, token=builder.token)
        assert status == 400 and words in out["message"], path


def test_posts_need_the_token_and_gets_the_host(running):
    builder, url = running
    body = {"kind": "bmi", "config": server.template("bmi", "catchment"), "path": "x.yaml"}
    for token in (None, "wrong"):
        status, out = call(url + "api/save", body, token=token)
        assert status == 403 and "X-Dmg-Token" in out["message"]
    status, out = call(url + "api/state", host="attacker.example:80")
    assert status == 403 and "Host" in out["message"]
    assert not (builder.folder / "x.yaml").exists()
    status, out = call(url + "api/check", {"kind": "bmi"}, token=builder.token)  # no config: an empty one
    assert status == 200 and out["problems"][0]["message"].startswith("give exactly one of 'checkpoint'")
    assert out["problems"][0]["path"] == "root.checkpoint"  # the longest key the line quotes
    status, out = call(url + "api/check", {"kind": "wofost"}, token=builder.token)
    assert status == 400 and "'wofost'" in out["message"]


def test_opens_an_existing_file_by_its_kind(tmp_path, fake_asset):
    path = tmp_path / "site.yml"
    path.write_text((Path(ref.__file__).parent / "configs" / "bmi" / "catchment.yaml").read_text())
    builder = server.Builder(tmp_path, path)
    assert builder.start["kind"] == "bmi" and builder.start["save_path"] == str(path)
    assert builder.start["config"] == load_yaml(path)
    fresh = server.Builder(tmp_path, tmp_path / "new.yaml")
    assert fresh.start["kind"] == "train" and fresh.start["source"] == "template quickstart"
    fresh = server.Builder(tmp_path, tmp_path / "new_site.yml", kind="bmi")
    assert fresh.start["kind"] == "bmi" and fresh.start["source"] == "template catchment"
    for bad, words in (("new.txt", "must end in .yaml"), ("nowhere/new.yaml", "does not exist")):
        with pytest.raises(ConfigError, match=words):
            server.Builder(tmp_path, tmp_path / bad)


def test_missing_asset_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.delenv(server.ASSET_ENV, raising=False)
    monkeypatch.setattr(server, "SYSTEM_ASSET", tmp_path / "none.js")
    with pytest.raises(ConfigError, match="apt-get install libjs-json-editor"):
        server.asset()
    monkeypatch.setenv(server.ASSET_ENV, str(tmp_path / "nothing"))
    with pytest.raises(ConfigError, match="DMG_BMI_JSONEDITOR=.*nothing"):
        server.asset()


def test_port_in_use_is_a_named_error(running):
    builder, url = running
    port = int(url.rsplit(":", 1)[1].strip("/"))
    with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}.*--port"):
        server.serve(builder, port)


def test_the_command_serves_the_page_until_stopped(tmp_path, fake_asset):
    """`dmg-bmi config-builder --port 0 --no-browser FILE`: prints its 127.0.0.1 address, serves the file,
    and stops cleanly on Ctrl-C (SIGINT)."""
    import os
    import signal
    import subprocess
    import sys

    site = tmp_path / "site.yaml"
    site.write_text((Path(ref.__file__).parent / "configs" / "bmi" / "catchment.yaml").read_text())
    # Ctrl-C's default action in the child, as in a terminal: a test run started in the background of a
    # shell without job control (`nohup ... &`) passes SIGINT on as ignored, and Python then never raises
    # KeyboardInterrupt
    proc = subprocess.Popen([sys.executable, "-m", "dmg_bmi.cli", "config-builder", "--port", "0",
                             "--no-browser", str(site)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        first = proc.stdout.readline()
        assert first.startswith("config builder at http://127.0.0.1:"), first + proc.stderr.read()
        url = first.split()[3]
        status, state = call(url + "api/state")
        assert status == 200 and state["start"]["kind"] == "bmi" and state["start"]["source"] == str(site)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "stopped" in out, err


def test_the_command_refuses_what_it_cannot_build(tmp_path, fake_asset, capsys):
    real = tmp_path / "realization.json"
    real.write_text(json.dumps({"global": {"formulations": []}}))
    assert main(["config-builder", "--no-browser", "--port", "0", str(real)]) == 2
    err = capsys.readouterr().err
    assert "is a realization file" in err and "dmg-bmi config validate" in err


def test_empty_optional_fields_are_null_not_empty(running):
    """The form shows an optional key (`text or null`) as a text field, and an empty one comes back as "":
    the server makes it null again, so a file opened and saved keeps `initial_state: null` and never gains
    an empty path; a key whose default is not null keeps its empty value (and its problem, if any)."""
    builder, url = running
    config = server.template("bmi", "catchment")
    config.update(initial_state="", final_state="", crop_calendar={}, catchment_id="")
    status, out = call(url + "api/check", {"kind": "bmi", "config": config}, token=builder.token)
    assert status == 200 and out["problems"] == []
    saved = parse_yaml(out["yaml"].encode(), "preview")
    assert (saved["initial_state"], saved["final_state"], saved["crop_calendar"]) == (None, None, None)
    assert saved["catchment_id"] == ""
    run = server.template("train", "quickstart")
    run["run"]["exact_dir"] = ""
    status, out = call(url + "api/check", {"kind": "train", "config": run}, token=builder.token)
    assert parse_yaml(out["yaml"].encode(), "preview")["run"]["exact_dir"] is None


def test_relative_paths_are_taken_from_the_save_folder(running):
    """The live check takes a relative checkpoint from the folder of the file the config would be saved as,
    as `config validate` will: the same config is valid saved in `sub/` (where the checkpoint is) and not
    beside it."""
    builder, url = running
    sub = builder.folder / "sub"
    sub.mkdir()
    config = {**server.template("bmi", "catchment"), "checkpoint": "model.pt"}
    (sub / "model.pt").write_bytes(b"")
    status, out = call(url + "api/check", {"kind": "bmi", "config": config, "path": "sub/site.yaml"},
                       token=builder.token)
    assert status == 200 and out["problems"] == []
    status, out = call(url + "api/check", {"kind": "bmi", "config": config, "path": "site.yaml"},
                       token=builder.token)
    assert [p["path"] for p in out["problems"]] == ["root.checkpoint"]
    assert f"file not found: {builder.folder / 'model.pt'}" in out["problems"][0]["message"]


def test_saved_yaml_reads_back_as_written(running):
    """Text that the config reader would take for a number (`1e-3`, `5e2`) or YAML 1.1 for something else
    (`01022500`, `yes`) is quoted in the saved file, so it reads back as the same text."""
    builder, url = running
    config = {**server.template("bmi", "catchment"), "catchment_id": "5e2"}
    status, out = call(url + "api/save", {"kind": "bmi", "config": config, "path": "s.yaml"},
                       token=builder.token)
    assert status == 200 and load_yaml(builder.folder / "s.yaml")["catchment_id"] == "5e2"
    run = server.template("train", "quickstart")
    run["run"]["name"] = "1e-3"
    run["data"]["basins"] = ["01022500", "yes"]
    status, out = call(url + "api/check", {"kind": "train", "config": run}, token=builder.token)
    assert parse_yaml(out["yaml"].encode(), "preview") == run


def test_a_fault_of_the_check_is_an_answer_not_a_dropped_line(running, monkeypatch):
    builder, url = running

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(server.ref, "validate_mapping", broken)
    status, out = call(url + "api/check", {"kind": "bmi", "config": {}}, token=builder.token)
    assert status == 500 and out["message"] == "the check failed (RuntimeError: boom); please report it"
