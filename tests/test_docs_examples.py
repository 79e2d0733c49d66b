"""Every example in docs/ runs, and every console transcript shows what meshals prints.

The conventions (CONTRIBUTING.md, "Examples in the docs"):

- ```` ```python ```` blocks (also ```` ```{code-block} python ````) run in page order in one
  namespace per page (``__name__`` is ``"docs_example"``, so an ``if __name__ == "__main__"``
  guard keeps a script's server from starting).
- ```` ```pycon ```` blocks are doctests (``>>>`` and the output), run in the same namespace;
  ``...`` in an output matches anything.
- ```` ```console ```` blocks are transcripts: each ``$ meshals ...`` line runs through
  :func:`meshals.cli.main` and the lines after it, up to the next ``$``, must match what it
  prints (stdout then stderr, as a terminal shows them; ``...`` matches anything). Only
  ``meshals`` commands belong there; other shell commands go in ```` ```shell ```` blocks.
- A block preceded by ``<!-- docs: not run (reason) -->`` is compiled but not run (a server
  that waits for Envoy...). ```` ```json ```` and ```` ```yaml ```` blocks must parse.

Each page runs in a fresh scratch directory in which ``src``, ``tests`` and ``docs`` lead to the
checkout's, so ``tests/fixtures/envoy/...`` paths work and files an example writes vanish.
Examples that need an optional package (pandas, networkx, prometheus_client, grpc, Envoy's
protos) skip the rest of their page when it is missing, unless ``MESHALS_DOCS_EXAMPLES=required``
(``nox -s docs`` sets it): then they fail.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import json
import os
import re
import shlex
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pytest

import meshals
from meshals import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# Packages an example may need that meshals itself does not depend on.
OPTIONAL_MODULES = frozenset(
    {
        "pandas",
        "networkx",
        "prometheus_client",
        "grpc",
        "envoy",
        "yaml",
        "jsonschema",
        "opentelemetry",
    }
)
NOT_RUN = re.compile(r"<!--\s*docs:\s*not run\b.*-->")
ENVOY_CONFIG = re.compile(r"<!--\s*docs:\s*envoy-validate\s*-->")
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
CHECKER = doctest.OutputChecker()
OPTIONS = doctest.ELLIPSIS


@dataclass(frozen=True)
class Block:
    """One fenced block of a page: its language, text and where it starts."""

    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    text: str
    run: bool
    envoy_config: bool = False  # a bootstrap that ``envoy --mode validate`` must accept

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def pages() -> list[Path]:
    found = [
        path
        for path in sorted(DOCS.rglob("*.md"))
        if not {"_build", "notebooks"} & set(path.relative_to(DOCS).parts)
    ]
    return found


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown (MyST) page, in order."""
    return parse_blocks(path.read_text(encoding="utf-8"), path)


def parse_blocks(text: str, path: Path) -> list[Block]:
    lines = text.splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        fence, info = match["fence"], match["info"].strip()
        start = index
        body: list[str] = []
        index += 1
        while index < len(lines) and not _closes(lines[index], fence):
            body.append(lines[index])
            index += 1
        index += 1  # the closing fence
        previous = next((line for line in reversed(lines[:start]) if line.strip()), "")
        found.append(
            Block(
                path=path,
                line=start + 1,
                language=_language(info),
                text="\n".join(_without_options(body, info)) + "\n",
                run=NOT_RUN.search(previous) is None,
                envoy_config=ENVOY_CONFIG.search(previous) is not None,
            )
        )
    return found


def _closes(line: str, fence: str) -> bool:
    """Whether *line* closes a block opened by *fence* (CommonMark: same character, no fewer)."""
    stripped = line.strip()
    return (
        len(line) - len(line.lstrip(" ")) <= 3
        and len(stripped) >= len(fence)
        and set(stripped) == {fence[0]}
    )


def _language(info: str) -> str:
    """``python`` for ```` ```python ```` and ```` ```{code-block} python ````; ``""`` if none."""
    words = info.split()
    if not words:
        return ""
    if words[0] in ("{code-block}", "{code}", "{sourcecode}"):
        return words[1] if len(words) > 1 else ""
    if words[0].startswith("{"):
        return words[0]  # another directive (toctree, eval-rst, ...)
    return words[0]


def _without_options(body: list[str], info: str) -> list[str]:
    """A directive block's content without its ``:option:`` lines."""
    if not info.startswith("{"):
        return body
    rest = list(body)
    while rest and rest[0].startswith(":"):
        rest.pop(0)
    return rest


def example_pages() -> list[Path]:
    return [path for path in pages() if any(_is_example(block) for block in blocks(path))]


def _is_example(block: Block) -> bool:
    return block.language in ("python", "pycon", "console", "json", "yaml")


