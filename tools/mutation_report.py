"""Mutation testing with cosmic-ray, one session per package; scores per package (docs/testing.md).

    python tools/mutation_report.py run engine [--sample 40] [--seed 0]   # mutate, run tests
    python tools/mutation_report.py report [engine plugins analysis]      # scores and survivors
    python tools/mutation_report.py rerun engine        # the survivors again, after adding tests
    python tools/mutation_report.py check-equivalent                      # triage file still current

Packages: ``mutation/<package>.toml`` (which files are mutated, which tests decide); the session
databases ``mutation/<package>.sqlite`` are not under version control. ``--sample N`` runs a seeded
random N of the package's mutants and marks the rest skipped (a full engine pass is hours on two
cores). Surviving mutants listed in ``mutation/equivalent.txt`` (one line each:
``path | operator | source line | reason``) count as equivalent: the score is
killed / (run - equivalent). cosmic-ray mutates the files in place and restores them; ``run``
refuses to start on a tree whose mutated files have uncommitted changes, and checks afterwards.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "mutation"
EQUIVALENT_FILE = CONFIGS / "equivalent.txt"
PACKAGES = ("engine", "plugins", "analysis")
TARGETS = {"engine": 0.90, "plugins": 0.90, "analysis": 0.80}


@dataclass(frozen=True)
class Equivalent:
    """One triaged survivor: the file, the cosmic-ray operator, the source line it mutates, why."""

    path: str
    operator: str
    source: str
    reason: str


def read_equivalents(path: Path = EQUIVALENT_FILE) -> list[Equivalent]:
    """The entries of the triage file; ``#`` lines and blank lines are comments."""
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [part.strip() for part in line.split(" | ")]
        # the source line may hold " | " itself (an annotation X | None): it is everything in between
        parts = parts[:2] + [" | ".join(parts[2:-1]), parts[-1]] if len(parts) >= 4 else parts
        if len(parts) != 4 or not all(parts):
            raise ValueError(f"{path}:{number}: expected 'path | operator | source line | reason', got {line!r}")
        entries.append(Equivalent(*parts))
    return entries


def stale_equivalents(entries: list[Equivalent], root: Path = ROOT) -> list[str]:
    """Entries whose file is gone or no longer holds the source line: each as a sentence."""
    problems = []
    for entry in entries:
        file = root / entry.path
        if not file.is_file():
            problems.append(f"{entry.path}: file not found ({entry.operator})")
        elif entry.source not in {line.strip() for line in file.read_text().splitlines()}:
            problems.append(f"{entry.path}: no line {entry.source!r} any more ({entry.operator})")
    return problems


def _session(package: str) -> tuple[Path, Path]:
    config = CONFIGS / f"{package}.toml"
    if not config.is_file():
        raise SystemExit(f"no {config.relative_to(ROOT)}; packages: {', '.join(PACKAGES)}")
    return config, CONFIGS / f"{package}.sqlite"


def _mutated_paths(config: Path) -> list[str]:
    from cosmic_ray.config import load_config

    paths = load_config(str(config))["module-path"]
    return [paths] if isinstance(paths, str) else list(paths)


def _dirty(paths: list[str]) -> bool:
    return subprocess.run(["git", "diff", "--quiet", "--", *paths], cwd=ROOT).returncode != 0


