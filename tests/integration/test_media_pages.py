"""The recordings page: upload a site-visit recording, follow its packaging, list packages."""

import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import imageio_ffmpeg  # type: ignore[import-untyped]
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from studymission.app import create_app
from studymission.config import Settings
from studymission.db import media_jobs as job_store
from studymission.db.events import get_event
from studymission.db.tables import MediaJob
from studymission.services import media
from studymission.services.clock import Clock
from studymission.services.events import LoadOutcome
from studymission.services.media_jobs import MediaWorker, ProgressWriter, queue_job
from studymission.web.pages.media import get_media_worker
from tests.conftest import RealTime
from tests.factories import make_spec
from tests.integration.helpers import load_event, sign_in

pytestmark = pytest.mark.integration

CODE = "TEST-EVENT-1"
BASE = f"/events/{CODE}/media"
HTMX = {"HX-Request": "true"}
WAIT = 120.0  # real seconds a packaging of a 2 s clip may take on a busy 2-core machine

OnProgress = Callable[[float], None]


# --- clips and stand-in packagers ------------------------------------------------------


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 2 s, 640x360 recording with sound, made by the wheel's ffmpeg."""
    path = tmp_path_factory.mktemp("clips") / "site-visit.mp4"
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        *("-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=10:duration=2"),
        *("-f", "lavfi", "-i", "sine=frequency=440:duration=2"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"),
        *("-shortest", str(path)),
    ]
    subprocess.run(command, check=True, capture_output=True)
    return path


class SlowPackager:
    """Reports 25 %, then waits for the test's word before it finishes (or fails)."""

    def __init__(self) -> None:
        self.reported = threading.Event()
        self.release = threading.Event()
        self.sources: list[Path] = []
        self.fail_with: list[str] | None = None

    def __call__(
        self,
        media_dir: Path,
        source: Path,
        name: str,
        *,
        ffmpeg: str,
        now: datetime,
        on_progress: OnProgress,
    ) -> media.MediaPackage:
        self.sources.append(source)
        assert source.read_bytes()  # the whole upload is there and closed
        on_progress(0.25)
        self.reported.set()
        assert self.release.wait(30), "the test never released the packager"
        if self.fail_with is not None:
            raise media.MediaError(self.fail_with)
        return media.MediaPackage(name, "fake1", 2.0, (), False, now)


def instant_packager(
    media_dir: Path,
    source: Path,
    name: str,
    *,
    ffmpeg: str,
    now: datetime,
    on_progress: OnProgress,
) -> media.MediaPackage:
    return media.MediaPackage(name, "fake1", 2.0, (), False, now)


# --- fixtures and helpers --------------------------------------------------------------


@pytest.fixture
def outcome(engine: Engine, settings: Settings, clock: Clock) -> LoadOutcome:
    return load_event(engine, settings, clock)


def use_worker(client: TestClient, worker: MediaWorker) -> MediaWorker:
    client.app.dependency_overrides[get_media_worker] = lambda: worker  # type: ignore[attr-defined]
    return worker


@pytest.fixture
def real_worker(
    client: TestClient, engine: Engine, clock: Clock, settings: Settings
) -> Iterator[MediaWorker]:
    worker = use_worker(client, MediaWorker(engine, clock, settings))
    yield worker
    # Nothing may touch the database after the test has closed it.
    assert worker.wait_until_idle(WAIT)


@pytest.fixture
def slow(
    client: TestClient, engine: Engine, clock: Clock, settings: Settings
) -> Iterator[SlowPackager]:
    packager = SlowPackager()
    worker = use_worker(client, MediaWorker(engine, clock, settings, packager=packager))
    yield packager
    packager.release.set()
    worker.wait_until_idle(10)


@pytest.fixture
def instant(
    client: TestClient, engine: Engine, clock: Clock, settings: Settings
) -> Iterator[MediaWorker]:
    worker = use_worker(client, MediaWorker(engine, clock, settings, packager=instant_packager))
    yield worker
    assert worker.wait_until_idle(10)


