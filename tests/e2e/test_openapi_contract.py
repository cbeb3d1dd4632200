"""The OpenAPI document describes the service.

Every answer of the real service (under uvicorn on loopback, keys configured, the tiny
model active) has a status the document lists for its route, the content type it
names and a body its schema accepts: first for requests a client makes with real
media (every route's success, and the errors clients meet), then for requests
schemathesis generates from the document itself, valid and invalid.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import httpx
import pytest

from app.main import create_app
from app.settings import Settings
from cli.demo import wait_for_jobs

ADMIN, WRITER, READER = "contract-admin-key", "contract-writer-key", "contract-reader-key"
KEYS = f"{ADMIN}=admin;{WRITER}=catalog:write;{READER}=recommend"
MAX_UPLOAD = 2 * 1024 * 1024  # small, so that a 413 costs a few megabytes
ERROR_REF = "#/components/schemas/ErrorOut"
AUTH = [{"ApiKey": []}, {"Bearer": []}]
CUTS = "2.5,5,7.5"  # a user's cut points: no shot detection runs
UNPROTECTED = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/access")}


def operations(spec: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item}


# --- the document alone -------------------------------------------------------------


def test_the_document_names_bodies_errors_and_auth(tmp_path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    spec = app.openapi()
    text = json.dumps(spec)
    assert (
        "HTTPValidationError" not in text and "ValidationError" not in spec["components"]["schemas"]
    )
    error = spec["components"]["schemas"]["ErrorOut"]
    assert set(error["required"]) == {"error", "detail"}
    assert error["properties"]["error"]["type"] == "string"

    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        **schemes["ApiKey"],
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
    assert schemes["Bearer"] == {**schemes["Bearer"], "type": "http", "scheme": "bearer"}

    documented = operations(spec)
    assert UNPROTECTED < documented
    protected = documented - UNPROTECTED  # the service answers them 401 without a key
    for method, path in documented:
        operation = spec["paths"][path][method.lower()]
        responses = operation["responses"]
        success = [s for s in responses if s.startswith("2")]
        assert success, (method, path)
        for status in success:
            content = responses[status]["content"]
            kinds = ("application/json", "text/plain", "video/mp4", "audio/*", "image/png")
            kind = next(k for k in kinds if k in content)
            schema = content[kind]["schema"]
            assert "$ref" in schema or schema in (
                {"type": "string"},
                {"type": "string", "format": "binary"},
            ), (method, path, status)
        errors = {s: r for s, r in responses.items() if s[0] in "45"}
        if (method, path) != ("GET", "/readyz"):  # its 503 is the readiness report itself
            for status, response in errors.items():
                assert response["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, (
                    method,
                    path,
                    status,
                )
        if operation.get("parameters") or operation.get("requestBody"):
            assert "422" in errors, (method, path)
        if (method, path) in protected:
            assert operation["security"] == AUTH and {"401", "403"} <= set(errors), (method, path)
        else:
            assert "security" not in operation and not {"401", "403"} & set(errors)
        if "multipart/form-data" in operation.get("requestBody", {}).get("content", {}):
            assert {"400", "413", "415", "422"} <= set(errors), (method, path)
    ingest = spec["paths"]["/catalog/tracks"]["post"]["responses"]
    assert {"200", "202"} <= set(ingest)
    assert ingest["200"]["content"] == ingest["202"]["content"]
    assert "202" in spec["paths"]["/recommend/video"]["post"]["responses"]


# --- the service ----------------------------------------------------------------------


@pytest.fixture
def short_and_long(driver) -> tuple[str, str]:
    """The corpus's shortest and longest videos."""
    from ml.media.decode import probe

    durations = {c: probe(driver.video_file(c)).duration_s for c in driver.clip_ids()}
    short, long = min(durations, key=durations.get), max(durations, key=durations.get)
    assert durations[long] > durations[short] + 1
    return short, long


