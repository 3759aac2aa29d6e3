"""The config builder page in a real browser (issue 15): headless Chromium (Debian's `chromium` and
`chromium-driver`) driven by Selenium, against the real server and the real json-editor (`libjs-json-editor`).

Each test opens the page, fills a config from a shipped template, enters a wrong value and sees the server's
message beside that field, fixes it, saves, and checks the saved file with `dmg-bmi config validate`.
Without a browser, driver or json-editor the tests skip and say which is missing; CI sets
`DMG_BMI_REQUIRE_BROWSER=1`, so there they fail instead. Screenshots go to `$DMG_BMI_SCREENSHOTS` when set
(the two in docs/figures/ were made so), else to the test's temp folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from dmg_bmi.builder import server
from dmg_bmi.cli import main
from dmg_bmi.core.config import load_yaml
from dmg_bmi.errors import ConfigError

REQUIRE = "DMG_BMI_REQUIRE_BROWSER"
WAIT_S = 30


def _unavailable(reason: str):
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"a browser is required ({REQUIRE}=1) but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium under Selenium, or a skip naming what is missing."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed (pip install -e '.[test]')")
    binary = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    driver = shutil.which("chromedriver")
    if binary is None or driver is None:
        _unavailable(f"no {'Chromium' if binary is None else 'chromedriver'} on PATH "
                     "(Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1500,1000",
                "--lang=en-US"):
        options.add_argument(arg)
    try:
        chrome = webdriver.Chrome(service=Service(driver), options=options)
    except Exception as exc:  # a driver that cannot start its browser: say why
        _unavailable(f"Chromium did not start: {str(exc).splitlines()[0]}")
    yield chrome
    chrome.quit()


@pytest.fixture
def page(tmp_path, browser):
    """(browser at the builder's page, the builder) for a server working in tmp_path."""
    try:
        server.asset()
    except ConfigError as exc:
        _unavailable(str(exc))
    (tmp_path / "quickstart_hbv11p.pt").write_bytes(b"")  # the BMI template's checkpoint (`quickstart`'s)
    builder = server.Builder(tmp_path)
    srv = server.serve(builder, 0)
    browser.get(server.url(srv))
    _wait(browser, lambda b: b.execute_script("return document.body.dataset.ready") == "train", "page ready")
    yield browser, builder
    srv.shutdown()
    srv.server_close()


def _wait(browser, condition, what: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT_S).until(condition, message=f"waiting for {what}")


def _field(browser, path: str):
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, f'[data-schemapath="{path}"]')


def _type(browser, path: str, text: str) -> None:
    """Type `text` into the field at schema path `path` and leave it (json-editor reads it on change)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = _field(browser, path).find_element(By.CSS_SELECTOR, "input")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    seen = browser.execute_script("return document.body.dataset.checked")
    box.clear()
    box.send_keys(text, Keys.TAB)
    _wait(browser, lambda b: b.execute_script("return document.body.dataset.checked") != seen,
          f"the server's check after typing {text!r} into {path}")


def _error_beside(browser, path: str) -> str:
    from selenium.webdriver.common.by import By

    return " ".join(e.text for e in _field(browser, path).find_elements(By.CSS_SELECTOR, ".errmsg")
                    if e.is_displayed())


def _info(kind: str, key: str):
    from dmg_bmi.config_reference import keys

    (found,) = [i for i in keys(kind) if i.path == key]
    assert found.help
    return found


def _label(browser, path: str) -> str:
    """The field's name as shown (its label without the tooltip's hidden text)."""
    from selenium.webdriver.common.by import By

    label = _field(browser, path).find_element(By.CSS_SELECTOR, "label")
    return browser.execute_script("return arguments[0].firstChild.textContent", label).strip()


def _hover_help(browser, path: str) -> str:
    """The tooltip text shown while the pointer is on the field's info mark."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    icon = _field(browser, path).find_element(By.CSS_SELECTOR, "label .info")
    tip = icon.find_element(By.CSS_SELECTOR, "span")
    assert not tip.is_displayed()
    ActionChains(browser).move_to_element(icon).perform()
    _wait(browser, lambda b: tip.is_displayed(), f"the tooltip of {path}")
    return tip.text


