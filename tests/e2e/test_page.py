"""The page at ``/``, driven in a real headless Chromium against the real service.

The browser is the system's Chromium (the Debian package ``chromium``, installed by
scripts/install.sh), driven through Playwright; Playwright downloads nothing. The
service is uvicorn on loopback with the tiny demo model, its catalog a few of the demo
clips' soundtracks ingested over HTTP. What a person does is done through the page:
choosing files, clicking, typing; what the page shows is checked against the answers
the service sent it.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from app.db.session import session_scope
from app.migrate import upgrade
from app.services.models import register_model
from app.settings import Settings

CATALOG_CLIPS = 4  # soundtracks in the catalog: enough for a filter to change the list
WAIT_MS = 240_000  # an analysis on two loaded cores; a wait for a condition, not a timing


def system_chromium() -> str:
    """The Debian package's browser; its absence is an installation error, not a skip."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "chromium is not installed (Debian package 'chromium'; run scripts/install.sh)"
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=system_chromium(),
            args=["--autoplay-policy=no-user-gesture-required", "--mute-audio"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 860})
    tab = context.new_page()
    tab.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    yield tab
    context.close()


def start_service(make_service, **overrides) -> str:
    """A fresh service (the tiny model active) with ``overrides`` in its settings; its URL."""
    settings = Settings(data_dir=make_service.data_dir, **overrides)
    upgrade(settings.sqlalchemy_url)
    with session_scope(settings.sqlalchemy_url) as db:
        register_model(db, make_service.model_dir, settings.model_dir, activate=True)
    return str(make_service.start(settings).base_url)


@pytest.fixture
def open_service(make_service, driver) -> tuple[str, dict[str, int]]:
    """An open service (no keys) whose catalog holds a few demo soundtracks."""
    url = start_service(make_service)
    client = make_service.servers[-1].client
    tracks = driver.ingest(client, driver.clip_ids()[:CATALOG_CLIPS])
    return url, tracks


def recommend_answer(page: Page, action) -> dict:
    """Do ``action`` and return the JSON the page received from POST /recommend/video."""
    with page.expect_response(
        lambda r: "/recommend/video" in r.url and r.request.method == "POST"
    ) as answer:
        action()
    assert answer.value.status == 200, answer.value.text()
    return answer.value.json()


def shown_titles(page: Page) -> list[str]:
    return page.locator("#results .result .title").all_inner_texts()


def test_a_video_is_ranked_heard_narrowed_and_previewed(page: Page, open_service, driver) -> None:
    url, tracks = open_service
    clip = driver.clip_ids()[0]  # its own soundtrack is in the catalog
    page.goto(url)
    expect(page.locator("#key-form")).to_be_hidden()  # an open service asks for no key

    body = recommend_answer(
        page, lambda: page.set_input_files("#video-file", str(driver.video_file(clip)))
    )
    ranked = [r["title"] for r in body["results"]]
    expect(page.locator("#results .result")).to_have_count(len(ranked))
    assert shown_titles(page) == ranked and set(ranked) <= set(tracks)
    first = page.locator("#results .result").first
    top = body["results"][0]
    expect(first.locator(".artist")).to_have_text(top["artist"])
    expect(first.locator(".license")).to_have_text(top["license"])
    expect(first.locator(".match-value")).to_have_text(str(round(top["match"])))
    # The video plays in the page, its cuts marked on the timeline.
    cuts = len(body["query"]["segments"]) - 1
    expect(page.locator("#timeline .cut")).to_have_count(cuts)
    assert page.eval_on_selector("#video", "v => v.src.startsWith('blob:')")

    # The excerpt plays from its start.
    start = top["excerpt"]["start_s"]
    first.get_by_role("button", name="Play excerpt").click()
    audio = first.locator("audio")
    page.wait_for_function(
        "a => !a.paused && a.currentTime > 0", arg=audio.element_handle(), timeout=WAIT_MS
    )
    position = audio.evaluate("a => a.currentTime")
    assert start <= position < start + 5, (start, position)

    # Why it ranked: the service's picture, the edit's hits and the aligned segments.
    first.locator("summary").click()
    expect(first.locator(".pairs tbody tr")).to_have_count(len(top["alignment"]["pairs"]))
    edit = top["edit"]
    expect(first.locator(".why .edit")).to_have_text(
        f"The edit hits {edit['cuts_hit']} of {len(edit['cuts'])} cuts."
    )
    page.wait_for_function(
        "i => i.complete && i.naturalWidth > 0",
        arg=first.locator("img.explain").element_handle(),
        timeout=WAIT_MS,
    )
    assert first.locator("img.explain").evaluate("i => [i.naturalWidth, i.naturalHeight]") == [
        800,
        600,
    ]

    # Tracks like this one, listed under it.
    with page.expect_response(lambda r: "/similar/track" in r.url) as similar:
        first.get_by_role("button", name="Similar tracks").click()
    alike = similar.value.json()["results"]
    assert top["track_id"] not in {r["track_id"] for r in alike}
    expect(first.locator(".similar-list > ol > li")).to_have_count(len(alike))

    # A filter re-ranks the same video (no new file chosen): the top artist is left out.
    narrowed = recommend_answer(
        page, lambda: page.fill("#opt-exclude", top["artist"]) or page.press("#opt-exclude", "Tab")
    )
    left = [r["title"] for r in narrowed["results"]]
    assert top["artist"] not in {r["artist"] for r in narrowed["results"]}
    expect(page.locator("#results .result")).to_have_count(len(left))
    assert shown_titles(page) == left and left != ranked

    # The preview: the video with the edited music, one click away.
    with page.expect_response(lambda r: "/preview" in r.url) as rendered:
        page.locator("#results .result").first.get_by_role(
            "button", name="Preview with the video"
        ).click()
    assert rendered.value.status == 200
    assert rendered.value.headers["content-type"] == "video/mp4"
    preview = page.locator("#preview-video")
    page.wait_for_function("v => v.readyState >= 1", arg=preview.element_handle())
    duration = preview.evaluate("v => v.duration")
    assert abs(duration - body["query"]["duration_s"]) < 1.0, duration