def upload(
    client: TestClient,
    csrf: str | None,
    content: bytes,
    *,
    filename: str = "site-visit.mp4",
    name: str | None = None,
    htmx: bool = True,
) -> Any:
    """Post the upload form as the page's script does (token in the header) or as a plain
    form (token as the first field)."""
    data = {} if htmx or csrf is None else {"csrf_token": csrf}
    if name is not None:
        data["name"] = name
    headers = {**HTMX, "X-CSRF-Token": csrf} if htmx and csrf else {}
    files = {"file": (filename, content, "video/mp4")}
    return client.post(BASE, data=data, files=files, headers=headers, follow_redirects=False)


def job_id(fragment: str) -> int:
    match = re.search(r'<li id="job-(\d+)"', fragment)
    assert match, fragment
    return int(match.group(1))


def job_status(html: str) -> str:
    match = re.search(r'data-status="(\w+)"', html)
    assert match, html
    return match.group(1)


def jobs(engine: Engine) -> list[tuple[str, str, float, str, str | None]]:
    with Session(engine) as db:
        rows = db.exec(select(MediaJob).order_by(MediaJob.id)).all()  # type: ignore[arg-type]
        return [(j.name, j.status, j.progress, j.problems, j.version) for j in rows]


def uploads_left(settings: Settings) -> list[Path]:
    root = settings.var_dir / "uploads"
    return sorted(root.rglob("*")) if root.exists() else []


def package_table(html: str) -> list[list[str]]:
    rows = re.findall(r'<tr data-name="[^"]+">(.*?)</tr>', html, flags=re.S)
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)
        ]
        for row in rows
    ]


def problem_reasons(html: str) -> list[str]:
    items = re.findall(r"<li><code>([^<]+)</code>(?: — <q>[^<]*</q>)?: ([^<]+)</li>", html)
    return [f"{path}: {reason}" for path, reason in items]


# --- uploading and packaging (the real packager) ----------------------------------------


def test_upload_is_packaged_and_listed(
    client: TestClient,
    outcome: LoadOutcome,
    real_worker: MediaWorker,
    clip: Path,
    settings: Settings,
    engine: Engine,
) -> None:
    csrf = sign_in(client, outcome, "sec1")
    answer = upload(client, csrf, clip.read_bytes(), name="data-centre")
    assert answer.status_code == 202, answer.text
    assert "<html" not in answer.text
    assert job_status(answer.text) in ("queued", "running")
    assert 'hx-trigger="every 1s"' in answer.text
    assert real_worker.wait_until_idle(WAIT)

    fragment = client.get(f"{BASE}/jobs/{job_id(answer.text)}", headers=HTMX)
    [(name, status, progress, problems, version)] = jobs(engine)
    assert (name, status, progress, problems) == ("data-centre", "done", 1.0, "")
    assert version is not None and re.fullmatch(media.VERSION_PATTERN, version)
    assert job_status(fragment.text) == "done"
    assert "hx-trigger" not in fragment.text  # polling stops
    assert fragment.headers["HX-Trigger"] == "recordings-changed"
    assert f"Packaged as version <code>{version}</code>: 360p, 00:02." in fragment.text
    assert f"<code>/media/data-centre/{version}/master.m3u8</code>" in fragment.text

    page = client.get(BASE).text
    assert package_table(page) == [
        [
            "data-centre",
            "00:02",
            "360p",
            "yes",
            "24 Nov 2021 12:00",
            f"/media/data-centre/{version}/master.m3u8",
        ]
    ]
    assert uploads_left(settings) == []


