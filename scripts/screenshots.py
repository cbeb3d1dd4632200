"""Regenerate the page's screenshots in docs/img (``python -m scripts.screenshots``).

A small demo model (synthetic clips, handcrafted features; cached under ``--work``, a
second run reuses it), a fresh service on loopback with a few of its held-out
soundtracks ingested over HTTP, and the system's Chromium driven through Playwright:
a held-out clip's video chosen in the page, its ranked tracks shown, the first one's
reasons opened. Writes ``page-query.png`` (the query view) and ``page-results.png``
(the ranked tracks). Needs the dev extras and the Debian package ``chromium``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from app.db.session import session_scope
from app.migrate import upgrade
from app.services.models import register_model
from app.settings import Settings
from cli.demo import DemoConfig, LocalServer, build_demo_model, upload_track, wait_for_jobs

ROOT = Path(__file__).resolve().parents[1]
# The demo's recipe at a size a laptop trains in a few minutes.
CONFIG = DemoConfig(
    n_clips=24,
    seed=7,
    min_clip_s=12.0,
    max_clip_s=20.0,
    epochs=40,
    patience=40,
    monitor="val_loss",
    audio_extractor="handcrafted",
    video_extractor="handcrafted",
)
CATALOG = 8  # soundtracks in the catalog shown
LICENCES = ("CC0", "CC-BY", "CC-BY-SA")
VIEWPORT = {"width": 1440, "height": 900}


def catalog_clips(work: Path) -> list[str]:
    return sorted(p.stem for p in (work / "corpus" / "truth").glob("*.json"))[:CATALOG]


def fill_catalog(client, work: Path, clips: list[str]) -> None:
    """Ingest the clips' soundtracks with readable metadata; wait for their jobs."""
    answers = []
    for i, clip in enumerate(clips):
        truth = json.loads((work / "corpus" / "truth" / f"{clip}.json").read_text())["truth"]
        metadata = {
            "title": f"Synthetic {clip.split('_')[-1]}",
            "artist": f"v2m synth {i % 3 + 1}",
            "license": LICENCES[i % len(LICENCES)],
            "tags": sorted(truth.get("tags", [])),
        }
        answers.append(upload_track(client, work / "corpus" / "tracks" / f"{clip}.flac", metadata))
    failed = [
        j
        for j in wait_for_jobs(client, [a["job_id"] for a in answers])
        if j["status"] != "succeeded"
    ]
    if failed:
        raise RuntimeError(f"{len(failed)} ingest jobs failed: {failed[0]['error']}")


def shoot(url: str, video: Path, out: Path) -> list[Path]:
    """Drive the page and write the two screenshots; their paths."""
    from playwright.sync_api import sync_playwright

    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser_path is None:
        raise SystemExit("chromium is not installed (Debian package 'chromium')")
    query, results = out / "page-query.png", out / "page-results.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(600_000)
        page.goto(url)
        page.set_input_files("#video-file", str(video))
        page.locator("#results .result").first.wait_for()
        page.eval_on_selector("#video", "v => { v.currentTime = v.duration / 3; }")
        page.wait_for_function("() => document.getElementById('video').readyState >= 2")
        page.screenshot(path=query)
        first = page.locator("#results .result").first
        first.locator("summary").click()
        page.locator("#results-title").scroll_into_view_if_needed()
        page.evaluate("window.scrollBy(0, -8)")
        page.screenshot(path=results)
        browser.close()
    return [query, results]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "screenshots")
    args = parser.parse_args(argv)
    model_dir = build_demo_model(args.work / "demo", CONFIG)
    data = args.work / "service"
    shutil.rmtree(data, ignore_errors=True)  # a fresh catalog each time
    settings = Settings(data_dir=data)
    upgrade(settings.sqlalchemy_url)
    with session_scope(settings.sqlalchemy_url) as db:
        register_model(db, model_dir, settings.model_dir, activate=True)
    clips = catalog_clips(args.work / "demo")
    args.out.mkdir(parents=True, exist_ok=True)
    with LocalServer(settings) as client:
        fill_catalog(client, args.work / "demo", clips)
        video = args.work / "demo" / "corpus" / "videos" / f"{clips[0]}.mp4"
        written = shoot(str(client.base_url), video, args.out)
    for path in written:
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