def test_tracks_are_uploaded_watched_and_deleted(page: Page, make_service, driver) -> None:
    url = start_service(make_service)
    clips = driver.clip_ids()[:2]
    page.goto(url)
    page.get_by_role("button", name="Catalog").click()
    page.set_input_files("#track-files", [str(driver.track_file(c)) for c in clips])
    expect(page.locator("#upload-table .up-title")).to_have_count(2)
    page.fill("#up-title-0", "First song")
    page.fill("#up-artist", "Page Artist")
    page.fill("#up-license", "CC-BY")
    page.fill("#up-tags", "calm, strings")
    page.get_by_role("button", name="Upload").click()
    jobs = page.locator("#jobs .job")
    expect(jobs).to_have_count(2)
    expect(page.locator("#jobs .job[data-status='succeeded']")).to_have_count(2)

    rows = page.locator("#tracks tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#tracks tbody .status")).to_have_text(["ready", "ready"])
    page.fill("#search-q", "first")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Page Artist")
    expect(rows.first).to_contain_text("calm, strings")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete First song").click()
    expect(page.locator("#tracks-caption")).to_have_text("No tracks match.")
    client = make_service.servers[-1].client
    assert client.get("/catalog/tracks").json()["total"] == 1

    # The registry (open service: anyone is admin): the active model, re-embedded on demand.
    page.get_by_role("button", name="Models").click()
    model = client.get("/models").json()["models"][0]
    row = page.locator(f"#models tr[data-model-id='{model['id']}']")
    expect(row).to_contain_text(model["name"])
    expect(row.locator(".state")).to_contain_text("active")
    # What its training measured on its validation clips, as the registry recorded it.
    share = model["evaluation"]["val_mean_rank_fraction"]
    expect(row.locator(".evaluation")).to_contain_text("% of the catalog")
    shown = re.search(
        r"mean rank ([0-9.]+)% of the catalog", row.locator(".evaluation").inner_text()
    )
    assert shown is not None and abs(float(shown.group(1)) - 100 * share) <= 0.051
    row.get_by_role("button", name=f"Re-embed {model['name']}").click()
    expect(page.locator(f"#models tr[data-model-id='{model['id']}']")).to_have_attribute(
        "data-status", "succeeded"
    )


def test_a_wrong_key_is_refused_and_the_right_one_used(page: Page, make_service, driver) -> None:
    """A keyed service: the page asks for a key, refuses a wrong one, sends the right one
    on every call. Its videos are answered through a job, whose progress the page follows."""
    user, listener = "page-user", "page-listener"
    url = start_service(
        make_service,
        api_keys=f"{user}=catalog:write,recommend;{listener}=recommend",
        async_video_seconds=1.0,
    )
    page.goto(url)
    expect(page.locator("#key-form")).to_be_visible()
    expect(page.locator("#key-status")).to_have_text("this service needs an API key")

    page.fill("#api-key", "not-a-key")
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#key-status")).to_have_text("unknown or revoked API key")

    # A key that may only ask for music: the page shows no upload form (nor delete).
    page.fill("#api-key", listener)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#key-status")).to_have_text("key accepted")
    page.get_by_role("button", name="Catalog").click()
    expect(page.locator("#upload-form")).to_be_hidden()
    page.get_by_role("button", name="Find music").click()

    page.fill("#api-key", user)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#key-status")).to_have_text("key accepted")
    expect(page.get_by_role("button", name="Models")).to_be_hidden()  # not an admin key
    page.get_by_role("button", name="Catalog").click()
    clip = driver.clip_ids()[0]
    page.set_input_files("#track-files", str(driver.track_file(clip)))
    with page.expect_request("**/catalog/tracks") as sent:
        page.get_by_role("button", name="Upload").click()
    assert sent.value.headers["x-api-key"] == user
    expect(page.locator("#jobs .job[data-status='succeeded']")).to_have_count(1)

    # A video longer than the service answers at once: queued, followed, then shown.
    page.get_by_role("button", name="Find music").click()
    with page.expect_response(lambda r: "/recommend/video" in r.url) as queued:
        page.set_input_files("#video-file", str(driver.video_file(clip)))
    assert queued.value.status == 202
    expect(page.locator("#results .result")).to_have_count(1)
    expect(page.locator("#results .result .title")).to_have_text(clip)
    expect(page.locator("#query-status")).to_contain_text("1 track ranked")