def test_a_file_that_is_not_a_video_fails_and_the_earlier_package_stays(
    client: TestClient,
    outcome: LoadOutcome,
    real_worker: MediaWorker,
    clip: Path,
    settings: Settings,
    clock: Clock,
    engine: Engine,
) -> None:
    earlier = media.package_recording(
        settings.media_dir,
        clip,
        "data-centre",
        ffmpeg=imageio_ffmpeg.get_ffmpeg_exe(),
        now=clock.real_now(),
    )
    csrf = sign_in(client, outcome, "sec1")
    answer = upload(
        client, csrf, b"minutes of the meeting\n" * 50, filename="notes.txt", name="data-centre"
    )
    assert answer.status_code == 202
    assert real_worker.wait_until_idle(WAIT)

    [(_, status, _, problems, version)] = jobs(engine)
    assert (status, version) == ("failed", None)
    # In words a secretariat understands, naming the file it sent.
    assert problems.startswith("notes.txt ") and "video file" in problems, problems
    fragment = client.get(f"{BASE}/jobs/{job_id(answer.text)}", headers=HTMX).text
    assert job_status(fragment) == "failed"
    shown = re.findall(r"<li>([^<]+)</li>", fragment)
    assert shown == [line.replace("'", "&#39;") for line in problems.splitlines()]
    page = client.get(BASE).text
    assert [row[0] for row in package_table(page)] == ["data-centre"]
    assert f"/media/data-centre/{earlier.version}/master.m3u8" in page
    assert uploads_left(settings) == []


# --- refusals: nothing is written -------------------------------------------------------


def small_limit_client(
    settings: Settings, engine: Engine, clock: Clock, limit: int
) -> Iterator[TestClient]:
    app = create_app(
        settings.model_copy(update={"max_media_upload_bytes": limit}), engine=engine, clock=clock
    )
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture
def limited(settings: Settings, engine: Engine, clock: Clock) -> Iterator[TestClient]:
    yield from small_limit_client(settings, engine, clock, 16 * 1024)


def test_an_upload_over_the_limit_is_refused_with_its_reason(
    limited: TestClient, outcome: LoadOutcome, settings: Settings, engine: Engine
) -> None:
    csrf = sign_in(limited, outcome, "sec1")
    answer = upload(limited, csrf, b"\0" * (20 * 1024))
    assert answer.status_code == 413
    assert answer.headers["HX-Retarget"] == "#upload-form"
    assert (
        "The recording is larger than 16 KiB, the most this page accepts. Nothing was saved"
        in answer.text
    )
    assert (jobs(engine), uploads_left(settings)) == ([], [])


def test_an_upload_without_a_length_is_counted_and_refused(
    limited: TestClient, outcome: LoadOutcome, settings: Settings, engine: Engine
) -> None:
    csrf = sign_in(limited, outcome, "sec1")
    boundary = "recordingboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    chunks = [head, *([b"\0" * 4096] * 6), f"\r\n--{boundary}--\r\n".encode()]
    headers = {
        **HTMX,
        "X-CSRF-Token": csrf,
        "Content-Type": f"multipart/form-data; boundary={boundary}",
    }
    answer = limited.post(BASE, content=iter(chunks), headers=headers)
    assert "content-length" not in {k.lower() for k in answer.request.headers}
    assert answer.status_code == 413
    assert "larger than 16 KiB" in answer.text
    assert (jobs(engine), uploads_left(settings)) == ([], [])


def test_a_malformed_multipart_body_is_a_listed_problem_and_writes_nothing(
    client: TestClient, outcome: LoadOutcome, settings: Settings, engine: Engine
) -> None:
    csrf = sign_in(client, outcome, "sec1")
    headers = {
        **HTMX,
        "X-CSRF-Token": csrf,
        "Content-Type": "multipart/form-data; boundary=recordingboundary",
    }
    # Not a part at all where the boundary should open one.
    answer = client.post(BASE, content=b"--recordingboundaryXX\r\ngarbage", headers=headers)
    assert answer.status_code == 422
    assert "the upload was cut short or is not a well-formed form" in answer.text
    assert (jobs(engine), uploads_left(settings)) == ([], [])


def test_a_recording_over_the_apps_body_limit_is_accepted_here(
    client: TestClient,
    outcome: LoadOutcome,
    instant: MediaWorker,
    engine: Engine,
    settings: Settings,
) -> None:
    # The people import refuses bodies over max_upload_bytes (200 kB in tests) app-wide.
    size = settings.max_upload_bytes * 2
    csrf = sign_in(client, outcome, "sec1")
    answer = upload(client, csrf, b"\1" * size, name="big-one")
    assert answer.status_code == 202
    assert instant.wait_until_idle(10)
    assert [(j[0], j[1]) for j in jobs(engine)] == [("big-one", "done")]
    people = client.post(
        f"/events/{CODE}/secretariat/people/import",
        data={"csrf_token": csrf},
        files={"file": ("people.csv", b"x" * size, "text/csv")},
    )
    assert people.status_code == 413


