"""Privacy masking (issue 17): faces masked in everything kept and shown, scores unchanged.

Rendered procedure videos with real face photographs walking through them are run
through the real pipeline twice on one data root: masking off, then masking on (with the
originals deleted once embedded). A second, stronger face detector (scikit-image's LBP
cascade plus OpenCV's at a lower threshold) then looks at every stored frame.
"""

from __future__ import annotations

import io
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import polars as pl
import pytest
from dagster import DagsterInstance
from PIL import Image
from pypdf import PdfReader

from sopilot_pipeline.core.harness.demo import Variant, make_task, render_variant
from sopilot_pipeline.core.outputs.clips import PAD_SEC
from sopilot_pipeline.core.outputs.report import SECTIONS
from sopilot_pipeline.core.store.audit import read_audit_log
from sopilot_pipeline.core.video.face_mask import (
    FaceDetector,
    FaceMaskConfig,
    MaskStats,
    mask_regions,
    masked_frames,
)
from sopilot_pipeline.core.watch.scan import sha256_file
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.process import process_watch_folder
from sopilot_pipeline_tests.face_scenes import (
    SecondDetector,
    add_faces,
    all_frames,
    coverage,
    overlapping,
    random_walks,
    real_faces,
)

TASK = "inspect_valve"
SIZE = (320, 240)
FPS = 15


@pytest.fixture(scope="module")
def face_watch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list]]:
    """A gold and two trainees (one skips a step) with faces walking through; the ground
    truth face box of every frame, per file."""
    scratch = tmp_path_factory.mktemp("scenes")
    watch = tmp_path_factory.mktemp("face_watch") / "watch"
    task = make_task(TASK, 4, 31, step_sec=2.5)
    variants = {
        "gold/gold.mp4": Variant("gold", tuple((s, 1.0) for s in range(4))),
        "trainee/clean.mp4": Variant("clean", tuple((s, 1.05) for s in range(4))),
        "trainee/skips_step_3.mp4": Variant("skips", ((0, 1.0), (1, 0.95), (3, 1.0))),
    }
    rng = np.random.default_rng(1717)
    truth = {}
    for i, (rel, variant) in enumerate(variants.items()):
        scene = scratch / f"scene{i}.mp4"
        render_variant(task, variant, scene, FPS, SIZE, seed=i, noise=2.0)
        truth[rel] = add_faces(scene, watch / TASK / rel, random_walks(rng, 6, (32, 48, 64)))
    return watch, truth


