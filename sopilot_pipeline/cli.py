"""``sopilot-pipeline``: run what the sensors and automation would run, or write demo data."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

REPO_INSTANCE_YAML = Path(__file__).resolve().parents[1] / "dagster.yaml"
_MINIMAL_INSTANCE_YAML = (
    "# embedded default: SQLite storage under this folder\ntelemetry:\n  enabled: false\n"
)


def _ensure_dagster_home(data_dir: Path) -> Path:
    """DAGSTER_HOME if set; else ``$SOPILOT_DATA_DIR/dagster``, given the project's
    dagster.yaml when it has none. The instance's storage lives under its home (the
    yaml names no paths), so it is the same instance from any working folder."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    home = (data_dir / "dagster").absolute()
    home.mkdir(parents=True, exist_ok=True)
    yaml = home / "dagster.yaml"
    if not yaml.exists():
        text = (
            REPO_INSTANCE_YAML.read_text()
            if REPO_INSTANCE_YAML.is_file()
            else _MINIMAL_INSTANCE_YAML
        )
        yaml.write_text(text)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _cmd_demo_data(args: argparse.Namespace) -> int:
    from sopilot_pipeline.core.harness.demo import write_demo_set

    truth = write_demo_set(Path(args.dir))
    for task, info in truth.items():
        print(f"{task}: gold.mp4 + {len(info['trainees'])} trainees -> {Path(args.dir) / task}")
    return 0


def _settings_from_env():  # noqa: ANN202 - SopilotSettings, imported late (slow import)
    """Settings from the environment, or a one-line reason per bad variable."""
    from pydantic import ValidationError

    from sopilot_pipeline.defs.resources import ENV_NAMES, SopilotSettings

    try:
        return SopilotSettings.from_env()
    except ValidationError as exc:
        reasons = []
        for e in exc.errors():
            message = e["msg"].removeprefix("Value error, ")
            name = ENV_NAMES.get(str(e["loc"][0]) if e["loc"] else "", "")
            if name and name not in message:  # say which variable, and its value
                message = f"{name}={os.environ.get(name, e.get('input'))!r}: {message}"
            reasons.append(message)
    except ValueError as exc:  # e.g. SOPILOT_TARGET_FPS=fast, SOPILOT_SCORING not JSON
        reasons = [str(exc)]
    for reason in reasons:
        print(f"configuration error: {reason}", file=sys.stderr)
    return None


def _cmd_process(args: argparse.Namespace) -> int:
    settings = _settings_from_env()
    if settings is None:
        return 2
    data_dir = Path(settings.data_dir)
    home = _ensure_dagster_home(data_dir)
    from sopilot_pipeline.process import print_summary, process_watch_folder

    print(f"Dagster instance: {home}  data: {data_dir}")
    # one process per instance at a time, taken before the instance is first opened so
    # that two starting together cannot both create its storage
    with _exclusive(home / PROCESS_LOCK):
        from sopilot_pipeline.progress import PassProgress

        progress = PassProgress(sys.stderr)
        try:
            outcome = process_watch_folder(
                settle_seconds=args.settle_seconds,
                max_ticks=args.max_ticks,
                settings=settings,
                verbose=args.verbose,
                progress=progress,
            )
        finally:
            progress.close()
    print_summary(outcome)
    return 1 if outcome.failed_runs else 0