@pytest.mark.parametrize(
    ("name", "reasons"),
    [
        (
            "-Site visit_2",
            [
                "name: must start with a lowercase letter or a digit",
                "name: has capital letters; use lowercase only",
                "name: may only use letters a–z, digits 0–9 and hyphens (-), "
                "not &#39; &#39;, &#39;_&#39;",
            ],
        ),
        ("a" * 64, ["name: is 64 characters; use at most 63"]),
    ],
)
def test_a_bad_name_lists_every_problem_and_writes_nothing(
    client: TestClient,
    outcome: LoadOutcome,
    instant: MediaWorker,
    engine: Engine,
    settings: Settings,
    name: str,
    reasons: list[str],
) -> None:
    csrf = sign_in(client, outcome, "sec1")
    answer = upload(client, csrf, b"video bytes", name=name)
    assert answer.status_code == 422
    assert (answer.headers["HX-Retarget"], answer.headers["HX-Reswap"]) == (
        "#upload-form",
        "outerHTML",
    )
    assert answer.text.strip().startswith('<form id="upload-form"')
    assert problem_reasons(answer.text) == reasons
    assert f'value="{name}"' in answer.text.replace("&#39;", "'")
    assert (jobs(engine), uploads_left(settings)) == ([], [])


def test_a_bad_name_sent_before_the_file_is_not_stored_at_all(
    client: TestClient,
    outcome: LoadOutcome,
    instant: MediaWorker,
    engine: Engine,
    settings: Settings,
) -> None:
    csrf = sign_in(client, outcome, "sec1")
    seen: list[list[Path]] = []

    def body() -> Iterator[bytes]:
        disposition = "--b\r\nContent-Disposition: form-data; "
        yield f'{disposition}name="name"\r\n\r\nBad Name\r\n'.encode()
        yield f'{disposition}name="file"; filename="a.mp4"\r\n\r\n'.encode()
        yield b"\0" * 100_000
        seen.append(uploads_left(settings))
        yield b"\r\n--b--\r\n"

    headers = {**HTMX, "X-CSRF-Token": csrf, "Content-Type": "multipart/form-data; boundary=b"}
    answer = client.post(BASE, content=body(), headers=headers)
    assert answer.status_code == 422
    assert seen == [[]]
    assert (jobs(engine), uploads_left(settings)) == ([], [])