def run(package: str, sample: int | None, seed: int) -> None:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    config, session = _session(package)
    paths = _mutated_paths(config)
    if _dirty(paths):
        raise SystemExit(f"uncommitted changes in {paths}: commit or stash them first (cosmic-ray edits these files)")
    session.unlink(missing_ok=True)
    subprocess.run(["cosmic-ray", "init", str(config), str(session)], cwd=ROOT, check=True)
    if sample is not None:
        with use_db(str(session), WorkDB.Mode.open) as db:
            jobs = sorted(item.job_id for item in db.pending_work_items)
            kept = set(random.Random(seed).sample(jobs, min(sample, len(jobs))))
            db.set_multiple_results([job for job in jobs if job not in kept],
                                    WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
    try:
        subprocess.run(["cosmic-ray", "exec", str(config), str(session)], cwd=ROOT, check=True)
    finally:
        if _dirty(paths):
            print(f"WARNING: {paths} differ from git after the run: inspect with git diff", file=sys.stderr)


def rerun(package: str) -> None:
    """Run the tests again on the package's surviving mutants (after new tests), updating the session."""
    from cosmic_ray.config import load_config
    from cosmic_ray.mutating import mutate_and_test
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome

    config, session = _session(package)
    paths = _mutated_paths(config)
    if _dirty(paths):
        raise SystemExit(f"uncommitted changes in {paths}: commit or stash them first (cosmic-ray edits these files)")
    settings = load_config(str(config))
    with use_db(str(session), WorkDB.Mode.open) as db:
        survivors = [item for item, outcome in db.completed_work_items if outcome.test_outcome == TestOutcome.SURVIVED]
        for item in survivors:
            result = mutate_and_test(item.mutations, settings.test_command, settings.timeout)
            db.set_result(item.job_id, result)
            print(f"{item.mutations[0].module_path}:{item.mutations[0].start_pos[0]} "
                  f"{item.mutations[0].operator_name}: {result.test_outcome}")
    if _dirty(paths):
        print(f"WARNING: {paths} differ from git after the run: inspect with git diff", file=sys.stderr)


@dataclass
class Score:
    package: str
    total: int = 0
    run: int = 0
    killed: int = 0
    equivalent: int = 0
    survivors: tuple = ()

    @property
    def score(self) -> float:
        decided = self.run - self.equivalent
        return self.killed / decided if decided else float("nan")


def _source_line(path: str, line: int) -> str:
    lines = (ROOT / path).read_text().splitlines()
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def score(package: str, equivalents: list[Equivalent]) -> Score:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    _, session = _session(package)
    result = Score(package)
    if not session.is_file():
        return result
    known = {(entry.path, entry.operator, entry.source) for entry in equivalents}
    survivors = []
    with use_db(str(session), WorkDB.Mode.open) as db:
        result.total = db.num_work_items
        for item, outcome in db.completed_work_items:
            if outcome.worker_outcome == WorkerOutcome.SKIPPED:
                continue
            result.run += 1
            (mutation,) = item.mutations
            if outcome.test_outcome != TestOutcome.SURVIVED:
                result.killed += 1
                last = (outcome.output or "").strip().splitlines()[-1:] or [""]
                if not any(word in last[0] for word in ("failed", "error", "timeout")):
                    # pytest stopped without its summary line: not evidence of a kill; rerun it
                    survivors.append(f"{mutation.module_path}:{mutation.start_pos[0]} {mutation.operator_name} "
                                     f"#{mutation.occurrence}: killed without a pytest summary (rerun it)")
                continue
            path = str(Path(mutation.module_path))
            source = _source_line(path, mutation.start_pos[0])
            if (path, mutation.operator_name, source) in known:
                result.equivalent += 1
            else:
                survivors.append(f"{path}:{mutation.start_pos[0]} {mutation.operator_name} "
                                 f"#{mutation.occurrence}: {source}")
    result.survivors = tuple(survivors)
    return result


def report(packages) -> int:
    equivalents = read_equivalents()
    print(f"{'package':10} {'mutants':>8} {'run':>5} {'killed':>7} {'equiv.':>7} {'score':>7} {'target':>7}")
    for package in packages:
        row = score(package, equivalents)
        print(f"{package:10} {row.total:8d} {row.run:5d} {row.killed:7d} {row.equivalent:7d} "
              f"{row.score:7.1%} {TARGETS[package]:7.0%}")
        for survivor in row.survivors:
            print(f"    survived: {survivor}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="mutate one package and run its tests")
    run_parser.add_argument("package", choices=PACKAGES)
    run_parser.add_argument("--sample", type=int, default=None, help="run a seeded random N of the mutants")
    run_parser.add_argument("--seed", type=int, default=0)
    rerun_parser = commands.add_parser("rerun", help="the tests again on a package's surviving mutants")
    rerun_parser.add_argument("package", choices=PACKAGES)
    report_parser = commands.add_parser("report", help="scores per package and untriaged survivors")
    report_parser.add_argument("packages", nargs="*", choices=PACKAGES, default=list(PACKAGES))
    commands.add_parser("check-equivalent", help="exit 1 if a triage entry names code that is gone")
    arguments = parser.parse_args(argv)
    if arguments.command == "run":
        run(arguments.package, arguments.sample, arguments.seed)
        return 0
    if arguments.command == "rerun":
        rerun(arguments.package)
        return 0
    if arguments.command == "report":
        return report(arguments.packages)
    problems = stale_equivalents(read_equivalents())
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
