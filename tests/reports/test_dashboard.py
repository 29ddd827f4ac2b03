"""tuner.reports.dashboard: optuna-dashboard over HTTP and in a real headless Chromium.

A small finished study (ask/tell, no training) with one uploaded gallery image is served
from a thread on a free port. The HTTP tests read the JSON API and the artifact route; the
browser test renders the single-page app and looks for the study, its trials and the image.
"""

from __future__ import annotations

import json
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path

import optuna
import pytest
from PIL import Image

from tuner import records
from tuner.cli.dashboard import dashboard_command
from tuner.errors import TunerError
from tuner.reports.dashboard import dashboard_address, exposure_note, make_dashboard_server
from tuner.storage import artifact_store, open_storage

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
VALUES = (0.61, 0.74, 0.68)  # validation Dice of the three trials
GALLERY_SIZE = (24, 16)  # width, height of the uploaded image


def _make_study(url: str, name: str, folder: Path) -> tuple[int, bytes]:
    """Three finished trials; trial 0 carries a gallery PNG. Returns (its trial_id, PNG bytes)."""
    study = optuna.create_study(storage=open_storage(url), study_name=name, direction="maximize")
    png = folder / f"{records.GALLERY_PREFIX}001.png"
    Image.new("RGB", GALLERY_SIZE, (200, 30, 30)).save(png)
    gallery_trial_id = -1
    for value in VALUES:
        trial = study.ask()
        trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        trial.set_user_attr(records.BEST_VAL_DICE, value)
        if gallery_trial_id < 0:
            optuna.artifacts.upload_artifact(
                artifact_store=artifact_store(url), file_path=str(png), study_or_trial=trial
            )
            gallery_trial_id = trial._trial_id
        study.tell(trial, value)
    return gallery_trial_id, png.read_bytes()