@contextlib.contextmanager
def _scratch(tmp_path: Path) -> Iterator[Path]:
    for name in ("src", "tests", "docs"):
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    previous = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(previous)


def _required() -> bool:
    return os.environ.get("MESHALS_DOCS_EXAMPLES") == "required"


def _skip_or_fail(block: Block, error: ImportError) -> None:
    """Skip the rest of the page if *error* is an optional package missing; else re-raise."""
    top = (error.name or "").split(".")[0]
    if top in OPTIONAL_MODULES and not _required():
        pytest.skip(f"{block.where} needs {top}, which is not installed")
    raise error


def run_python(block: Block, namespace: dict[str, object]) -> None:
    code = compile(block.text, block.where, "exec")
    if not block.run:
        return
    try:
        exec(code, namespace)
    except ImportError as error:  # also meshals.MissingDependencyError (an extra not installed)
        _skip_or_fail(block, error)


def run_pycon(block: Block, namespace: dict[str, object]) -> None:
    test = doctest.DocTestParser().get_doctest(
        block.text, namespace, block.where, str(block.path), block.line
    )
    if not block.run:
        for example in test.examples:
            compile(example.source, block.where, "single")
        return
    output = io.StringIO()
    runner = _Runner(optionflags=OPTIONS)
    with contextlib.redirect_stdout(io.StringIO()):  # the runner prints failures itself too
        runner.run(test, out=output.write, clear_globs=False)
    namespace.update(test.globs)
    if runner.failures:
        for error in runner.import_errors:
            _skip_or_fail(block, error)
        pytest.fail(f"{block.where}: doctest failed\n{output.getvalue()}", pytrace=False)


class _Runner(doctest.DocTestRunner):
    """A doctest runner that keeps the import errors its examples raised."""

    def __init__(self, *, optionflags: int) -> None:
        super().__init__(optionflags=optionflags)
        self.import_errors: list[ImportError] = []

    def report_unexpected_exception(
        self,
        out: Callable[[str], object],
        test: doctest.DocTest,
        example: doctest.Example,
        exc_info: tuple[type[BaseException], BaseException, TracebackType],
    ) -> None:
        if isinstance(exc_info[1], ImportError):
            self.import_errors.append(exc_info[1])
        super().report_unexpected_exception(out, test, example, exc_info)


def transcript(text: str) -> list[tuple[str, str]]:
    """The (command, expected output) pairs of a console block.

    A command line ending in a backslash continues on the next line, as in a shell.
    """
    pairs: list[tuple[str, list[str]]] = []
    continued = False
    for line in text.splitlines():
        if continued:
            command = pairs[-1][0][:-1].rstrip() + " " + line.strip()
            pairs[-1] = (command, [])
        elif line.startswith("$ "):
            pairs.append((line[2:], []))
        elif pairs:
            pairs[-1][1].append(line)
        elif line.strip():
            raise AssertionError(f"output before the first '$ ' command: {line!r}")
        continued = bool(pairs) and not pairs[-1][1] and pairs[-1][0].endswith("\\")
    return [(command, "\n".join(output)) for command, output in pairs]


def run_meshals(command: str) -> tuple[int, str]:
    """Run a ``meshals ...`` command line in this process: its status and what it printed."""
    argv = shlex.split(command)
    if argv[:1] == ["meshals"]:
        argv = argv[1:]
    elif argv[:3] == ["python", "-m", "meshals"]:
        argv = argv[3:]
    else:
        raise AssertionError(
            f"console blocks run meshals commands only, not {command!r}: "
            "put other shell commands in a ```shell block"
        )
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main(argv)
        except SystemExit as exit_:  # argparse's usage errors and --help
            status = exit_.code if isinstance(exit_.code, int) else 1
    return status, out.getvalue() + err.getvalue()


def run_console(block: Block) -> None:
    for command, expected in transcript(block.text):
        if not block.run:
            continue
        status, printed = run_meshals(command)
        got = "\n".join(line.rstrip() for line in printed.splitlines())
        want = "\n".join(line.rstrip() for line in expected.splitlines())
        if not CHECKER.check_output(want + "\n", got + "\n", OPTIONS):
            diff = CHECKER.output_difference(
                doctest.Example(command, want + "\n"), got + "\n", OPTIONS
            )
            pytest.fail(f"{block.where}: $ {command} (exit status {status})\n{diff}", pytrace=False)


def check_data(block: Block) -> None:
    if block.language == "json":
        json.loads(block.text)
        return
    try:
        yaml = importlib.import_module("yaml")
    except ModuleNotFoundError:
        if _required():
            raise
        return  # PyYAML is not installed: only the docs session checks YAML
    list(yaml.safe_load_all(block.text))