@pytest.fixture
def service(make_service, driver, short_and_long, monkeypatch) -> httpx.Client:
    """Keys required, small uploads, and the longest video answered by a job."""
    from ml.media.decode import probe

    short, long = (probe(driver.video_file(c)).duration_s for c in short_and_long)
    second = sorted(probe(driver.video_file(c)).duration_s for c in driver.clip_ids())[1]
    monkeypatch.setenv("V2M_API_KEYS", KEYS)
    # The shortest video's preview is rendered at once, the second shortest's by a job.
    monkeypatch.setenv("V2M_PREVIEW_ASYNC_SECONDS", str((short + second) / 2))
    monkeypatch.setenv("V2M_MAX_UPLOAD_BYTES", str(MAX_UPLOAD))
    monkeypatch.setenv("V2M_ASYNC_VIDEO_SECONDS", str((short + long) / 2))
    client = make_service()
    client.headers["X-API-Key"] = ADMIN
    return client


def load_spec(client: httpx.Client):
    """The document the service serves, with the admin key for its API key scheme."""
    import schemathesis

    config = schemathesis.Config.from_dict({"auth": {"openapi": {"ApiKey": {"api_key": ADMIN}}}})
    return schemathesis.openapi.from_url(f"{client.base_url}/openapi.json", config=config)


