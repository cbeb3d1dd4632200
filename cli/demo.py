"""``v2m demo``: the whole job end to end on a laptop, with no service installed.

1. generate a small synthetic music-video corpus (ml.synth; known structure);
2. build the Seg-VM-Net dataset (MSAF OLDA segments, the default audio features and
   handcrafted video features, which a CPU computes in seconds),
   train a small Seg-VM-Net with our own training code, export it to ONNX and
   register it (all cached under the data directory: a second run reuses it);
3. start the API on a loopback port (SQLite, in-process jobs) and ingest, through
   HTTP, the soundtracks of held-out clips plus a few real recordings when the
   Debian package ``wesnoth-music`` is installed;
4. upload a held-out clip's video to ``POST /recommend/video`` and print the
   ranked tracks with their suggested excerpts;
5. print the page's URL (``/``) and keep serving it, with the demo catalog, until
   interrupted (``--no-serve``: stop there).

A model trained on synthetic clips is a demonstration of the machinery, not a
useful recommender: train on your own music videos (``v2m train``).
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from app.settings import Settings
from cli.report import results_table
from ml.features import DEFAULT_AUDIO_EXTRACTOR, DEFAULT_VIDEO_EXTRACTOR

WESNOTH_MUSIC = Path("/usr/share/games/wesnoth")


@dataclass(frozen=True)
class DemoConfig:
    n_clips: int = 60
    seed: int = 2026
    min_clip_s: float = 16.0
    max_clip_s: float = 32.0
    real_tracks: int = 3
    epochs: int = 60
    patience: int = 10
    monitor: str = "val_mean_rank"  # what early stopping watches (TrainConfig.monitor)
    k: int = 10
    audio_extractor: str = DEFAULT_AUDIO_EXTRACTOR
    video_extractor: str = DEFAULT_VIDEO_EXTRACTOR


# DemoConfig fields that do not change the trained model.
_SERVING_ONLY = frozenset({"real_tracks", "k"})
# Training options that do not change the model a recipe trains.
_RUN_ONLY = frozenset({"dataset_dir", "out_dir", "progress", "resume", "device"})


def say(message: str) -> None:
    print(f"\n== {message}", flush=True)


def build_demo_model(work: Path, config: DemoConfig, progress: bool = True) -> Path:
    """Corpus -> dataset -> trained Seg-VM-Net -> exported model directory (cached)."""
    from app.services.costs import DEFAULT_METHOD
    from ml.data.clips import BuildConfig, build_dataset
    from ml.evaluation.served import record_sync_weight
    from ml.export import export_checkpoint
    from ml.synth import generate_corpus
    from ml.training.config import TrainConfig
    from ml.training.trainer import train

    model_dir, training_dir, stamp = work / "model", work / "training", work / "model-recipe.json"
    training = TrainConfig(
        kind="segvmnet",
        dataset_dir=work / "dataset",
        out_dir=training_dir,
        embedding_dim=128,
        music_hidden=(512, 256),
        video_hidden=(256,),
        max_epochs=config.epochs,
        patience=config.patience,
        monitor=config.monitor,
        batch_size=128,
        seed=config.seed,
        progress=progress,
    )
    recipe = json.dumps(
        {"demo": {k: v for k, v in asdict(config).items() if k not in _SERVING_ONLY},
         "training": {k: v for k, v in training.to_dict().items() if k not in _RUN_ONLY}},
        sort_keys=True,
    )  # fmt: skip
    if (model_dir / "model.json").is_file() and stamp.is_file() and stamp.read_text() == recipe:
        return model_dir
    # Another recipe (other extractors, epochs...): train anew rather than serve a stale model.
    shutil.rmtree(model_dir, ignore_errors=True)
    shutil.rmtree(training_dir, ignore_errors=True)
    say(f"generating {config.n_clips} synthetic music videos")
    generate_corpus(
        work / "corpus",
        config.n_clips,
        config.seed,
        min_duration_s=config.min_clip_s,
        max_duration_s=config.max_clip_s,
        workers=2,
        progress=progress,
    )
    say(
        f"building the training set (OLDA music segments, features: audio "
        f"{config.audio_extractor}, video {config.video_extractor})"
    )
    build_dataset(
        BuildConfig(
            videos_dir=work / "corpus" / "videos",
            out_dir=work / "dataset",
            segmentation="olda",
            audio_extractor=config.audio_extractor,
            video_extractor=config.video_extractor,
            split_fractions=(0.7, 0.1, 0.2),
            seed=config.seed,
            progress=progress,
        )
    )
    say(f"fitting Seg-VM-Net (recipe: {training.recipe})")
    checkpoint = train(training)
    export_checkpoint(checkpoint, model_dir, name=f"demo-segvmnet-olda-{config.seed}")
    say("weighing the cuts-on-beats evidence on the validation clips")
    fit = record_sync_weight(
        model_dir, work / "dataset", work / "corpus" / "videos", DEFAULT_METHOD, max_distractors=12
    )
    say(f"cuts-on-beats weight {fit.weight:g} ({fit.n_clips} validation clips)")
    stamp.write_text(recipe)
    return model_dir


def held_out_clips(work: Path) -> list[str]:
    """Ids of the clips the model never saw (the dataset's test split)."""
    from ml.data.dataset import MANIFEST_NAME

    manifest = json.loads((work / "dataset" / MANIFEST_NAME).read_text())
    return [clip["clip_id"] for clip in manifest["clips"] if clip["split"] == "test"]


def real_recordings(limit: int) -> list[Path]:
    if not WESNOTH_MUSIC.is_dir():
        return []
    # The shortest real pieces (not the jingles under 1 MB): the demo stays quick.
    music = [
        p
        for p in WESNOTH_MUSIC.rglob("*.ogg")
        if p.parent.name == "music" and p.stat().st_size > 1_000_000
    ]
    return sorted(music, key=lambda p: (p.stat().st_size, p.name))[:limit]


class LocalServer:
    """The real API under uvicorn, on a free loopback port, in a background thread."""

    def __init__(self, settings: Settings):
        import socket

        import uvicorn

        from app.main import create_app

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings), host="127.0.0.1", port=self.port, log_level="warning"
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> httpx.Client:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API did not start")
            time.sleep(0.1)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=600)
        return self.client

    def __exit__(self, *exc) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(30)