@pytest.fixture(scope="module")
def masked_twice(face_watch, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The same data root processed with masking off, then with blur and originals
    deleted: the tables and files after each pass."""
    watch, _ = face_watch
    data = tmp_path_factory.mktemp("face_data")
    shutil.copytree(watch, data / "watch")
    instance = DagsterInstance.local_temp(str(tmp_path_factory.mktemp("face_home")))
    out: dict = {"data": data}
    plain = SopilotSettings(data_dir=str(data))
    out["plain_outcome"] = process_watch_folder(0.2, settings=plain, instance=instance)
    out["plain_scores"] = _scores(data)
    out["plain_raw"] = sorted(p.name for p in (data / "raw").glob("*.*"))
    out["plain_report"] = _report_images(data)
    out["plain_clip_frames"] = _clip_frames(data)
    out["originals"] = {
        str(p.relative_to(data / "watch")): sha256_file(p) for p in (data / "watch").rglob("*.mp4")
    }
    masked = SopilotSettings(data_dir=str(data), privacy_mask="blur", delete_originals=True)
    out["masked_outcome"] = process_watch_folder(0.2, settings=masked, instance=instance)
    out["masked_scores"] = _scores(data)
    out["again"] = process_watch_folder(0.2, settings=masked, instance=instance)
    return out


def _scores(data: Path) -> pl.DataFrame:
    return (
        pl.scan_parquet(str(data / "tables/scores/**/*.parquet"), hive_partitioning=True)
        .collect()
        .sort("trainee_video")
    )


def _report_images(data: Path) -> list[np.ndarray]:
    images = []
    for pdf in sorted((data / "reports").rglob("*.pdf")):
        page = PdfReader(pdf).pages[SECTIONS.index("Keyframes")]
        for image in page.images:
            images.append(np.asarray(Image.open(io.BytesIO(image.data)).convert("RGB")))
    return images


def _clip_frames(data: Path) -> list[np.ndarray]:
    frames = []
    for clip in sorted((data / "clips").rglob("*.mp4")) if (data / "clips").is_dir() else []:
        frames.extend(f for _, f in all_frames(clip)[::2])
    return frames


@pytest.fixture(scope="module")
def second_detector() -> SecondDetector:
    return SecondDetector()


def test_real_faces_are_photographs_of_several_people() -> None:
    faces = real_faces()
    assert len(faces) == 101 and all(f.dtype == np.uint8 and f.ndim == 3 for f in faces)
    assert len({f.tobytes() for f in faces}) == 101


def test_masking_detector_recall_on_real_faces() -> None:
    """Per frame, tracking included: the face is at least 90 % inside the masked boxes, in
    at least 95 % of frames (issue 17). Seed 2024 was never tuned on; 0.984 measured."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        scene, video = Path(tmp) / "scene.mp4", Path(tmp) / "faces.mp4"
        task = make_task("recall", 4, 5, step_sec=3.0)
        render_variant(task, Variant("v", tuple((s, 1.0) for s in range(4))), scene, 30, (640, 360))
        walks = random_walks(np.random.default_rng(2024), 8, (32, 48, 80, 120))
        truth = add_faces(scene, video, walks, seconds_per_walk=1.5)
        stats = MaskStats()
        detector = FaceDetector(FaceMaskConfig())
        masked = masked_frames(all_frames(video), detector, stats)
        covered = [
            coverage(box, boxes, frame.shape[:2]) >= 0.9
            for (_, frame, boxes), (_, box) in zip(masked, truth, strict=True)
        ]
    print(f"masked-frame recall {np.mean(covered):.3f} over {len(covered)} frames")
    assert len(covered) == len(truth) and stats.detections < len(truth) / 5
    assert np.mean(covered) >= 0.95, np.mean(covered)


@pytest.mark.parametrize("mode", ["blur", "pixelate"])
def test_a_masked_face_is_not_found_by_the_second_detector(
    mode: str, second_detector: SecondDetector
) -> None:
    found_before = found_after = 0
    for face in real_faces()[:20]:
        canvas = np.full((240, 320, 3), 128, np.uint8)
        canvas[60:160, 100:200] = np.asarray(Image.fromarray(face).resize((100, 100)))
        box = np.array([100, 60, 200, 160])
        found_before += overlapping(second_detector.faces(canvas), box)
        masked = mask_regions(canvas, np.array([[80, 40, 220, 180]]), mode)
        found_after += overlapping(second_detector.faces(masked), box)
    assert found_before >= 18 and found_after == 0


def test_scores_with_masking_equal_the_unmasked_run(masked_twice: dict) -> None:
    plain, masked = masked_twice["plain_scores"], masked_twice["masked_scores"]
    assert not masked_twice["plain_outcome"].failed_runs
    assert not masked_twice["masked_outcome"].failed_runs
    assert len(plain) == 2
    columns = ["trainee_video", "score", "num_missing", "num_swapped", "num_over_time"]
    assert plain.select(columns).equals(masked.select(columns))
    assert plain["privacy_mask"].to_list() == ["none", "none"]
    assert masked["privacy_mask"].to_list() == ["blur", "blur"]
    assert masked.filter(pl.col("trainee_video") == "skips_step_3.mp4")["num_missing"][0] >= 1
    audit = read_audit_log(SopilotSettings(data_dir=str(masked_twice["data"])).layout.audit_log)
    assert [r["privacy_mask"] for r in audit if r["event"] == "score"] == [
        "none",
        "none",
        "blur",
        "blur",
    ]


def test_masking_off_keeps_the_original_bytes(masked_twice: dict) -> None:
    originals = set(masked_twice["originals"].values())
    kept = {name.split(".")[0] for name in masked_twice["plain_raw"]}
    assert kept == {sha for sha in originals}
    assert all(name.endswith(".mp4") and name.count(".") == 1 for name in masked_twice["plain_raw"])


def test_masked_raw_copies_replace_the_plain_ones(masked_twice: dict) -> None:
    data = masked_twice["data"]
    raw = sorted(p.name for p in (data / "raw").glob("*.*"))
    assert raw and all(name.endswith(".blur.mp4") for name in raw), raw
    assert len(raw) == len(masked_twice["plain_raw"])


def test_originals_deleted_once_embedded_and_nothing_redone(masked_twice: dict) -> None:
    data = masked_twice["data"]
    assert not list((data / "watch").rglob("*.mp4"))
    again = masked_twice["again"]
    assert not again.failed_runs and again.succeeded_runs == 0 and not again.completed


def test_unmasked_outputs_show_faces_the_second_detector_finds(
    masked_twice: dict, second_detector: SecondDetector
) -> None:
    """The check below can fail: without masking, the same detector finds the faces."""
    report = masked_twice["plain_report"]
    clips = masked_twice["plain_clip_frames"]
    assert report and clips
    assert sum(len(second_detector.faces(img)) > 0 for img in report) >= 1
    assert sum(len(second_detector.faces(f)) > 0 for f in clips) >= len(clips) / 4


def test_no_face_found_in_masked_raw_copies(
    masked_twice: dict, face_watch, second_detector: SecondDetector
) -> None:
    """Every other frame of every masked raw copy: the second detector finds no face
    where the ground truth puts one."""
    data, (_, truth) = masked_twice["data"], face_watch
    by_sha = masked_twice["originals"]
    leaks, checked = [], 0
    for rel, boxes in truth.items():
        copy = data / "raw" / f"{by_sha[f'{TASK}/{rel}']}.blur.mp4"
        frames = all_frames(copy)
        assert len(frames) == len(boxes)
        for (t, frame), (_, box) in list(zip(frames, boxes, strict=True))[::2]:
            checked += 1
            if overlapping(second_detector.faces(frame), box):
                leaks.append((rel, round(t, 2)))
    print(f"faces found in {len(leaks)} of {checked} masked frames: {leaks}")
    assert checked > 100 and not leaks


def _nearest(image: np.ndarray, frames: list[tuple[str, int, np.ndarray]]) -> tuple[str, int]:
    """The masked-copy frame an output image was made from (least mean difference)."""
    h, w = image.shape[:2]
    best = min(
        frames,
        key=lambda c: np.abs(
            cv2.resize(c[2], (w, h), interpolation=cv2.INTER_AREA).astype(np.int16) - image
        ).mean(),
    )
    return best[0], best[1]


def test_no_face_found_in_clips_and_report_images(
    masked_twice: dict, face_watch, second_detector: SecondDetector
) -> None:
    """Every clip frame and report keyframe is traced to the masked-copy frame it was made
    from, so the face's position in it is known: the second detector must not find it
    there."""
    data, (_, truth) = masked_twice["data"], face_watch
    by_sha = masked_twice["originals"]
    copies = {
        rel: all_frames(data / "raw" / f"{by_sha[f'{TASK}/{rel}']}.blur.mp4") for rel in truth
    }
    leaks, checked = [], 0

    def check(image: np.ndarray, rel: str, index: int) -> None:
        nonlocal checked
        checked += 1
        box = truth[rel][index][1] * (image.shape[1] / SIZE[0])
        if overlapping(second_detector.faces(image), box):
            leaks.append((rel, index))

    every = [(rel, i, f) for rel, frames in copies.items() for i, (_, f) in enumerate(frames)]
    for image in _report_images(data):
        check(image, *_nearest(image, every))
    devs = pl.scan_parquet(str(data / "tables/deviations/**/*.parquet")).collect()
    trainee_rel = {"clean.mp4": "trainee/clean.mp4", "skips_step_3.mp4": "trainee/skips_step_3.mp4"}
    for d in devs.iter_rows(named=True):
        for side, rel in (("trainee", trainee_rel[d["trainee_video"]]), ("gold", "gold/gold.mp4")):
            if d[f"{side}_clip"] is None:
                continue
            first = max(0.0, d[f"{side}_start_sec"] - PAD_SEC)
            base = next(i for i, (t, _) in enumerate(copies[rel]) if t >= first - 1e-6)
            for j, (_, image) in enumerate(all_frames(data / d[f"{side}_clip"])[::2]):
                near = range(max(0, base + 2 * j - 2), min(len(copies[rel]), base + 2 * j + 3))
                check(image, *_nearest(image, [(rel, i, copies[rel][i][1]) for i in near]))
    print(f"faces found in {len(leaks)} of {checked} clip frames and report images: {leaks}")
    assert checked > 50 and not leaks


def test_settings_refuse_unknown_mask_and_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOPILOT_PRIVACY_MASK", "blurry")
    with pytest.raises(ValueError, match="SOPILOT_PRIVACY_MASK must be one of none, blur"):
        SopilotSettings.from_env()
    monkeypatch.setenv("SOPILOT_PRIVACY_MASK", "Pixelate")
    assert SopilotSettings.from_env().privacy_mask == "pixelate"
    monkeypatch.setenv("SOPILOT_DELETE_ORIGINALS", "maybe")
    with pytest.raises(ValueError, match="SOPILOT_DELETE_ORIGINALS must be true or false"):
        SopilotSettings.from_env()


def test_an_opencv_without_cascades_is_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """OpenCV 5.0 dropped the cascades: masking must stop the code location, not pass
    every frame through bare."""
    import types

    monkeypatch.setitem(sys.modules, "cv2", types.SimpleNamespace(__version__="5.0.0"))
    with pytest.raises(ValueError, match="no Haar cascades .* opencv-python-headless<5"):
        SopilotSettings(data_dir=str(tmp_path), privacy_mask="blur")
    assert SopilotSettings(data_dir=str(tmp_path)).face_detector is None