def _problems(browser) -> list[str]:
    from selenium.webdriver.common.by import By

    return [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#problems li")]


def _start_from(browser, kind: str, name: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(By.ID, "kind")).select_by_value(kind)
    Select(browser.find_element(By.ID, "template")).select_by_value(name)
    browser.execute_script("document.body.dataset.ready = ''")
    browser.find_element(By.ID, "load-template").click()
    _wait(browser, lambda b: b.execute_script("return document.body.dataset.ready") == kind, f"{kind} form")
    _wait(browser, lambda b: b.find_element(By.ID, "problem-count").text == "valid", "the template checked")


def _save(browser, name: str) -> str:
    from selenium.webdriver.common.by import By

    box = browser.find_element(By.ID, "save-path")
    box.clear()
    box.send_keys(name)
    browser.execute_script("document.getElementById('status').textContent = ''")  # wait for a new answer
    browser.find_element(By.ID, "save").click()
    return _wait(browser, lambda b: b.find_element(By.ID, "status").text, "the save's answer")


def _screenshot(browser, tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("DMG_BMI_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    assert browser.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


def test_build_a_run_config(page, tmp_path):
    browser, builder = page
    _start_from(browser, "train", "quickstart")
    _type(browser, "root.train.epochs", "40")
    _type(browser, "root.model.phy.nmul", "4")
    _type(browser, "root.train.lr", "-0.01")  # wrong: the learning rate must be > 0
    beside = _error_beside(browser, "root.train.lr")
    assert "train.lr" in beside and "-0.01" in beside, beside
    assert _problems(browser) == [beside.rstrip(".")]  # json-editor ends the text with a full stop
    assert _error_beside(browser, "root.train.epochs") == ""
    assert _save(browser, "my_run.yaml").startswith("not saved: 1 problem")
    assert not (builder.folder / "my_run.yaml").exists()
    for key in ("train.rho", "model.phy.warmup"):  # units beside the field's name
        info = _info("train", key)
        assert _label(browser, f"root.{key}") == f"{key.split('.')[-1]} [{info.units}]"
    tip = _hover_help(browser, "root.train.lr")  # the help is the field's tooltip
    assert _info("train", "train.lr").help in tip
    _screenshot(browser, tmp_path, "config_builder_run.png")

    _type(browser, "root.train.lr", "5e-3")
    assert _error_beside(browser, "root.train.lr") == "" and _problems(browser) == []
    assert _save(browser, "my_run.yaml") == f"saved {builder.folder / 'my_run.yaml'}"
    saved = load_yaml(builder.folder / "my_run.yaml")
    assert (saved["train"]["lr"], saved["train"]["epochs"], saved["model"]["phy"]["nmul"]) == (0.005, 40, 4)
    assert main(["config", "validate", str(builder.folder / "my_run.yaml")]) == 0


def test_build_a_bmi_init_config(page, tmp_path):
    browser, builder = page
    _start_from(browser, "bmi", "catchment")
    _type(browser, "root.catchment_id", "cat-2453")
    _type(browser, "root.latitude", "123")  # wrong: a latitude is in [-90, 90]
    beside = _error_beside(browser, "root.latitude")
    assert "latitude" in beside and "123" in beside, beside
    assert _problems(browser) == [beside.rstrip(".")]  # json-editor ends the text with a full stop
    assert _label(browser, "root.latitude") == f"latitude [{_info('bmi', 'latitude').units}]"
    _screenshot(browser, tmp_path, "config_builder_bmi.png")

    _type(browser, "root.latitude", "40.25")
    assert _error_beside(browser, "root.latitude") == "" and _problems(browser) == []
    assert _save(browser, "cat-2453.yml") == f"saved {builder.folder / 'cat-2453.yml'}"
    saved = load_yaml(builder.folder / "cat-2453.yml")
    assert (saved["catchment_id"], saved["latitude"]) == ("cat-2453", 40.25)
    assert main(["config", "validate", str(builder.folder / "cat-2453.yml")]) == 0


def test_replacing_a_file_asks_first(page):
    browser, builder = page
    target = builder.folder / "taken.yaml"
    target.write_text("# mine\n", encoding="utf-8")
    browser.execute_script("window.asked = null; window.confirm = (m) => { window.asked = m; return false; }")
    assert _save(browser, "taken.yaml") == f"not saved: {target} exists"  # the user answered No
    asked = browser.execute_script("return window.asked")
    assert asked == f"{target} exists: replace it? (its comments are not kept)"
    assert target.read_text(encoding="utf-8") == "# mine\n"
    browser.execute_script("window.confirm = () => true")  # now Yes
    assert _save(browser, "taken.yaml") == f"saved {target}"
    assert main(["config", "validate", str(target)]) == 0


def _yaml_preview(browser) -> dict:
    from selenium.webdriver.common.by import By

    from dmg_bmi.core.config import parse_yaml

    text = browser.find_element(By.ID, "yaml").get_attribute("textContent")
    return parse_yaml(text.encode("utf-8"), "the page's YAML preview")


def test_every_template_round_trips_unchanged(page):
    """Each shipped template, started in the form, comes back as the same config and is valid: the form
    neither drops nor retypes a value (a list of basins stays a list, a mapping stays a mapping)."""
    from selenium.webdriver.common.by import By

    browser, _ = page
    for kind, templates in server.TEMPLATES.items():
        for name in templates():
            _start_from(browser, kind, name)
            assert _yaml_preview(browser) == server.template(kind, name), (kind, name)
            # no menu offers a blank entry (json-editor's wrote the text "undefined", or true)
            assert not browser.find_elements(By.CSS_SELECTOR, '#form option[value="undefined"]'), name


def test_numbers_are_sent_as_typed(page):
    """A number field passes on what was typed: '0,01' is not read as 1, 365.5 in an integer field is not
    read as 3655; the server names each."""
    browser, _ = page
    _type(browser, "root.train.lr", "0,01")
    _type(browser, "root.train.rho", "365.5")
    assert _error_beside(browser, "root.train.lr") == "train.lr: expected a number, got '0,01'."
    assert _error_beside(browser, "root.train.rho") == "train.rho: expected an integer, got 365.5."
    _type(browser, "root.train.lr", "2.5e-3")
    assert _error_beside(browser, "root.train.lr") == "" and _yaml_preview(browser)["train"]["lr"] == 0.0025


def test_section_and_registry_problems_show_where_they_belong(page):
    browser, _ = page
    _type(browser, "root.data.train.end", "1999-01-01")
    _type(browser, "root.model.phy.name", "hbv9")
    section = _field(browser, "root.data.train").text
    assert "data.train: end 1999-01-01 is before start 2000-01-01" in section
    assert "model.phy.name: unknown physics model 'hbv9'" in _error_beside(browser, "root.model.phy.name")
    assert len(_problems(browser)) == 2


def test_the_kind_menu_only_lists_templates(page):
    """Choosing another kind in the menu lists its templates; the form keeps its own kind (and its checks)
    until one is started."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser, _ = page
    Select(browser.find_element(By.ID, "kind")).select_by_value("bmi")
    options = [o.text for o in Select(browser.find_element(By.ID, "template")).options]
    assert options == list(server.TEMPLATES["bmi"]())
    _type(browser, "root.train.epochs", "30")
    assert _problems(browser) == [] and _yaml_preview(browser)["train"]["epochs"] == 30


def test_a_key_added_with_object_properties_is_checked(page):
    """Ticking `valid` in the data section's property box adds the key at its default, null (no validation
    period), and the server checks at once; switched to a value, its empty dates are named, then filled and
    saved."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from dmg_bmi.builder.form import NULL_TITLE

    browser, builder = page
    data = _field(browser, "root.data")
    next(b for b in data.find_elements(By.TAG_NAME, "button") if b.text == "Object Properties").click()
    seen = browser.execute_script("return document.body.dataset.checked")
    box = next(label for label in data.find_elements(By.CSS_SELECTOR, ".property-selector label")
               if label.text == "valid")
    box.find_element(By.TAG_NAME, "input").click()
    _wait(browser, lambda b: b.execute_script("return document.body.dataset.checked") != seen, "a check")
    assert _yaml_preview(browser)["data"]["valid"] is None and _problems(browser) == []
    switch = Select(_field(browser, "root.data.valid").find_element(By.CSS_SELECTOR, ":scope > select"))
    assert [o.text for o in switch.options] == ["value", NULL_TITLE]
    switch.select_by_visible_text("value")
    _wait(browser, lambda b: _problems(b), "the empty period's problems")
    assert all(p.startswith("data.valid.") for p in _problems(browser)), _problems(browser)
    _type(browser, "root.data.valid.start", "2006-01-01")
    _type(browser, "root.data.valid.end", "2006-12-31")
    assert _problems(browser) == [] and _yaml_preview(browser)["data"]["valid"] == {
        "start": "2006-01-01", "end": "2006-12-31"}
    assert _save(browser, "with_valid.yaml") == f"saved {builder.folder / 'with_valid.yaml'}"
    assert main(["config", "validate", str(builder.folder / "with_valid.yaml")]) == 0


def test_an_opened_file_keeps_what_the_form_cannot_show(browser, tmp_path):
    """A file opened in the builder comes back as written, mistakes included: misspelt keys stay (and are
    named), and a null that means something (`grad_clip: null`, no clipping; `native: null`) stays null
    instead of turning into the default or false."""
    import yaml

    from dmg_bmi.builder.form import NULL_TITLE

    try:
        server.asset()
    except ConfigError as exc:
        _unavailable(str(exc))
    raw = server.template("train", "quickstart")
    raw["train"].update(grad_clip=None, lrr=0.5)
    raw["model"]["phy"]["options"] = {"native": None}
    raw["extra_top"] = 1
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    builder = server.Builder(tmp_path, path)
    srv = server.serve(builder, 0)
    try:
        browser.get(server.url(srv))
        _wait(browser, lambda b: b.execute_script("return document.body.dataset.checked"), "the first check")
        assert _yaml_preview(browser) == raw
        problems = _problems(browser)
        assert any("unknown key(s) 'train.lrr'" in p for p in problems), problems
        assert any("'extra_top'" in p for p in problems), problems
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select

        switch = _field(browser, "root.train.grad_clip").find_element(By.CSS_SELECTOR, ":scope > select")
        assert Select(switch).first_selected_option.text == NULL_TITLE
        assert "null: no clipping" in _hover_help(browser, "root.train.grad_clip")  # a switcher has help too
    finally:
        srv.shutdown()
        srv.server_close()


def test_a_lost_server_never_leaves_valid_standing(browser, tmp_path):
    """With the server gone, a change says it was not checked (and the badge no longer says valid)."""
    from selenium.webdriver.common.by import By

    try:
        server.asset()
    except ConfigError as exc:
        _unavailable(str(exc))
    srv = server.serve(server.Builder(tmp_path), 0)
    browser.get(server.url(srv))
    _wait(browser, lambda b: b.find_element(By.ID, "problem-count").text == "valid", "the first check")
    srv.shutdown()
    srv.server_close()
    box = _field(browser, "root.train.epochs").find_element(By.CSS_SELECTOR, "input")
    box.clear()
    box.send_keys("0", "\t")
    status = _wait(browser, lambda b: b.find_element(By.ID, "status").text, "the page's answer")
    assert status.startswith("not checked: no answer from the builder's server"), status
    assert browser.find_element(By.ID, "problem-count").text == "?"
