"""Two students and the teacher on one `streamlit run app.py`, in three real browser contexts:
Alice uploads a zip and has a run; Bob (another context) is not offered her upload, her run is not
in his list, and her `?run=` link opens nothing for him; a reload keeps Alice's work (her `?me=`
token in the URL); the teacher types CNNVIZ_TEACHER_KEY once in the sidebar and sees both
students' runs with their owners' labels. Alice's run is written to the server's disk as a run
she owns (training one here would only add minutes of TensorFlow start-up)."""

from __future__ import annotations

import urllib.parse

import pytest
from conftest import shoot, start_streamlit, stop_streamlit, text_appears, wait_for_app

from cnnviz import owners
from cnnviz.i18n import translate

pytestmark = pytest.mark.browser
LOAD = 300_000
KEY = "teacher-secret-for-the-test"


@pytest.fixture(scope="module")
def class_server(artifacts_dir, tmp_path_factory):
    cache_dir = tmp_path_factory.mktemp("owners_cache")
    server = start_streamlit(artifacts_dir, "owners", {"CNNVIZ_CACHE_DIR": str(cache_dir), "CNNVIZ_TEACHER_KEY": KEY})
    server.cache_dir = cache_dir
    yield server
    stop_streamlit(server)


def token_of(page) -> str:
    return urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)["me"][0]


def write_run(cache_dir, run_id, token):
    import json

    d = cache_dir / "runs" / run_id
    d.mkdir(parents=True)
    (d / "settings.json").write_text(json.dumps({"run_id": run_id, "kind": "lab-callbacks", "title": "callbacks",
                                                 "params": {"dataset": "digits", "epochs": 2}, "created": 1.7e9,
                                                 "owner": owners.owner_id(token)}))
    (d / "history.json").write_text(json.dumps({"cifar10_v3": {"loss": [2.0, 1.0], "accuracy": [0.3, 0.6]}}))
    (d / "result.json").write_text(json.dumps({"lab_id": "callbacks", "models": {}, "settings": {"epochs": 2}}))
    (d / "done.json").write_text(json.dumps({"status": "finished", "finished": 1.7e9}))


def main_html(page) -> str:
    """The page's main block as HTML (a selectbox keeps its value in an input: not in innerText)."""
    return page.locator('[data-testid="stMain"]').first.inner_html()


def html_appears(page, text: str, timeout: float = 120_000) -> None:
    page.wait_for_function("t => document.querySelector('[data-testid=\"stMain\"]').innerHTML.includes(t)",
                           arg=text, timeout=timeout)


def pick_own_zip(page):
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=translate("labs_ui.dataset", "en")).first
    box.click()
    page.get_by_role("option", name=translate("labs_ui.dataset.user", "en"), exact=True).click()
    wait_for_app(page, timeout=LOAD)


def test_two_students_and_the_teacher(class_server, browser, artifacts_dir, tmp_path):
    from test_labs_user_zip import colour_zip

    url = class_server.url
    alice_ctx = browser.new_context(viewport={"width": 1400, "height": 2400}, locale="en-US")
    bob_ctx = browser.new_context(viewport={"width": 1400, "height": 2400}, locale="en-US")
    teacher_ctx = browser.new_context(viewport={"width": 1400, "height": 2400}, locale="en-US")
    try:
        alice, bob, teacher = alice_ctx.new_page(), bob_ctx.new_page(), teacher_ctx.new_page()
        for p in (alice, bob, teacher):
            p.set_default_timeout(60_000)
        alice.goto(f"{url}/labs?lang=en")
        wait_for_app(alice, timeout=LOAD)
        a_token = token_of(alice)
        assert owners.valid_token(a_token)
        data = tmp_path / "alice_family_photos.zip"
        data.write_bytes(colour_zip(per_class=12))
        pick_own_zip(alice)
        alice.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(data))
        wait_for_app(alice, timeout=LOAD)
        try:
            html_appears(alice, "alice_family_photos.zip")
        except Exception:
            shoot(alice, artifacts_dir / "owners-alice-upload-failed.png")
            (artifacts_dir / "owners-alice-upload-failed.txt").write_text(alice.inner_text("body"))
            raise
        run_id = "20261201-120000-lab-callbacks-a11ce0"
        write_run(class_server.cache_dir, run_id, a_token)

        bob.goto(f"{url}/labs?lang=en")
        wait_for_app(bob, timeout=LOAD)
        assert token_of(bob) != a_token
        pick_own_zip(bob)
        text_appears(bob, translate("labs_ui.user_none", "en"))
        assert "alice_family_photos" not in main_html(bob)
        assert run_id not in main_html(bob)
        bob.goto(f"{url}/labs?lang=en&run={run_id}&me={token_of(bob)}")
        wait_for_app(bob, timeout=LOAD)
        text_appears(bob, translate("labs_ui.run_not_found", "en"))
        assert run_id not in main_html(bob)
        shoot(bob, artifacts_dir / "owners-bob.png")

        alice.reload()  # her token is in the URL: the reload finds her run and her upload again
        wait_for_app(alice, timeout=LOAD)
        assert token_of(alice) == a_token
        html_appears(alice, run_id)
        alice.goto(f"{url}/labs?lang=en&run={run_id}&me={a_token}")
        wait_for_app(alice, timeout=LOAD)
        assert translate("labs_ui.run_not_found", "en") not in alice.inner_text("body")

        b_run = "20261201-120001-lab-callbacks-b0b000"
        write_run(class_server.cache_dir, b_run, token_of(bob))
        teacher.goto(f"{url}/labs?lang=en")
        wait_for_app(teacher, timeout=LOAD)
        teacher.locator('[data-testid="stSidebar"]').get_by_text(translate("owners.teacher", "en"), exact=True).click()
        field = teacher.locator('[data-testid="stSidebar"] input[type="password"]')
        field.fill(KEY)
        field.press("Enter")
        wait_for_app(teacher, timeout=LOAD)
        text_appears(teacher, translate("owners.teacher_on", "en"))
        text_appears(teacher, translate("labs_ui.disk_use", "en", mb="X", up_mb="Y").split("X")[0])
        html_appears(teacher, owners.owner_label(owners.owner_id(token_of(bob))))  # the Delete picker's first line
        teacher.locator('[data-testid="stSelectbox"]').filter(
            has_text=translate("labs_ui.open_run", "en")).first.click()
        options = teacher.get_by_role("option").all_inner_texts()
        assert any(run_id in o for o in options) and any(b_run in o for o in options), options
        teacher.keyboard.press("Escape")
        shoot(teacher, artifacts_dir / "owners-teacher.png")
    finally:
        for c in (alice_ctx, bob_ctx, teacher_ctx):
            c.close()