@pytest.mark.parametrize("page", example_pages(), ids=lambda path: str(path.relative_to(DOCS)))
def test_page_examples(page: Path, tmp_path: Path) -> None:
    namespace: dict[str, object] = {"__name__": "docs_example"}
    with _scratch(tmp_path):
        for block in blocks(page):
            if block.language == "python":
                run_python(block, namespace)
            elif block.language == "pycon":
                run_pycon(block, namespace)
            elif block.language == "console":
                run_console(block)
            elif block.language in ("json", "yaml"):
                check_data(block)


def test_readme_examples(tmp_path: Path) -> None:
    """The README's Python examples run too; its ``capture.bin`` is a real recording."""
    namespace: dict[str, object] = {"__name__": "docs_example"}
    readme = [block for block in blocks(ROOT / "README.md") if block.language == "python"]
    assert len(readme) == 2
    with _scratch(tmp_path), contextlib.redirect_stdout(io.StringIO()) as out:
        shutil.copy(ROOT / "tests/fixtures/envoy/productpage-http.bin", "capture.bin")
        for block in readme:
            run_python(block, namespace)
    printed = out.getvalue().splitlines()
    assert printed[0].startswith("sidecar~127.0.0.")
    assert printed[-1] == "45 9 40"


def test_the_tutorial_has_console_and_python_examples() -> None:
    kinds = {block.language for block in blocks(DOCS / "tutorial.md")}
    assert {"console", "python"} <= kinds


def test_the_jsonl_keys_table_lists_every_key_of_a_metric_record() -> None:
    """docs/formats.md documents ``ServiceMeshMetric.to_dict()`` key by key, in order."""
    text = (DOCS / "formats.md").read_text(encoding="utf-8")
    section = text.split("## Metric records", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `(\w+)` \|", section, re.M)
    bookinfo = meshals.examples.example("bookinfo")
    metric = meshals.analyze(bookinfo.streams(), resolver=bookinfo.resolver()).metrics()[0]
    assert documented == list(metric.to_dict())


def test_the_static_resolver_file_example_is_a_valid_table() -> None:
    (example,) = [block for block in blocks(DOCS / "formats.md") if block.language == "json"]
    resolver = meshals.StaticResolver.from_json(example.text, source=example.where)
    answers = {
        (ip, port): getattr(resolver.resolve(ip, port), "service", None)
        for ip, port in [("10.44.2.56", 9080), ("10.44.2.56", 15090), ("fd00::12", 9080)]
    }
    assert answers == {
        ("10.44.2.56", 9080): "productpage",
        ("10.44.2.56", 15090): "productpage-metrics",
        ("fd00::12", 9080): "reviews",
    }


def test_console_blocks_run_only_meshals() -> None:
    for page in pages():
        for block in blocks(page):
            if block.language == "console":
                for command, _ in transcript(block.text):
                    assert command.startswith(("meshals ", "python -m meshals ")), (
                        f"{block.where}: {command!r}"
                    )


@pytest.mark.envoy
def test_envoy_configurations_in_the_docs_are_valid(tmp_path: Path) -> None:
    """Envoy itself accepts every bootstrap the docs show (``envoy --mode validate``)."""
    import importlib.resources
    import subprocess

    envoy = Path(str(importlib.resources.files("envoy._bin").joinpath("envoy")))
    configs = [block for page in pages() for block in blocks(page) if block.envoy_config]
    assert configs, "no <!-- docs: envoy-validate --> block found"
    for number, block in enumerate(configs):
        path = tmp_path / f"bootstrap-{number}.yaml"
        path.write_text(block.text, encoding="utf-8")
        result = subprocess.run(
            [str(envoy), "--mode", "validate", "-c", str(path), "-l", "error"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, (
            f"{block.where}: Envoy rejects it\n{result.stdout}{result.stderr}"
        )


def test_transcripts_continue_commands_after_a_backslash() -> None:
    assert transcript("$ meshals graph a.bin \\\n    b.bin\nout\n$ meshals x\n") == [
        ("meshals graph a.bin b.bin", "out"),
        ("meshals x", ""),
    ]


def test_block_parser() -> None:
    text = (
        "# T\n\n```python\nx = 1\n```\n\n<!-- docs: not run (a server) -->\n"
        "```{code-block} python\n:caption: c\ny = 2\n```\n\n````console\n$ meshals --help\n"
        "```\n````\n"
    )
    found = parse_blocks(text, DOCS / "page.md")
    assert [(b.language, b.text, b.run, b.line) for b in found] == [
        ("python", "x = 1\n", True, 3),
        ("python", "y = 2\n", False, 8),
        ("console", "$ meshals --help\n```\n", True, 13),
    ]