@pytest.fixture
def served(sqlite_url, study_name, tmp_path):
    """(base URL, study name, gallery trial id, gallery bytes) of a running dashboard."""
    trial_id, png = _make_study(sqlite_url, study_name, tmp_path)
    server = make_dashboard_server(sqlite_url, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", study_name, trial_id, png
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def test_api_lists_the_study_and_its_trials(served):
    base, name, _, _ = served
    summaries = json.loads(_get(f"{base}/api/studies"))["study_summaries"]
    assert [s["study_name"] for s in summaries] == [name]
    study_id = summaries[0]["study_id"]
    detail = json.loads(_get(f"{base}/api/studies/{study_id}?after=0"))
    assert [t["number"] for t in detail["trials"]] == [0, 1, 2]
    assert [t["values"][0] for t in detail["trials"]] == pytest.approx(VALUES)
    assert all(t["state"] == "Complete" for t in detail["trials"])


def test_artifact_store_is_served(served):
    """The gallery uploaded by the 'objective' comes back byte for byte through the dashboard."""
    base, _, trial_id, png = served
    assert json.loads(_get(f"{base}/api/meta"))["artifact_is_available"] is True
    detail = json.loads(_get(f"{base}/api/studies/1?after=0"))
    trial = next(t for t in detail["trials"] if t["trial_id"] == trial_id)
    (artifact,) = trial["artifacts"]
    assert artifact["filename"] == f"{records.GALLERY_PREFIX}001.png"
    assert artifact["mimetype"] == "image/png"
    assert _get(f"{base}/artifacts/1/{trial_id}/{artifact['artifact_id']}") == png


def test_unopenable_storage_is_a_tuner_error(tmp_path):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(TunerError, match="garbage.db"):
        make_dashboard_server(f"sqlite:///{garbage}", port=0)


def test_port_in_use_is_a_tuner_error(served, sqlite_url):
    base, *_ = served
    port = int(base.rsplit(":", 1)[1])
    with pytest.raises(TunerError, match=f"--port {port}"):
        make_dashboard_server(sqlite_url, host="127.0.0.1", port=port)


def test_command_prints_one_line_and_exits_2_without_the_password(capsys):
    import typer

    with pytest.raises(typer.Exit) as exit_info:
        dashboard_command(storage="postgresql+psycopg://alice:s3cret@127.0.0.1:1/db",
                          host="127.0.0.1", port=0)
    assert exit_info.value.exit_code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tuner: error: storage ")
    assert "s3cret" not in err and "alice:***@127.0.0.1:1/db" in err


def test_address_and_exposure_note():
    assert dashboard_address("127.0.0.1", 8080) == "http://127.0.0.1:8080/"
    assert dashboard_address("::1", 9000) == "http://[::1]:9000/"
    assert "ssh -L 8080:localhost:8080" in exposure_note("127.0.0.1", 8080)
    assert "no login" in exposure_note("0.0.0.0", 8080)


# ---------------------------------------------------------------- real browser
def _browser_missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        names = " and ".join(missing)
        return f"{names} not installed (apt-get install -y chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture
def chromium(tmp_path, monkeypatch):
    """A headless Chromium driven by the system chromedriver; nothing is downloaded."""
    reason = _browser_missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not fetch drivers
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-quic", "--no-first-run",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _wait_for_text(driver, *texts: str, timeout: float = 30) -> str:
    """The page's visible text once every one of ``texts`` shows in it (the app renders late)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d):
        body = d.find_element(By.TAG_NAME, "body").text
        return body if all(t in body for t in texts) else False

    return WebDriverWait(driver, timeout).until(ready)


def test_browser_shows_study_trials_and_gallery(served, chromium):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, name, trial_id, _ = served
    chromium.get(f"{base}/dashboard")
    assert "Direction: MAXIMIZE" in _wait_for_text(chromium, name)

    chromium.get(f"{base}/dashboard/studies/1/trials")
    body = _wait_for_text(chromium, f"{name} (id=1)", "3 Trials", "Trial 2")
    assert body.count("Complete") >= 3
    # The first trial is selected: its value, parameter and gallery artifact are shown.
    assert f"{records.GALLERY_PREFIX}001.png" in _wait_for_text(chromium, "Artifacts")

    def gallery_loaded(d):
        for img in d.find_elements(By.TAG_NAME, "img"):
            if f"/artifacts/1/{trial_id}/" in (img.get_attribute("src") or ""):
                return d.execute_script(
                    "return [arguments[0].naturalWidth, arguments[0].naturalHeight]", img)
        return False

    assert tuple(WebDriverWait(chromium, 20).until(gallery_loaded)) == GALLERY_SIZE


# ---------------------------------------------------------------- notes
def _noted_study(url: str, name: str) -> optuna.Study:
    """Configuration wd=0.1 has the luckiest single run (0.90) but the lower mean (0.70);
    wd=0.01 is steadier (0.80, 0.80): the best by mean over repeats."""
    study = optuna.create_study(storage=url, study_name=name, direction="maximize")
    space = {"weight_decay": optuna.distributions.CategoricalDistribution([0.1, 0.01])}
    for wd, repeat, value in ((0.1, 0, 0.90), (0.1, 1, 0.50), (0.01, 0, 0.80),
                              (0.01, 1, 0.80)):
        study.enqueue_trial({"weight_decay": wd}, user_attrs={"repeat": repeat})
        study.tell(study.ask(space), value)
    study.set_user_attr("searched", ["weight_decay"])
    return study


def _spec():
    from tuner.study.spec import StudySpec

    return StudySpec(name="wd", question="Which weight decay?", repeats=2,
                     space={"weight_decay": optuna.distributions.CategoricalDistribution(
                         [0.1, 0.01])},
                     base={"optimizer": "adamw", "lr": 3e-4, "scheduler": "cosine",
                           "loss": "bce_dice", "epochs": 30, "image_size": 128,
                           "augment": "strong", "train_fraction": 0.6})


def test_study_note_names_the_best_configuration_by_mean_over_repeats(sqlite_url, study_name):
    from optuna_dashboard._note import get_note_from_system_attrs

    from tuner.study import notes

    study = _noted_study(sqlite_url, study_name)
    assert study.best_trial.params == {"weight_decay": 0.1}  # the dashboard's "Best Trial"
    notes.save_study_note(study, _spec(), {"seed": 3})
    attrs = study._storage.get_study_system_attrs(study._study_id)
    body = get_note_from_system_attrs(attrs, None)["body"]
    best = body[body.index("### Best configuration"):]
    assert "`weight_decay=0.01`" in best and "val Dice 0.800 ± 0.000" in best
    assert "trials 2, 3" in best and "weight_decay=0.1`" not in best
    assert "`lr=3.0e-04`" in body and "`seed=3`" in body
    assert all(len(line) <= notes.WIDTH + 2 for line in body.splitlines() if "`" in line)
    empty = optuna.create_study(storage=sqlite_url, study_name=study_name + "-empty")
    assert "No completed trial yet." in notes.study_note(_spec(), {}, empty)


def test_trial_note_is_wrapped_and_readable(sqlite_url, study_name):
    from tuner.config import TrainConfig
    from tuner.study import notes

    study = optuna.create_study(storage=sqlite_url, study_name=study_name)
    trial = study.ask()
    trial.suggest_float("lr_adam", 1e-5, 1e-2, log=True)
    cfg = TrainConfig.from_dict({**_spec().base, "seed": 4})
    text = notes.trial_note(trial, cfg, repeat=1)
    lines = text.splitlines()
    assert lines[0] == f"## Trial {trial.number}"
    config_lines = [line for line in lines if line.startswith("- `")]
    assert len(config_lines) >= 4  # wrapped: several short lines, not one long one
    assert all(len(line) <= notes.WIDTH + 2 for line in config_lines)
    assert "- repeat 1, seed 4" in lines
    for field in ("optimizer=adamw", "lr=3.0e-04", "epochs=30", "augment=strong"):
        assert f"`{field}`" in text
    assert f"`lr_adam={trial.params['lr_adam']:.1e}`" in text