def response_checks() -> list:
    """What must hold of any answer: no 5xx, a documented status and content type, and
    a body the documented schema accepts."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]


class Contract:
    """Checks real answers against the document and records which routes answered what."""

    def __init__(self, client: httpx.Client):
        self.client, self.schema = client, load_spec(client)
        self.seen: dict[tuple[str, str], set[int]] = {}

    def __call__(self, response: httpx.Response, status: int) -> dict | str:
        request = response.request
        operation = self.schema.find_operation_by_path(request.method, request.url.path)
        assert operation is not None, f"{request.method} {request.url.path} is not documented"
        assert response.status_code == status, (request.method, request.url, response.text)
        request.read()  # a multipart body was streamed: keep it for the failure reports
        operation.Case().validate_response(response, checks=response_checks())
        self.seen.setdefault((operation.method.upper(), operation.path), set()).add(status)
        kind = response.headers["content-type"]
        return response.json() if kind.startswith("application/json") else response.text

    def upload(
        self, path: str, file: Path | bytes, status: int, name: str = "upload", **kwargs
    ) -> dict:
        content = file.read_bytes() if isinstance(file, Path) else file
        return self(self.client.post(path, files={"file": (name, content)}, **kwargs), status)


def test_real_answers_match_the_document(service, driver, short_and_long) -> None:
    from ml.media.decode import probe

    check = Contract(service)
    clips = driver.clip_ids()
    check(service.get("/healthz"), 200)
    check(service.get("/metrics"), 200)
    assert check(service.get("/access"), 200) == {
        "required": True,
        "key": "valid",
        "scopes": ["admin"],
    }

    added = {
        c: check.upload(
            "/catalog/tracks",
            driver.track_file(c),
            202,
            data={"metadata": json.dumps({"title": c, "mood": "calm"})},
        )
        for c in clips[:3]
    }
    again = check.upload("/catalog/tracks", driver.track_file(clips[0]), 200)
    assert again["duplicate"] is True and again["track_id"] == added[clips[0]]["track_id"]
    wait_for_jobs(service, [a["job_id"] for a in added.values()], timeout_s=600)
    for answer in added.values():
        assert check(service.get(f"/jobs/{answer['job_id']}"), 200)["status"] == "succeeded"
    assert check(service.get("/readyz"), 200)["ready"] is True

    page = check(service.get("/catalog/tracks", params={"limit": 2, "status": "ready"}), 200)
    assert page["total"] == 3 and len(page["tracks"]) == 2
    first = added[clips[0]]["track_id"]
    assert check(service.get(f"/catalog/tracks/{first}"), 200)["extra"] == {"mood": "calm"}
    listened = service.get(f"/catalog/tracks/{first}/audio")
    check(listened, 200)
    assert listened.content == driver.track_file(clips[0]).read_bytes()
    models = check(service.get("/models"), 200)["models"]

    # A video with the user's cut points (no shot detection), answered at once; one
    # longer than async_video_seconds is queued, its answer the job's result.
    short, long = short_and_long
    body = check.upload(
        "/recommend/video",
        driver.video_file(short),
        200,
        name="v.mp4",
        params={"k": 2, "boundaries": CUTS},
    )
    assert len(body["results"]) == 2 and body["query"]["segmentation"] == "user"
    assert set(body["results"][0]["excerpt"]) >= {"start_s", "end_s"}
    cuts = [segment["start_s"] for segment in body["query"]["segments"][1:]]
    assert all([c["cut_s"] for c in r["edit"]["cuts"]] == cuts for r in body["results"])
    # Its picture, from the query the service keeps; another cut is another query.
    picture = service.get(body["results"][0]["explain_url"])
    check(picture, 200)
    assert picture.content.startswith(b"\x89PNG\r\n\x1a\n") and len(picture.content) > 10_000
    # Its preview, rendered under the video the service kept with the query; a video
    # longer than preview_async_seconds gets a job, whose result names the MP4.
    preview = service.get(body["results"][0]["preview_url"])
    check(preview, 200)
    assert preview.headers["content-type"] == "video/mp4" and len(preview.content) > 10_000
    second = sorted(clips, key=lambda c: probe(driver.video_file(c)).duration_s)[1]
    longer = check.upload(
        "/recommend/video",
        driver.video_file(second),
        200,
        name="v.mp4",
        params={"k": 1, "boundaries": CUTS},
    )
    rendering = check(service.get(longer["results"][0]["preview_url"]), 202)
    rendered = wait_for_jobs(service, [rendering["job_id"]], timeout_s=600)[0]
    assert rendered["status"] == "succeeded", rendered
    check(service.get(rendered["result"]["preview_url"]), 200)
    gone = {"query": body["query"]["content_sha256"], "track_id": body["results"][0]["track_id"]}
    assert check(service.get("/recommend/explain.png", params=gone), 404)["error"] == (
        "query_not_cached"
    )
    queued = check.upload(
        "/recommend/video",
        driver.video_file(long),
        202,
        name="v.mp4",
        params={"k": 2, "boundaries": CUTS},
    )
    done = wait_for_jobs(service, [queued["job_id"]], timeout_s=600)[0]
    assert done["status"] == "succeeded", done
    result = check(service.get(queued["job_url"]), 200)["result"]
    assert set(result) == set(body) and len(result["results"]) == 2

    similar = check(service.post("/similar/track", params={"track_id": first, "k": 2}), 200)
    assert [r["track_id"] for r in similar["results"]] != [first]
    check.upload("/similar/track", driver.track_file(clips[1]), 200, params={"k": 1})
    span = {"track_id": first, "start_s": 0, "end_s": 8, "k": 2}
    sections = check(service.post("/similar/section", params=span), 200)
    assert first not in [r["track_id"] for r in sections["results"]]

    # The edit plan of a catalog track under the short video, and the preview.
    edit = {"track_id": first, "boundaries": CUTS}
    plan = check.upload("/edit/plan", driver.video_file(short), 200, name="v.mp4", params=edit)
    assert plan["track_id"] == first and plan["spans"]
    check.upload("/preview", driver.video_file(short), 200, name="v.mp4", params=edit)

    # Errors clients meet. Without a key, exactly the routes the document says need one
    # answer 401 (asked with nothing else: authentication comes before the arguments).
    spec = json.loads(service.get("/openapi.json").text)
    for method, path in sorted(operations(spec)):
        anonymous = httpx.request(
            method, f"{service.base_url}{path}".replace("{", "").replace("}", ""), timeout=60
        )
        secured = "security" in spec["paths"][path][method.lower()]
        assert (anonymous.status_code == 401) == secured, (method, path, anonymous.text)
        check(anonymous, anonymous.status_code)
    check(service.delete(f"/catalog/tracks/{first}", headers={"X-API-Key": READER}), 403)
    bearer = httpx.Client(
        base_url=service.base_url, timeout=60, headers={"Authorization": f"Bearer {WRITER}"}
    )
    with bearer:  # the same keys as a bearer token
        check(bearer.get("/models"), 403)
        assert check(bearer.get("/catalog/tracks"), 200)["total"] == 3
    check(service.get("/catalog/tracks/999999"), 404)
    check(service.get("/jobs/no-such-job"), 404)
    check(service.post("/models/999999/activate"), 404)
    check(service.get("/catalog/tracks", params={"limit": 0}), 422)
    check(service.post("/recommend/video", params={"k": 2}), 422)  # no file
    check(service.post("/similar/track"), 422)  # neither a track nor a file
    check.upload("/catalog/tracks", b"\x00not media" * 300, 415)
    check.upload("/recommend/video", b"\x00not media" * 300, 415)
    check.upload("/catalog/tracks", b"", 422)
    check.upload(
        "/catalog/tracks", driver.track_file(clips[3]), 422, data={"metadata": "[not, an, object"}
    )
    check.upload("/catalog/tracks", bytes(MAX_UPLOAD + 2 * 1024 * 1024), 413)
    check(
        service.post(
            "/catalog/tracks",
            content=b"--x\r\nbroken",
            headers={"content-type": "multipart/form-data; boundary=x"},
        ),
        400,
    )

    deleted = check(service.delete(f"/catalog/tracks/{added[clips[2]]['track_id']}"), 200)
    assert deleted["deleted"] is True
    job = check(service.post(f"/models/{models[0]['id']}/activate"), 202)
    assert check(service.get(job["job_url"]), 200)["id"] == job["job_id"]

    # Every documented success status of every route was seen and checked.
    documented = {
        (method.upper(), path, int(status))
        for path, item in spec["paths"].items()
        for method, op in item.items()
        for status in op["responses"]
        if status.startswith("2")
    }
    seen = {
        (method, path, status)
        for (method, path), statuses in check.seen.items()
        for status in statuses
    }
    assert documented <= seen, f"never seen: {sorted(documented - seen)}"


# --- generated requests -----------------------------------------------------------------

EXAMPLES = 8  # per operation and generation mode: a bounded run, not a search
SEED = 20250611


def fuzz(operation, mode, checks: list, statuses: Counter) -> str | None:
    """Send ``EXAMPLES`` requests generated for ``operation`` (fixed seed, no shrinking:
    a failure is reported as first found); the first failure's report, or None."""
    from hypothesis import HealthCheck, Phase, given, seed, settings

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        response = case.call(timeout=120)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=checks)

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:  # every operation runs, all are reported
        return f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}"
    return None