def test_a_name_sent_after_the_file_counts_as_the_page_sends_it(
    client: TestClient, outcome: LoadOutcome, instant: MediaWorker, engine: Engine
) -> None:
    csrf = sign_in(client, outcome, "sec1")
    # A file name that gives no usable name of its own; the name field, after it, does.
    disposition = "--b\r\nContent-Disposition: form-data; "
    body = (
        f'{disposition}name="file"; filename="現場.mp4"\r\n\r\nvideo bytes\r\n'
        f'{disposition}name="name"\r\n\r\ngenba\r\n--b--\r\n'
    ).encode()
    headers = {**HTMX, "X-CSRF-Token": csrf, "Content-Type": "multipart/form-data; boundary=b"}
    answer = client.post(BASE, content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    assert instant.wait_until_idle(10)
    assert [(j[0], j[1]) for j in jobs(engine)] == [("genba", "done")]


def test_no_file_chosen_is_a_problem(
    client: TestClient, outcome: LoadOutcome, instant: MediaWorker, engine: Engine
) -> None:
    csrf = sign_in(client, outcome, "sec1")
    answer = upload(client, csrf, b"", filename="", name="data-centre")
    assert answer.status_code == 422
    assert problem_reasons(answer.text) == ["file: choose a recording (a video file) to upload"]
    assert jobs(engine) == []


def test_the_name_defaults_to_the_files_name(
    client: TestClient, outcome: LoadOutcome, instant: MediaWorker, engine: Engine
) -> None:
    csrf = sign_in(client, outcome, "sec1")
    answer = upload(client, csrf, b"video", filename="Site Visit — Sejong (2021).MP4", name="")
    assert answer.status_code == 202
    assert instant.wait_until_idle(10)
    assert [j[0] for j in jobs(engine)] == ["site-visit-sejong-2021"]


def test_a_plain_form_post_is_redirected_to_the_page(
    client: TestClient, outcome: LoadOutcome, instant: MediaWorker, engine: Engine
) -> None:
    csrf = sign_in(client, outcome, "sec1")
    answer = upload(client, csrf, b"video", name="plain", htmx=False)
    assert answer.status_code == 303
    [job] = jobs(engine)
    with Session(engine) as db:
        [row] = db.exec(select(MediaJob)).all()
    assert answer.headers["location"] == f"{BASE}#job-{row.id}"
    assert job[0] == "plain"


def test_a_post_without_its_csrf_token_is_refused_unread(
    client: TestClient,
    outcome: LoadOutcome,
    instant: MediaWorker,
    engine: Engine,
    settings: Settings,
) -> None:
    sign_in(client, outcome, "sec1")
    answer = upload(client, None, b"video", name="sneaky", htmx=False)
    assert answer.status_code == 403
    assert (jobs(engine), uploads_left(settings)) == ([], [])


# --- who may ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["p001", "rp1"])
def test_participants_and_presenters_are_refused(
    client: TestClient, outcome: LoadOutcome, instant: MediaWorker, engine: Engine, key: str
) -> None:
    csrf = sign_in(client, outcome, key)
    assert client.get(BASE).status_code == 403
    refused = upload(client, csrf, b"video", name="mine")
    assert refused.status_code == 403
    assert "needs the role secretariat" in refused.text
    assert jobs(engine) == []


def test_a_moderator_sees_the_list_but_cannot_upload(
    client: TestClient, outcome: LoadOutcome, instant: MediaWorker, engine: Engine
) -> None:
    csrf = sign_in(client, outcome, "mod1")
    page = client.get(BASE)
    assert page.status_code == 200
    assert "Packaged recordings" in page.text
    assert 'id="upload-form"' not in page.text
    assert upload(client, csrf, b"video", name="mine").status_code == 403
    assert jobs(engine) == []


def test_nobody_signed_in_is_asked_to_sign_in(client: TestClient, outcome: LoadOutcome) -> None:
    assert client.get(BASE).status_code == 401


def test_a_job_of_another_event_is_not_found(
    client: TestClient, outcome: LoadOutcome, engine: Engine, settings: Settings, clock: Clock
) -> None:
    other = make_spec()
    other["code"] = "OTHER-EVENT-2"
    load_event(engine, settings, clock, other)
    with Session(engine, expire_on_commit=False) as db:
        event = get_event(db, "OTHER-EVENT-2")
        assert event is not None
        theirs = queue_job(db, event, name="theirs", actor="sec1", now=clock.real_now())
    sign_in(client, outcome, "sec1")
    assert client.get(f"{BASE}/jobs/{theirs.id}").status_code == 404
    assert client.get(f"/events/OTHER-EVENT-2/media/jobs/{theirs.id}").status_code == 404
    assert "theirs" not in client.get(BASE).text


# --- progress --------------------------------------------------------------------------


def test_progress_is_shown_while_packaging_then_the_outcome(
    client: TestClient, outcome: LoadOutcome, slow: SlowPackager, engine: Engine, settings: Settings
) -> None:
    csrf = sign_in(client, outcome, "sec1")
    answer = upload(client, csrf, b"video bytes", name="slow-one")
    assert slow.reported.wait(10)
    url = f"{BASE}/jobs/{job_id(answer.text)}"
    running = client.get(url, headers=HTMX)
    assert job_status(running.text) == "running"
    assert '<progress class="job__bar" max="100" value="25"' in running.text
    assert 'role="status">Packaging: <span class="job__percent">25 %</span>' in running.text
    assert 'hx-trigger="every 1s"' in running.text
    assert "HX-Trigger" not in running.headers
    assert [p.name for p in slow.sources] == ["site-visit.mp4"]

    slow.fail_with = ["site-visit.mp4 has no video stream", "it is 0.1 s long"]
    slow.release.set()
    worker = client.app.dependency_overrides[get_media_worker]()  # type: ignore[attr-defined]
    assert worker.wait_until_idle(10)
    failed = client.get(url, headers=HTMX).text
    assert job_status(failed) == "failed"
    assert re.findall(r"<li>([^<]+)</li>", failed) == slow.fail_with
    assert "hx-trigger" not in failed
    assert uploads_left(settings) == []


def test_jobs_wait_their_turn(
    client: TestClient, outcome: LoadOutcome, slow: SlowPackager, engine: Engine
) -> None:
    csrf = sign_in(client, outcome, "sec1")
    upload(client, csrf, b"first", name="first")
    assert slow.reported.wait(10)
    second = upload(client, csrf, b"second", name="second")
    assert job_status(second.text) == "queued"
    assert [(j[0], j[1]) for j in jobs(engine)] == [("first", "running"), ("second", "queued")]
    page = client.get(BASE).text
    assert re.findall(r'<li id="job-\d+" class="job job--(\w+)"', page) == [
        "queued",
        "running",
    ]


def test_progress_is_written_at_most_once_a_second(
    engine: Engine, clock: Clock, outcome: LoadOutcome
) -> None:
    ticks = iter([0.0, 0.4, 0.9, 1.0, 1.5, 2.2])
    timed = Clock(clock.event_clock, clock.real_now, lambda: next(ticks))
    with Session(engine, expire_on_commit=False) as db:
        event = get_event(db, CODE)
        assert event is not None
        job = queue_job(db, event, name="rec", actor="sec1", now=clock.real_now())
        assert job_store.claim_job(db, job.id, now=clock.real_now())
        db.commit()
    write = ProgressWriter(engine, job.id, timed)
    written = []
    for fraction in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6):
        write(fraction)
        written.append(jobs(engine)[0][2])
    assert written == [0.1, 0.1, 0.1, 0.4, 0.4, 0.6]


