"""Mutation testing of the analysis core with mutmut, time-boxed, and its verdict (nox -s mutants).

Usage: python tools/mutation.py [--max-children N] [--minutes M] [--nice N]
                                [--report-only | --again] [PATH...]

PATH is a module or package under ``src/meshals`` (``src/meshals/mesh/_status.py``,
``src/meshals/aggregate``); none means every file ``[tool.mutmut] only_mutate`` names. mutmut runs
the mutants of those modules (each against the tests that reach it) until done or until the time
box ends, then this prints per module how many mutants were killed, survived or not yet checked,
and the score: killed / (checked - listed equivalent). It fails when a survivor is neither killed
nor listed in ``tests/mutants/equivalent.txt``, or when a module's score is under 97 %.
``--again`` runs the last run's unlisted survivors once more, against the tests as they are now
(mutmut keeps a verdict until the function it mutates changes, not when a test is added); those
a fresh process killed (below) stay killed.

mutmut imports meshals once and forks a child per mutant, so a mutant whose function runs only
while meshals is imported (a table built at import) is never switched on: each such survivor is
run again alone, in a fresh Python process with the mutant on from the start, against its
package's tests and those mutmut chose; a failure there kills it. These verdicts are kept in
``mutants/fresh-verdicts.json`` by mutant and change. (A process-wide cache filled before the
fork would hide a mutant too: ``tests/conftest.py`` empties them at the start of each mutant's
tests.)
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib
import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT = ROOT / "tests" / "mutants" / "equivalent.txt"
MUTANTS = ROOT / "mutants"
FRESH_VERDICTS = MUTANTS / "fresh-verdicts.json"
FLOOR = 97.0
DEFAULT_PATHS = (
    "src/meshals/codec",
    "src/meshals/mesh",
    "src/meshals/aggregate",
    "src/meshals/model/_clusters.py",
)
# mutmut's verdicts (``mutmut results --all true``), by what they mean here.
KILLED = frozenset({"killed", "timeout", "caught by type check", "killed in a fresh process"})
SURVIVED = frozenset({"survived", "no tests", "suspicious", "segfault"})
_RESULT = re.compile(r"^\s+(?P<name>\S+): (?P<status>.+)$")
_NUMBER = re.compile(r"__mutmut_\d+$")


def _mutmut(*args: str) -> list[str]:
    # mutmut is a console script beside this interpreter (the nox session's virtualenv).
    return [str(Path(sys.executable).with_name("mutmut")), *args]


def module_glob(path: str) -> str:
    """The mutmut name pattern of a module or package path: ``meshals.mesh._status.*``."""
    relative = Path(path).with_suffix("") if path.endswith(".py") else Path(path)
    parts = relative.parts[1:] if relative.parts[:1] == ("src",) else relative.parts
    if not parts or parts[0] != "meshals":
        raise SystemExit(f"not a path under src/meshals: {path}")
    return ".".join(parts) + ".*"


def module_of(mutant: str) -> str:
    """The module a mutant name belongs to (``meshals.mesh._status.x_f__mutmut_3``)."""
    return mutant.rpartition(".")[0]


def read_equivalent(path: Path = EQUIVALENT) -> dict[str, str]:
    """The listed equivalent mutants: ``function: old -> new`` to the reason given for it.

    The file has one entry per unindented line, its reason on the indented lines below it;
    ``#`` starts a comment line. An entry without a reason is an error.
    """
    entries: dict[str, list[str]] = {}
    current: list[str] | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace():
            if current is None:
                raise SystemExit(f"{path}:{number}: a reason without an entry above it")
            current.append(line.strip())
        else:
            current = entries.setdefault(line.strip(), [])
    missing = [entry for entry, reason in entries.items() if not reason]
    if missing:
        raise SystemExit(f"{path}: entries without a reason: {missing}")
    return {entry: " ".join(reason) for entry, reason in entries.items()}


def change_of(mutant: str, diff: str) -> str:
    """The entry that names *mutant* in the equivalent list: its function and its change.

    Numbers change whenever a module does; the function and the changed lines do not.
    """
    removed = [line[1:].strip() for line in diff.splitlines() if line.startswith("-")]
    added = [line[1:].strip() for line in diff.splitlines() if line.startswith("+")]
    old = " / ".join(line for line in removed if not line.startswith("--"))
    new = " / ".join(line for line in added if not line.startswith("++"))
    return f"{_NUMBER.sub('', mutant)}: {old} -> {new}"


def run_mutmut(globs: list[str], *, max_children: int, minutes: float, nice: int) -> bool:
    """Run mutmut on *globs* at *nice*; stop it (its results so far kept) after *minutes*.

    Returns:
        True when mutmut finished within the time box.
    """
    command = _mutmut("run", "--max-children", str(max_children), *globs)
    process = subprocess.Popen(
        ["nice", "-n", str(nice), *command] if nice else command,
        cwd=ROOT,
        start_new_session=True,
        # Hypothesis' mutants profile (tests/conftest.py): few examples, the same every run.
        env={**os.environ, "HYPOTHESIS_PROFILE": "mutants"},
    )
    try:
        process.wait(timeout=minutes * 60)
    except subprocess.TimeoutExpired:
        # An interrupt makes mutmut stop its workers and save every verdict it has.
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        return False
    if process.returncode != 0:
        raise SystemExit(f"mutmut run failed with exit code {process.returncode}")
    return True


def results(globs: list[str]) -> dict[str, str]:
    """Every mutant of *globs* and mutmut's verdict on it."""
    output = subprocess.run(
        _mutmut("results", "--all", "true"), cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    verdicts: dict[str, str] = {}
    for line in output.splitlines():
        match = _RESULT.match(line)
        if match and any(fnmatch.fnmatch(match["name"], pattern) for pattern in globs):
            verdicts[match["name"]] = match["status"].strip()
    return verdicts


def diff_of(mutant: str) -> str:
    """The mutant's change as a unified diff (what ``mutmut show`` prints, without a process)."""
    # Imported here: mutmut is in the mutants session's virtualenv, not beside the tests' one.
    diff_apply = importlib.import_module("mutmut.mutation.diff_apply")
    path = Path("src", *module_of(mutant).split(".")).with_suffix(".py")
    diff: str = diff_apply.get_diff_for_mutant(mutant, path=path)
    return f"# {mutant}\n{diff}"


def _fresh_env(mutant: str) -> dict[str, str]:
    """The environment of a fresh process that imports the mutated copy with *mutant* on."""
    source = [str(MUTANTS / "src"), str(MUTANTS)]
    return {
        **os.environ,
        "MUTANT_UNDER_TEST": mutant,
        "HYPOTHESIS_PROFILE": "mutants",
        "PYTHONPATH": os.pathsep.join([*source, os.environ.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        ),
    }


def import_time_functions() -> frozenset[str]:
    """The mutated functions that run while meshals and its modules are imported.

    Their mutants change tables built at import, which mutmut's forked children never rebuild.
    """
    script = (
        "import importlib, json, pkgutil, meshals\n"
        "from mutmut.state import state\n"
        "for module in pkgutil.walk_packages(meshals.__path__, 'meshals.'):\n"
        "    importlib.import_module(module.name)\n"
        "print(json.dumps(sorted(state()._stats)))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=_fresh_env("stats"),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return frozenset(json.loads(output.splitlines()[-1]))


def tests_of(mutant: str) -> list[str]:
    """The tests a fresh run of *mutant* takes: its package's, then mutmut's choice (mutmut
    credits a call made at import to whichever test ran first)."""
    stats = json.loads((MUTANTS / "mutmut-stats.json").read_text(encoding="utf-8"))
    chosen = stats["tests_by_mangled_function_name"].get(_NUMBER.sub("", mutant), ())
    return [f"tests/{mutant.split('.')[1]}", *sorted(chosen)]


def run_fresh(mutant: str, tests: list[str], nice: int) -> str:
    """Run *tests* in a fresh process with *mutant* on: "killed" when one fails."""
    if not tests:
        return "survived"
    command = [sys.executable, "-m", "pytest", "--rootdir=.", "-x", "-q", "-p", "no:randomly"]
    command += ["-p", "no:cacheprovider", "-m", "not envoy", *tests]
    process = subprocess.run(
        ["nice", "-n", str(nice), *command] if nice else command,
        cwd=MUTANTS,
        env=_fresh_env(mutant),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    if process.returncode in (0, 5):  # every test passed, or the mutant had none to run
        return "survived"
    if process.returncode == 1:
        return "killed"
    raise SystemExit(f"pytest could not run the tests of {mutant} (exit {process.returncode})")


def kept_fresh(diffs: dict[str, str]) -> dict[str, str]:
    """The kept fresh-process verdicts of these survivors (by name to their change's diff)."""
    if not FRESH_VERDICTS.exists():
        return {}
    kept = json.loads(FRESH_VERDICTS.read_text(encoding="utf-8"))
    return {
        mutant: kept[mutant]["verdict"]
        for mutant, diff in diffs.items()
        if kept.get(mutant, {}).get("diff") == diff
    }


def recheck_fresh(diffs: dict[str, str], *, max_children: int, nice: int) -> dict[str, str]:
    """The verdict in a fresh process of each survivor whose function runs at import
    (survivors by name to their change's diff)."""
    verdicts = kept_fresh(diffs)
    pending = [mutant for mutant in diffs if mutant not in verdicts]
    if not pending:
        return verdicts
    import_time = import_time_functions()  # a fresh import: only when there is one to run
    todo = [mutant for mutant in pending if _NUMBER.sub("", mutant) in import_time]
    if not todo:
        return verdicts
    kept = json.loads(FRESH_VERDICTS.read_text(encoding="utf-8")) if FRESH_VERDICTS.exists() else {}
    print(f"running {len(todo)} survivors of code run at import again, each in a fresh process")
    with ThreadPoolExecutor(max_workers=max_children) as pool:
        fresh = pool.map(lambda mutant: run_fresh(mutant, tests_of(mutant), nice), todo)
        for mutant, verdict in zip(todo, fresh, strict=True):
            verdicts[mutant] = verdict
            kept[mutant] = {"diff": diffs[mutant], "verdict": verdict}
            # Written after each one, so that a stopped recheck keeps what it found.
            FRESH_VERDICTS.write_text(json.dumps(kept, indent=1), encoding="utf-8")
    return verdicts


def to_run_again(verdicts: dict[str, str], equivalent: dict[str, str]) -> list[str]:
    """The survivors in mutmut's *verdicts* that ``--again`` runs once more: those neither
    listed as equivalent nor killed in a fresh process for the same change (a test added since
    cannot bring a killed mutant back, and a fresh run takes seconds per mutant)."""
    survivors = [mutant for mutant, status in verdicts.items() if status in SURVIVED]
    diffs = {mutant: diff_of(mutant) for mutant in survivors}
    unlisted = {
        mutant: diff for mutant, diff in diffs.items() if change_of(mutant, diff) not in equivalent
    }
    killed = {mutant for mutant, verdict in kept_fresh(unlisted).items() if verdict == "killed"}
    return [mutant for mutant in unlisted if mutant not in killed]


def forget_verdicts(mutants: list[str]) -> None:
    """Mark *mutants* unchecked in mutmut's records (and drop their fresh verdicts), so that the
    next run runs them again."""
    by_module: dict[str, list[str]] = {}
    for mutant in mutants:
        by_module.setdefault(module_of(mutant), []).append(mutant)
    for module, names in by_module.items():
        meta = MUTANTS / "src" / (module.replace(".", "/") + ".py.meta")
        records = json.loads(meta.read_text(encoding="utf-8"))
        for name in names:
            records["exit_code_by_key"][name] = None
        meta.write_text(json.dumps(records, indent=4), encoding="utf-8")
    if FRESH_VERDICTS.exists():
        kept = json.loads(FRESH_VERDICTS.read_text(encoding="utf-8"))
        forgotten = set(mutants)
        remaining = {name: verdict for name, verdict in kept.items() if name not in forgotten}
        FRESH_VERDICTS.write_text(json.dumps(remaining, indent=1), encoding="utf-8")


def report(verdicts: dict[str, str], diffs: dict[str, str], equivalent: dict[str, str]) -> int:
    """Print the table and every unlisted survivor (*diffs*: their changes); return the exit
    status."""
    rows: dict[str, Counter[str]] = {}
    unlisted: list[tuple[str, str]] = []
    for mutant, status in sorted(verdicts.items()):
        counts = rows.setdefault(module_of(mutant), Counter())
        if status in KILLED:
            counts["killed"] += 1
        elif status in SURVIVED:
            diff = diffs[mutant]
            if change_of(mutant, diff) in equivalent:
                counts["equivalent"] += 1
            else:
                counts["survived"] += 1
                unlisted.append((mutant, diff))
        else:
            counts["not checked"] += 1
    packages: dict[str, Counter[str]] = {}
    for module, counts in rows.items():
        packages.setdefault(module.rpartition(".")[0] + " (package)", Counter()).update(counts)
    print(f"{'':34} {'mutants':>7} {'killed':>6} {'equiv.':>6} {'survived':>8} ", end="")
    print(f"{'unchecked':>9} {'score':>7}")
    low = [name for name, counts in rows.items() if _row(name, counts) < FLOOR]
    for name, counts in packages.items():
        if _row(name, counts) < FLOOR:
            low.append(name)
    for mutant, diff in unlisted:
        print(f"\n{mutant}: survived, and is not in {EQUIVALENT.relative_to(ROOT)}\n{diff}")
    if unlisted:
        print(
            f"Kill each survivor above with a test, or list it in {EQUIVALENT.relative_to(ROOT)}"
            " as equivalent: its line (function: old -> new) and below it, indented, why."
        )
        for mutant, diff in unlisted:
            print(f"  {change_of(mutant, diff)}")
    if low:
        print(f"under {FLOOR:g} %: {', '.join(low)}")
    return 1 if unlisted or low else 0


def _row(name: str, counts: Counter[str]) -> float:
    """Print one line of the table; return its score (100 when nothing was scored)."""
    scored = counts["killed"] + counts["survived"]
    score = 100.0 * counts["killed"] / scored if scored else None
    print(
        f"{name:34} {sum(counts.values()):>7} {counts['killed']:>6} {counts['equivalent']:>6} "
        f"{counts['survived']:>8} {counts['not checked']:>9} "
        + ("    n/a" if score is None else f"{score:>6.1f}%")
    )
    return 100.0 if score is None else score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="modules or packages under src/meshals")
    parser.add_argument("--max-children", type=int, default=1, help="parallel mutants (1)")
    parser.add_argument("--minutes", type=float, default=60.0, help="the time box (60)")
    parser.add_argument("--nice", type=int, default=10, help="niceness: others share the CPU")
    runs = parser.add_mutually_exclusive_group()
    runs.add_argument("--report-only", action="store_true", help="report the last results")
    runs.add_argument("--again", action="store_true", help="run the unlisted survivors again")
    args = parser.parse_args(argv)
    os.chdir(ROOT)  # mutmut reads its records from mutants/ here
    globs = [module_glob(path) for path in args.paths or DEFAULT_PATHS]
    equivalent = read_equivalent()
    if args.again:
        forget_verdicts(to_run_again(results(globs), equivalent))
    if not args.report_only:
        finished = run_mutmut(
            globs, max_children=args.max_children, minutes=args.minutes, nice=args.nice
        )
        if not finished:
            print(f"\nthe {args.minutes:g}-minute time box ended: the rest is not checked")
    verdicts = results(globs)
    diffs = {mutant: diff_of(mutant) for mutant, status in verdicts.items() if status in SURVIVED}
    unlisted = {
        mutant: diff for mutant, diff in diffs.items() if change_of(mutant, diff) not in equivalent
    }
    if args.report_only:
        fresh = kept_fresh(unlisted)  # a report never starts a run
    else:
        fresh = recheck_fresh(unlisted, max_children=args.max_children, nice=args.nice)
    for mutant, verdict in fresh.items():
        if verdict == "killed":
            verdicts[mutant] = "killed in a fresh process"
    return report(verdicts, diffs, equivalent)


if __name__ == "__main__":
    sys.exit(main())