@pytest.mark.slow
def test_generated_requests_get_documented_answers(service, driver) -> None:
    """schemathesis over the whole document: every operation, valid and invalid data.

    Requests carry the admin key (``ignored_auth`` also replays each success without a
    key and with a wrong one, which must be refused). Uploads are random bytes, never
    media: the upload routes must refuse them with a documented 4xx; the expensive
    video analysis is exercised with real videos by the test above, not here.
    """
    from schemathesis import GenerationMode
    from schemathesis.specs.openapi.checks import ignored_auth, negative_data_rejection

    driver.ingest(service, driver.clip_ids()[:2])  # so that queries get past "empty catalog"
    schema = load_spec(service)
    spec = json.loads(service.get("/openapi.json").text)
    found = [result.ok() for result in schema.get_all_operations()]  # raises if one is broken
    assert {(op.method.upper(), op.path) for op in found} == operations(spec)
    failures, seen = [], {}
    for operation in found:
        key = (operation.method.upper(), operation.path)
        seen[key] = Counter()
        failures.append(
            fuzz(operation, GenerationMode.POSITIVE, [*response_checks(), ignored_auth], seen[key])
        )
        declared = spec["paths"][operation.path][operation.method.lower()]
        if declared.keys() & {"parameters", "requestBody", "security"}:
            failures.append(
                fuzz(
                    operation,
                    GenerationMode.NEGATIVE,
                    [*response_checks(), negative_data_rejection],
                    seen[key],
                )
            )
        else:  # no input at all: there is nothing invalid to send
            assert key in UNPROTECTED, key
    for (method, path), statuses in sorted(seen.items()):
        print(f"{method:6} {path:32} {dict(sorted(statuses.items()))}")
    failures = [f for f in failures if f]
    assert not failures, "\n\n".join(failures)