def test_a_running_job_that_stopped_updating_reads_as_interrupted(
    client: TestClient, outcome: LoadOutcome, engine: Engine, clock: Clock, real_time: RealTime
) -> None:
    with Session(engine, expire_on_commit=False) as db:
        event = get_event(db, CODE)
        assert event is not None
        job = queue_job(db, event, name="rec", actor="sec1", now=clock.real_now())
        job_store.claim_job(db, job.id, now=clock.real_now())
        db.commit()
    sign_in(client, outcome, "sec1")
    url = f"{BASE}/jobs/{job.id}"
    real_time.advance(seconds=60)
    assert job_status(client.get(url, headers=HTMX).text) == "running"
    real_time.advance(seconds=1)
    fragment = client.get(url, headers=HTMX).text
    assert job_status(fragment) == "failed"
    assert re.findall(r"<li>([^<]+)</li>", fragment) == [
        "The packaging was interrupted: the server process running it stopped. "
        "Upload the recording again."
    ]


# --- the page --------------------------------------------------------------------------


def test_page_whole_or_as_an_htmx_fragment(
    client: TestClient, outcome: LoadOutcome, instant: MediaWorker
) -> None:
    csrf = sign_in(client, outcome, "sec1")
    upload(client, csrf, b"video", name="one")
    assert instant.wait_until_idle(10)
    whole = client.get(BASE)
    fragment = client.get(BASE, headers=HTMX)
    assert (whole.status_code, fragment.status_code) == (200, 200)
    for response in (whole, fragment):
        assert "HX-Request" in [v.strip() for v in response.headers["vary"].split(",")]
    assert "<html" not in fragment.text and "<html" in whole.text
    region = fragment.text.strip()
    assert region.startswith('<div id="recordings-page"')
    assert region in whole.text
    assert 'href="/events/TEST-EVENT-1/media"' in client.get(f"/events/{CODE}/secretariat").text
    packages = client.get(f"{BASE}/packages", headers=HTMX).text.strip()
    assert packages.startswith(
        f'<div id="packages" hx-get="{BASE}/packages" hx-trigger="recordings-changed from:body"'
    )
    assert '<p class="muted" id="no-packages">No recording is packaged yet.</p>' in packages