PROCESS_LOCK = "sopilot-process.lock"


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path``; say who holds it while waiting for it.

    A kernel lock (``flock``): it is released when its holder exits, even when killed,
    so a crashed ``process`` never blocks the next one.
    """
    import fcntl

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            print(f"waiting for {holder} to finish with this instance ({lock_path})", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"sopilot-pipeline process pid {os.getpid()} since {time.ctime()}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import tempfile

    from sopilot_pipeline.evaluate import evaluate_accuracy

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="sopilot-eval-"))
    if workdir.exists() and any(workdir.iterdir()):
        print(f"{workdir} is not empty; give an empty or new folder", file=sys.stderr)
        return 2
    print(
        f"accuracy harness {args.harness!r}: {args.tasks} tasks, seed {args.seed}"
        f"{', authored steps' if args.sidecars else ''}, work folder {workdir}"
    )
    report = evaluate_accuracy(
        workdir,
        args.tasks,
        args.seed,
        args.workers,
        harness=args.harness,
        sidecars=args.sidecars,
    )
    print(report.markdown())
    if report.mismatches:
        print(f"\n{len(report.mismatches)} trainees not reported exactly as injected:")
        for line in report.mismatches:
            print(f"  {line}")
    if args.json:
        Path(args.json).write_text(report.to_json())
    return 1 if report.failed_runs else 0


def _audit_key() -> bytes | None:
    key = os.environ.get("SOPILOT_AUDIT_KEY", "")
    if not key:
        print("SOPILOT_AUDIT_KEY is not set: it is the HMAC key of audit exports", file=sys.stderr)
        return None
    return key.encode()


def _cmd_export_audit(args: argparse.Namespace) -> int:
    from sopilot_pipeline.core.base.atomic import atomic_write_with
    from sopilot_pipeline.core.store.audit import AuditError, export_lines, read_audit_log

    settings = _settings_from_env()
    key = _audit_key()
    if settings is None or key is None:
        return 2
    try:
        records = read_audit_log(settings.layout.audit_log)
        text = "\n".join(export_lines(records, key)) + "\n"
    except AuditError as exc:
        print(f"audit log: {exc}", file=sys.stderr)
        return 1
    atomic_write_with(Path(args.out), lambda tmp: tmp.write_text(text))
    print(f"exported {len(records)} signed audit records to {args.out}")
    return 0


def _cmd_verify_audit(args: argparse.Namespace) -> int:
    from sopilot_pipeline.core.store.audit import AuditError, verify_export

    key = _audit_key()
    if key is None:
        return 2
    try:
        lines = Path(args.file).read_text().splitlines()
        verified = verify_export([ln for ln in lines if ln.strip()], key)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    except AuditError as exc:
        print(f"TAMPERED: {args.file}: {exc}")
        return 1
    print(f"OK: {verified.records} records, signed {verified.exported_at}, untouched")
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    from sopilot_pipeline.core.store.embeddings import gold_keys_for_task, load_steps
    from sopilot_pipeline.core.store.search import load_clip_index, query_from_span, search

    settings = _settings_from_env()
    if settings is None:
        return 2
    layout = settings.layout
    try:
        index = load_clip_index(layout.index, settings.embedder.name)
    except FileNotFoundError:
        print("no clip index yet: run `sopilot-pipeline process` first", file=sys.stderr)
        return 2
    golds = gold_keys_for_task(layout, args.task, settings.embedder.name)
    if not golds:
        print(f"task {args.task!r} has no gold video with steps", file=sys.stderr)
        return 2
    gold = golds[0]
    steps = load_steps(layout, args.task, gold)
    if not 1 <= args.step <= len(steps):
        print(f"task {args.task!r} has steps 1-{len(steps)}", file=sys.stderr)
        return 2
    step = steps[args.step - 1]
    query = query_from_span(index, gold, step.start_sec, step.end_sec)
    started = time.perf_counter()
    hits = search(index, query, k=args.k, exclude_key=gold)
    elapsed_ms = (time.perf_counter() - started) * 1e3
    print(
        f"step {args.step} of {args.task!r} ({step.start_sec:.1f}-{step.end_sec:.1f} s of the "
        f"gold video): {len(hits)} nearest of {len(index.vectors)} clips in {elapsed_ms:.1f} ms"
    )
    for hit in hits:
        print(
            f"  {hit.score:6.3f}  {hit.task_id} / {hit.role} / {hit.video}  "
            f"{hit.start_sec:.1f}-{hit.end_sec:.1f} s"
        )
    return 0


def _quiet_dagster_warnings() -> None:
    """Dagster's beta/preview notices (backfill policies, partitioned checks) are for the
    people who wrote the definitions, not for someone running the command."""
    from dagster import BetaWarning, PreviewWarning

    warnings.filterwarnings("ignore", category=BetaWarning)
    warnings.filterwarnings("ignore", category=PreviewWarning)


def main(argv: list[str] | None = None) -> int:
    _quiet_dagster_warnings()
    parser = argparse.ArgumentParser(prog="sopilot-pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("process", help="register, embed and score everything in the watch folder")
    p.add_argument(
        "--settle-seconds",
        type=float,
        default=1.0,
        help="wait between scans; files must be unchanged across one wait",
    )
    p.add_argument("--max-ticks", type=int, default=50)
    p.add_argument(
        "--verbose", action="store_true", help="show Dagster's logs and tracebacks of failures"
    )
    p.set_defaults(func=_cmd_process)
    d = sub.add_parser("demo-data", help="write rendered demo videos into a watch folder DIR")
    d.add_argument("dir", help="watch folder to write into, e.g. data/watch")
    d.set_defaults(func=_cmd_demo_data)
    e = sub.add_parser(
        "evaluate",
        help="accuracy harness: render procedures with injected deviations, run the "
        "pipeline on them on a throwaway instance, print precision/recall/F1",
    )
    e.add_argument("--tasks", type=int, default=6, help="procedures to render (4-9 steps)")
    e.add_argument("--seed", type=int, default=2026)
    e.add_argument("--workers", type=int, default=2, help="processes rendering videos")
    e.add_argument("--workdir", help="empty folder to work in (default: a new temp folder)")
    e.add_argument(
        "--harness",
        choices=("demo", "assembly"),
        default="demo",
        help="renderer: 'demo' (the one the algorithms were tuned on) or 'assembly' (the "
        "independent pick-and-place renderer; seeds 8101-8103 are for evaluation only)",
    )
    e.add_argument(
        "--sidecars", action="store_true", help="give every gold its authored steps (.steps.csv)"
    )
    e.add_argument("--json", help="also write the report as JSON here")
    e.set_defaults(func=_cmd_evaluate)
    x = sub.add_parser(
        "export-audit",
        help="write the audit log of every score, HMAC-signed with SOPILOT_AUDIT_KEY",
    )
    x.add_argument("out", help="file to write (JSON lines: header, records, trailer)")
    x.set_defaults(func=_cmd_export_audit)
    v = sub.add_parser(
        "verify-audit",
        help="check an audit export's signatures with SOPILOT_AUDIT_KEY; exit 1 if tampered",
    )
    v.add_argument("file")
    v.set_defaults(func=_cmd_verify_audit)
    q = sub.add_parser(
        "search", help="where in which video does a gold step happen? (the clip index)"
    )
    q.add_argument("--task", required=True, help="task id")
    q.add_argument("--step", type=int, required=True, help="gold step, 1-based")
    q.add_argument("-k", type=int, default=10, help="how many videos to return")
    q.set_defaults(func=_cmd_search)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    code = args.func(args)
    print(f"done in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