def upload_track(client: httpx.Client, path: Path, metadata: dict) -> dict:
    with open(path, "rb") as handle:
        response = client.post(
            "/catalog/tracks",
            files={"file": (path.name, handle)},
            data={"metadata": json.dumps(metadata)},
        )
    response.raise_for_status()
    return response.json()


def wait_for_jobs(client: httpx.Client, job_ids: list[str], timeout_s: float = 1800) -> list[dict]:
    deadline, done = time.monotonic() + timeout_s, {}
    while len(done) < len(job_ids):
        for job_id in job_ids:
            if job_id not in done:
                job = client.get(f"/jobs/{job_id}").json()
                if job["status"] in ("succeeded", "failed"):
                    done[job_id] = job
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(job_ids) - len(done)} ingest jobs still running")
        time.sleep(0.5)
    return [done[j] for j in job_ids]


def run_demo(settings: Settings, config: DemoConfig = DemoConfig(), serve: bool = True) -> int:
    from app.db.session import session_scope
    from app.migrate import upgrade
    from app.services.models import register_model

    started = time.perf_counter()
    work = settings.data_dir / "demo"
    model_dir = build_demo_model(work, config)
    upgrade(settings.sqlalchemy_url)
    with session_scope(settings.sqlalchemy_url) as db:
        from sqlalchemy import select

        from app.db.models import Model

        name = json.loads((model_dir / "model.json").read_text())["name"]
        if db.scalar(select(Model).where(Model.name == name)) is None:
            register_model(db, model_dir, settings.model_dir, activate=True)
    clips = held_out_clips(work)
    tags = {
        c: json.loads((work / "corpus" / "truth" / f"{c}.json").read_text())["truth"]["tags"]
        for c in clips
    }
    with LocalServer(settings) as client:
        say(
            f"ingesting {len(clips)} held-out soundtracks"
            f"{' and real recordings from wesnoth-music' if real_recordings(1) else ''} via HTTP"
        )
        answers = {}
        for clip_id in clips:
            answers[clip_id] = upload_track(
                client,
                work / "corpus" / "tracks" / f"{clip_id}.flac",
                {
                    "title": f"synthetic {clip_id}",
                    "artist": "v2m synth",
                    "license": "CC0",
                    "tags": sorted(tags[clip_id]),
                },
            )
        real = [
            upload_track(
                client,
                path,
                {
                    "title": path.stem.replace("_", " "),
                    "artist": "Wesnoth soundtrack",
                    "license": "GPL-2+",
                },
            )
            for path in real_recordings(config.real_tracks)
        ]
        jobs = [a["job_id"] for a in [*answers.values(), *real] if a.get("job_id")]
        finished = wait_for_jobs(client, jobs)
        failed = [j for j in finished if j["status"] != "succeeded"]
        print(
            f"{len(finished) - len(failed)} tracks ready, {len(failed)} failed "
            f"({time.perf_counter() - started:.0f} s so far)"
        )
        query = clips[0]
        say(f"recommending music for the video {query}.mp4 (its own soundtrack is in the catalog)")
        with open(work / "corpus" / "videos" / f"{query}.mp4", "rb") as handle:
            response = client.post(
                "/recommend/video", params={"k": config.k}, files={"file": (f"{query}.mp4", handle)}
            )
        response.raise_for_status()
        body = response.json()
        print(results_table(body, highlight_track=answers[query]["track_id"]))
        print(
            f"\nquery: {len(body['query']['segments'])} shots over {body['query']['duration_s']} s; "
            f"method {body['method']}; catalog of {body['catalog_size']} tracks; "
            f"demo took {time.perf_counter() - started:.0f} s"
        )
        print(
            "\nThis model was trained on synthetic music videos: it demonstrates the machinery, "
            "not taste.\nTrain on your own music videos with `v2m train segvmnet --videos DIR`, "
            "register the export with `v2m models register DIR --activate`, then `v2m ingest` "
            "your catalog."
        )
        if serve:
            serve_until_interrupted(str(client.base_url))
    return 0


def serve_until_interrupted(url: str) -> None:
    """Keep the demo's service up for the page at ``url`` until Ctrl-C."""
    print(f"\nThe page, with the demo catalog: {url}/  (Ctrl-C stops the service)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("stopped")
