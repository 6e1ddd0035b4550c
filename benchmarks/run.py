"""Measure den-lsp against the parsing floor and write benchmarks/RESULTS.md.

    python benchmarks/run.py            # everything: N = 100, 1,000, 10,000 and 40k plain
    python benchmarks/run.py --quick    # N = 100 and 1,000 only, fewer repeats

The runner generates the workspaces (``generate.py``, fixed seed) into a
temporary folder and measures each figure in a process of its own:

floor
    read and tree-sitter-parse every ``.nix`` file, nothing else (a Python
    process that imports the same grammar den-lsp uses);
cold / warm check
    ``den-lsp check`` on the whole workspace with an empty cache folder, then
    again with the cache it filled (wall time and peak RSS);
server
    ``den-lsp serve`` over stdio, driven by pygls' ``LanguageClient``: start
    to first diagnostics of one open file, edit latency (``didChange`` to the
    ``publishDiagnostics`` of that version) for a one-character edit in a
    typical aspect and for an edit that toggles a kind's isolation, request
    latency, server RSS, and requests answered while a large workspace
    indexes.

Every time is also given as a ratio to the floor of the same workspace in
the same run. Progress goes to stderr; the table goes to RESULTS.md (and
``--json`` writes the raw figures).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import generate  # the generator beside this file

PYTHON = sys.executable
# The code the measured processes run (see ``snapshot_code``); the runner's
# own subprocesses learn it from the environment.
CODE = Path(os.environ.get("DEN_LSP_BENCH_CODE", REPO))
# A subprocess that runs longer than this is a failed measurement, not a hang.
TIMEOUT = 900
# Seconds one edit figure may take; past them (and at least 20 edits) it
# stops early, and the table says over how many edits it was measured.
EDIT_BUDGET = 150.0

TARGETS = {
    "cold": "≤ 3 × floor",
    "warm": "≤ 0.5 × floor",
    "edit_typical_p95": "≤ 30 ms; N=10,000 ≤ 1.5 × N=100",
    "edit_isolation_p95": "≤ 30 ms; N=10,000 ≤ 1.5 × N=100",
    "hover_p95": "≤ 10 ms",
    "definition_p95": "≤ 10 ms",
    "completion_p95": "≤ 10 ms",
    "references_p95": "≤ 50 ms",
    "rename_p95": "≤ 50 ms",
    "rss_indexed": "≤ 150 MB (N=1,000); ≤ 1 GB (N=10,000)",
    "during_index_max": "≤ 200 ms (N=10,000)",
    "plain_cold": "≤ 1.5 × floor",
}


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- measured processes ---------------------------------------------------------


def timed(command: list[str], env: dict[str, str] | None = None) -> dict:
    """Run ``command``; its wall time, peak RSS and standard output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env
        )
        deadline = time.monotonic() + TIMEOUT
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"timed out: {' '.join(command)}")
            time.sleep(0.002)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode not in (0, 1):  # 1: findings at the fail-on level
        raise RuntimeError(
            f"{' '.join(command)} exited {process.returncode}:\n"
            + stderr.decode(errors="replace")[-3000:]
        )
    return {
        "wall": wall,
        "rss_mb": usage.ru_maxrss / 1024,  # KiB on Linux
        "stdout": stdout,
    }


def environment(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["XDG_CACHE_HOME"] = str(cache)
    env["DEN_LSP_BENCH_CODE"] = str(CODE)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(CODE / "server"), env.get("PYTHONPATH")) if p
    )
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


def snapshot_code(work: Path) -> Path:
    """A copy of den-lsp's code for the whole run.

    Every measured process runs this copy: an edit to the working tree
    during the run (other work goes on in it) changes neither the code
    measured nor the fingerprint its cache entries carry.
    """
    code = work / "code"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(
        REPO / "server" / "den_lsp", code / "server" / "den_lsp", ignore=skip
    )
    shutil.copytree(REPO / "grammar-queries", code / "grammar-queries", ignore=skip)
    return code


def floor_process(root: Path) -> None:
    """The floor, run as a process of its own: read and parse, nothing else."""
    started = time.perf_counter()
    import tree_sitter
    from tree_sitter_language_pack import get_language

    parser = tree_sitter.Parser(get_language("nix"))
    files = size = 0
    for directory, _, names in os.walk(root):
        for name in names:
            if name.endswith(".nix"):
                with open(os.path.join(directory, name), "rb") as stream:
                    source = stream.read()
                parser.parse(source)
                files += 1
                size += len(source)
    seconds = time.perf_counter() - started
    print(json.dumps({"files": files, "bytes": size, "seconds": seconds}))


def repeat(runs: int, measure) -> dict:
    """The median run of ``runs`` (by wall time), with every wall time kept."""
    results = [measure() for _ in range(runs)]
    results.sort(key=lambda r: r["wall"])
    median = dict(results[len(results) // 2])
    median["walls"] = [r["wall"] for r in results]
    median.pop("stdout", None)
    return median


def measure_checks(root: Path, work: Path, runs: int) -> dict:
    figures: dict[str, dict] = {}

    def floor() -> dict:
        result = timed([PYTHON, __file__, "_floor", str(root)], environment(work))
        result.update(json.loads(result["stdout"]))
        return result

    figures["floor"] = repeat(runs, floor)
    progress(f"  floor {figures['floor']['wall']:.3f} s")

    def cold() -> dict:
        cache = Path(tempfile.mkdtemp(prefix="cache-", dir=work))
        try:
            return timed(
                [PYTHON, "-m", "den_lsp", "check", str(root)], environment(cache)
            )
        finally:
            shutil.rmtree(cache, ignore_errors=True)

    figures["cold"] = repeat(runs, cold)
    progress(f"  cold check {figures['cold']['wall']:.3f} s")

    warm_cache = work / "warm-cache"
    shutil.rmtree(warm_cache, ignore_errors=True)
    timed([PYTHON, "-m", "den_lsp", "check", str(root)], environment(warm_cache))
    figures["warm"] = repeat(
        runs,
        lambda: timed(
            [PYTHON, "-m", "den_lsp", "check", str(root)], environment(warm_cache)
        ),
    )
    progress(f"  warm check {figures['warm']['wall']:.3f} s")
    return figures


# -- the server, over stdio ---------------------------------------------------------


def server_figure(args: argparse.Namespace) -> None:
    """One server measurement, run in a process of its own; prints JSON."""
    result = asyncio.run(_server_figure(args))
    print(json.dumps(result))


def _percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {
        "p50": statistics.median(ordered) * 1000,
        "p95": p95 * 1000,
        "max": ordered[-1] * 1000,
        "count": len(ordered),
    }


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as stream:
        for line in stream:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def _server_figure(args: argparse.Namespace) -> dict:
    from lsprotocol import types
    from pygls.lsp.client import LanguageClient
    from pygls.uris import from_fs_path

    root = Path(args.root).resolve()
    plan = json.loads(args.plan)
    client = LanguageClient("den-lsp-benchmark", "1")
    published: dict[str, list[tuple[int | None, list, float]]] = {}
    arrived = asyncio.Event()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: types.PublishDiagnosticsParams) -> None:
        published.setdefault(params.uri, []).append(
            (params.version, params.diagnostics, time.perf_counter())
        )
        arrived.set()

    @client.feature(types.WINDOW_LOG_MESSAGE)
    def on_log(params) -> None:
        pass

    @client.feature(types.WINDOW_SHOW_MESSAGE)
    def on_show(params) -> None:
        pass

    async def diagnostics_for(uri: str, version: int | None = None) -> float:
        """When diagnostics for ``uri`` (at ``version`` or later) arrived."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            for seen, _, at in published.get(uri, []):
                if version is None or (seen is not None and seen >= version):
                    return at
            if time.monotonic() > deadline:
                raise RuntimeError(f"no diagnostics for {uri} v{version}")
            arrived.clear()
            try:
                await asyncio.wait_for(arrived.wait(), 1.0)
            except TimeoutError:
                pass

    started = time.perf_counter()
    await client.start_io(
        PYTHON, "-m", "den_lsp", "serve", env=environment(Path(args.cache))
    )
    server = client._server
    # The server logs to stderr; read it so that a full pipe never blocks it.
    drained = asyncio.ensure_future(_drain(server.stderr))

    capabilities = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            publish_diagnostics=types.PublishDiagnosticsClientCapabilities(
                version_support=True
            ),
        ),
    )
    await client.initialize_async(
        types.InitializeParams(
            capabilities=capabilities,
            process_id=os.getpid(),
            root_uri=from_fs_path(str(root)),
            workspace_folders=[
                types.WorkspaceFolder(uri=from_fs_path(str(root)), name=root.name)
            ],
        )
    )
    client.initialized(types.InitializedParams())

    texts: dict[str, str] = {}
    versions: dict[str, int] = {}

    def uri_of(rel: str) -> str:
        return from_fs_path(str(root / rel))

    def open_file(rel: str) -> str:
        uri = uri_of(rel)
        texts[uri] = (root / rel).read_text()
        versions[uri] = 1
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="nix", version=1, text=texts[uri]
                )
            )
        )
        return uri

    typical = open_file(plan["typical"])
    result: dict = {}

    if args.figure == "during-index":
        # Ask for hovers the whole time the workspace indexes.
        position = types.Position(**plan["hover"])
        latencies = []
        first = asyncio.ensure_future(diagnostics_for(typical))
        while not first.done():
            sent = time.perf_counter()
            await client.text_document_hover_async(
                types.HoverParams(
                    text_document=types.TextDocumentIdentifier(uri=typical),
                    position=position,
                )
            )
            latencies.append(time.perf_counter() - sent)
            await asyncio.sleep(0.02)
        result["during_index"] = _percentiles(latencies)
        result["first_diagnostics"] = (await first) - started
    else:
        result["first_diagnostics"] = (await diagnostics_for(typical)) - started
        result["rss_indexed"] = _rss_mb(server.pid)

    def change(uri: str, offset: int, length: int, text: str) -> int:
        """Replace ``length`` characters at ``offset`` (one line, ASCII text)."""
        old = texts[uri]
        line = old.count("\n", 0, offset)
        column = offset - (old.rfind("\n", 0, offset) + 1)
        texts[uri] = old[:offset] + text + old[offset + length :]
        versions[uri] += 1
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=uri, version=versions[uri]
                ),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(
                            start=types.Position(line=line, character=column),
                            end=types.Position(line=line, character=column + length),
                        ),
                        text=text,
                    )
                ],
            )
        )
        return versions[uri]

    async def edit_run(uri: str, offset: int, states: list[str]) -> list[float]:
        latencies = []
        budget = time.monotonic() + args.edit_budget
        for number in range(args.edits):
            if number >= 20 and time.monotonic() > budget:
                break  # reported with the number of edits made
            current = states[number % len(states)]
            following = states[(number + 1) % len(states)]
            sent = time.perf_counter()
            version = change(uri, offset, len(current), following)
            latencies.append(await diagnostics_for(uri, version) - sent)
            # A pause, as between keystrokes, so that edits are not folded.
            await asyncio.sleep(0.005)
        return latencies

    if args.figure == "edit-typical":
        offset = plan["digit"]
        digit = texts[typical][offset]
        other = "1" if digit != "1" else "2"
        latencies = await edit_run(typical, offset, [digit, other])
        result["edit_typical"] = _percentiles(latencies)
        result["rss_edited"] = _rss_mb(server.pid)

    elif args.figure == "edit-isolation":
        kind = open_file(plan["kind"])
        policy = open_file(plan["policy"])
        await diagnostics_for(kind)
        await diagnostics_for(policy)
        before = len(published[policy])
        offset = texts[kind].index("isolated = true") + len("isolated = ")
        latencies = await edit_run(kind, offset, ["true", "false"])
        result["edit_isolation"] = _percentiles(latencies)
        # The toggle must change what the policy file shows, or this edit
        # measured nothing beyond the edited file.
        shown = {len(d) for _, d, _ in published[policy][before - 1 :]}
        result["isolation_changes_other_file"] = len(shown) > 1
        result["rss_edited"] = _rss_mb(server.pid)

    elif args.figure == "requests":
        document = types.TextDocumentIdentifier(uri=typical)

        def at(name: str) -> types.Position:
            return types.Position(**plan[name])

        requests = {
            "hover": lambda: client.text_document_hover_async(
                types.HoverParams(text_document=document, position=at("hover"))
            ),
            "definition": lambda: client.text_document_definition_async(
                types.DefinitionParams(text_document=document, position=at("include"))
            ),
            "references": lambda: client.text_document_references_async(
                types.ReferenceParams(
                    text_document=document,
                    position=at("hover"),
                    context=types.ReferenceContext(include_declaration=True),
                )
            ),
            "completion": lambda: client.text_document_completion_async(
                types.CompletionParams(text_document=document, position=at("complete"))
            ),
            "rename": lambda: client.text_document_rename_async(
                types.RenameParams(
                    text_document=document, position=at("hover"), new_name="renamed"
                )
            ),
        }
        for name, request in requests.items():
            latencies = []
            answered = None
            for _ in range(args.requests):
                sent = time.perf_counter()
                answer = await request()
                latencies.append(time.perf_counter() - sent)
                answered = answered or bool(answer)
            result[name] = _percentiles(latencies)
            result[name]["answered"] = answered

    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    drained.cancel()
    return result


async def _drain(stream) -> None:
    while await stream.read(65536):
        pass


def measure_server(
    figure: str, root: Path, cache: Path, plan: dict, edits: int, requests: int
) -> dict:
    result = timed(
        [
            PYTHON,
            __file__,
            "_server",
            figure,
            str(root),
            "--cache",
            str(cache),
            "--plan",
            json.dumps(plan),
            "--edits",
            str(edits),
            "--requests",
            str(requests),
            "--edit-budget",
            str(EDIT_BUDGET),
        ],
        environment(cache),
    )
    return json.loads(result["stdout"])


def plan_of(root: Path, notable: dict[str, str]) -> dict:
    """Where to edit and ask: a typical aspect with includes, a kind, its policy."""
    aspects = sorted((root / "modules" / "aspects").rglob("*.nix"))
    start = len(aspects) // 2
    for path in aspects[start:] + aspects[:start]:
        text = path.read_text()
        name = path.stem
        include = text.find("      den.aspects.aspect-")
        if f"  den.aspects.{name} = {{" not in text or include < 0:
            continue
        digit = text.index('"port ') + len('"port ')

        def position(offset: int, text: str = text) -> dict:
            line = text.count("\n", 0, offset)
            start = text.rfind("\n", 0, offset) + 1
            return {"line": line, "character": offset - start}

        own = text.index(f"den.aspects.{name}") + len("den.aspects.") + 2
        include_name = include + len("      den.aspects.") + 2
        return {
            "typical": path.relative_to(root).as_posix(),
            "digit": digit,
            "hover": position(own),
            "include": position(include_name),
            "complete": position(include + len("      den.aspects.")),
            "kind": notable["kind"],
            "policy": notable["policy"],
        }
    raise RuntimeError("no aspect with includes in the generated workspace")


# -- the run ----------------------------------------------------------------------


def machine() -> dict:
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = "unknown"
    try:
        with open("/proc/meminfo") as stream:
            for line in stream:
                if line.startswith("MemTotal:"):
                    memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                    break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "ram": memory,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def run_size(size: int, work: Path, args: argparse.Namespace) -> dict:
    root = work / f"den-{size}"
    progress(f"N = {size}: generating")
    notable = generate.den_workspace(root, size)
    plan = plan_of(root, notable)
    figures = measure_checks(root, work, args.runs)

    cache = work / "warm-cache"  # filled by the warm check above
    cold_cache = work / "server-cold-cache"
    shutil.rmtree(cold_cache, ignore_errors=True)
    cold_cache.mkdir()
    progress("  server: start to first diagnostics (empty cache)")
    figures["server_cold"] = measure_server(
        "start", root, cold_cache, plan, args.edits, args.requests
    )
    shutil.rmtree(cold_cache, ignore_errors=True)
    progress("  server: start to first diagnostics (warm cache)")
    figures["server_warm"] = measure_server(
        "start", root, cache, plan, args.edits, args.requests
    )
    progress(f"  server: {args.edits} one-character edits")
    figures["edit_typical"] = measure_server(
        "edit-typical", root, cache, plan, args.edits, args.requests
    )
    progress(f"  server: {args.edits} isolation toggles")
    figures["edit_isolation"] = measure_server(
        "edit-isolation", root, cache, plan, args.edits, args.requests
    )
    progress(f"  server: requests ({args.requests} of each)")
    figures["requests"] = measure_server(
        "requests", root, cache, plan, args.edits, args.requests
    )
    if size >= 10000 or args.during_index_all:
        cold_cache.mkdir()
        progress("  server: requests during the initial index (empty cache)")
        figures["during_index"] = measure_server(
            "during-index", root, cold_cache, plan, args.edits, args.requests
        )
        shutil.rmtree(cold_cache, ignore_errors=True)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return figures


def run_plain(size: int, work: Path, args: argparse.Namespace) -> dict:
    root = work / f"plain-{size}"
    progress(f"plain repository of {size} files: generating")
    generate.plain_repository(root, size)
    figures = measure_checks(root, work, args.runs)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return figures


# -- the report ---------------------------------------------------------------------


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _ratio(value: float, floor: float) -> str:
    return f"{value / floor:.2f}×"


def report(results: dict, command: str, started: datetime.datetime) -> str:
    sizes = [s for s in results["sizes"]]
    lines = [
        "# den-lsp benchmarks",
        "",
        f"Produced by `{command}` on {started.strftime('%Y-%m-%d %H:%M')} "
        f"(total {results['minutes']:.1f} min).",
        "",
        "Machine: {cpu}, {cores} cores, {ram} RAM, Python {python}, {system}.".format(
            **results["machine"]
        ),
        f"Load average before / after the run: {results['load_before']} / "
        f"{results['load_after']}"
        + (" (the machine was busy; timings are noisy)." if results["busy"] else "."),
        "",
        "Every cell reads *absolute (ratio to the floor of the same workspace)*. "
        "The floor is a Python process that reads and tree-sitter-parses every "
        "`.nix` file and does nothing else; check figures are whole processes too "
        "(interpreter start included), the median of "
        f"{results['runs']} runs. Latencies are p50 / p95 over "
        f"{results['edits']} edits or {results['requests']} requests, from the "
        "client's send to its receipt of the answer (for an edit: the "
        "`publishDiagnostics` of the edited version).",
        "",
    ]
    header = "| figure | " + " | ".join(f"N = {s:,}" for s in sizes) + " | target |"
    lines += [header, "|---" * (len(sizes) + 2) + "|"]

    def row(title: str, target: str, cell) -> None:
        cells = []
        for s in sizes:
            data = results["sizes"][s]
            try:
                cells.append(cell(data, data["floor"]["wall"]))
            except (KeyError, TypeError):
                cells.append("—")
        lines.append(f"| {title} | " + " | ".join(cells) + f" | {target} |")

    def wall(name):
        return lambda d, f: (
            f"{_seconds(d[name]['wall'])} ({_ratio(d[name]['wall'], f)})"
        )

    def latency(figure, key):
        def cell(d, f):
            p = d[figure][key]
            fewer = ""
            if key.startswith("edit") and p["count"] < results["edits"]:
                fewer = f", over {p['count']} edits"
            return (
                f"{p['p50']:.1f} / {p['p95']:.1f} ms "
                f"({p['p95'] / 1000 / f:.3f}×{fewer})"
            )

        return cell

    row(
        "floor: read + parse",
        "—",
        lambda d, f: (
            f"{_seconds(f)} ({d['floor']['files']:,} files, "
            f"{d['floor']['bytes'] / 1e6:.1f} MB; parse loop {_seconds(d['floor']['seconds'])})"
        ),
    )
    row("cold `den-lsp check`", TARGETS["cold"], wall("cold"))
    row("warm `den-lsp check`", TARGETS["warm"], wall("warm"))
    row(
        "peak RSS, cold check",
        "—",
        lambda d, f: (
            f"{d['cold']['rss_mb']:.0f} MB "
            f"({d['cold']['rss_mb'] / d['floor']['rss_mb']:.1f}× floor's)"
        ),
    )
    row(
        "server start → first diagnostics, empty cache",
        "—",
        lambda d, f: (
            f"{_seconds(d['server_cold']['first_diagnostics'])} "
            f"({_ratio(d['server_cold']['first_diagnostics'], f)})"
        ),
    )
    row(
        "server start → first diagnostics, warm cache",
        "—",
        lambda d, f: (
            f"{_seconds(d['server_warm']['first_diagnostics'])} "
            f"({_ratio(d['server_warm']['first_diagnostics'], f)})"
        ),
    )
    row(
        "edit → diagnostics, one character (p50 / p95)",
        TARGETS["edit_typical_p95"],
        latency("edit_typical", "edit_typical"),
    )
    row(
        "edit → diagnostics, isolation toggle (p50 / p95)",
        TARGETS["edit_isolation_p95"],
        latency("edit_isolation", "edit_isolation"),
    )
    for name in ("hover", "definition", "completion", "references", "rename"):
        row(f"{name} (p50 / p95)", TARGETS[f"{name}_p95"], latency("requests", name))
    row(
        "server RSS after indexing",
        TARGETS["rss_indexed"],
        lambda d, f: (
            f"{d['edit_typical']['rss_indexed']:.0f} MB "
            f"({d['edit_typical']['rss_indexed'] / d['floor']['rss_mb']:.1f}× floor's)"
        ),
    )
    row(
        "server RSS after the edit runs",
        "—",
        lambda d, f: (
            f"{max(d['edit_typical']['rss_edited'], d['edit_isolation']['rss_edited']):.0f} MB"
        ),
    )
    row(
        "requests during the initial index (p50 / max)",
        TARGETS["during_index_max"],
        lambda d, f: (
            f"{d['during_index']['during_index']['p50']:.1f} / "
            f"{d['during_index']['during_index']['max']:.1f} ms over "
            f"{d['during_index']['during_index']['count']} hovers "
            f"({d['during_index']['during_index']['max'] / 1000 / f:.3f}×)"
        ),
    )
    lines.append("")
    checks = []
    for s in sizes:
        data = results["sizes"][s]
        if "edit_isolation" in data:
            checks.append(
                f"N = {s:,}: "
                + (
                    "yes"
                    if data["edit_isolation"].get("isolation_changes_other_file")
                    else "NO"
                )
            )
    if checks:
        lines.append(
            "The isolation toggle changed the open policy file's diagnostics: "
            + "; ".join(checks)
            + "."
        )
        lines.append("")

    if results.get("plain"):
        plain = results["plain"]
        f = plain["floor"]["wall"]
        lines += [
            f"Plain Nix repository ({plain['floor']['files']:,} files, "
            f"{plain['floor']['bytes'] / 1e6:.1f} MB, no den):",
            "",
            "| figure | value | target |",
            "|---|---|---|",
            f"| floor: read + parse | {_seconds(f)} | — |",
            f"| cold `den-lsp check` | {_seconds(plain['cold']['wall'])} "
            f"({_ratio(plain['cold']['wall'], f)}) | {TARGETS['plain_cold']} |",
            f"| warm `den-lsp check` | {_seconds(plain['warm']['wall'])} "
            f"({_ratio(plain['warm']['wall'], f)}) | — |",
            f"| peak RSS, cold check | {plain['cold']['rss_mb']:.0f} MB | — |",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    global CODE, EDIT_BUDGET
    if len(sys.argv) > 1 and sys.argv[1] == "_floor":
        floor_process(Path(sys.argv[2]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_server":
        inner = argparse.ArgumentParser()
        inner.add_argument("figure")
        inner.add_argument("root")
        inner.add_argument("--cache", required=True)
        inner.add_argument("--plan", required=True)
        inner.add_argument("--edits", type=int, required=True)
        inner.add_argument("--requests", type=int, required=True)
        inner.add_argument("--edit-budget", type=float, required=True)
        server_figure(inner.parse_args(sys.argv[2:]))
        return

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="100,1000,10000",
        help="den workspace sizes, comma-separated (default: 100,1000,10000)",
    )
    parser.add_argument(
        "--plain", type=int, default=40000, help="plain repository size (0: skip)"
    )
    parser.add_argument("--quick", action="store_true", help="N = 100, 1,000 only")
    parser.add_argument("--runs", type=int, default=3, help="runs per check figure")
    parser.add_argument("--edits", type=int, default=200, help="edits per edit figure")
    parser.add_argument(
        "--edit-budget",
        type=float,
        default=EDIT_BUDGET,
        help=f"seconds one edit figure may take (default: {EDIT_BUDGET:.0f})",
    )
    parser.add_argument("--requests", type=int, default=100, help="per request kind")
    parser.add_argument(
        "--during-index-all",
        action="store_true",
        help="measure requests during indexing at every size, not only 10,000",
    )
    parser.add_argument(
        "--workdir", type=Path, help="where to generate (default: a temp dir)"
    )
    parser.add_argument("--keep", action="store_true", help="keep generated workspaces")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    EDIT_BUDGET = args.edit_budget
    if args.quick:
        args.sizes, args.plain, args.runs = "100,1000", 0, 1
    sizes = [int(s) for s in args.sizes.split(",") if s]

    command = "python benchmarks/run.py " + " ".join(sys.argv[1:])
    started = datetime.datetime.now()
    began = time.perf_counter()
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="den-lsp-bench-", dir=args.workdir))
    CODE = snapshot_code(work)
    results: dict = {
        "machine": machine(),
        "runs": args.runs,
        "edits": args.edits,
        "requests": args.requests,
        "sizes": {},
    }
    try:
        for size in sizes:
            results["sizes"][size] = run_size(size, work, args)
        if args.plain:
            results["plain"] = run_plain(args.plain, work, args)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    results["load_before"] = " ".join(f"{x:.2f}" for x in load_before)
    results["load_after"] = " ".join(f"{x:.2f}" for x in load_after)
    # Busy: other work kept more than a quarter of a core occupied.
    results["busy"] = (
        max(load_before[1], load_after[1]) > 0.25 * (os.cpu_count() or 1) + 1
    )
    results["minutes"] = (time.perf_counter() - began) / 60

    text = report(results, command.strip(), started)
    if args.output.exists():
        previous = args.output.read_text()
        marker = "\n## Notes"
        if marker in previous:
            text += previous[previous.index(marker) :]
    args.output.write_text(text + ("\n" if not text.endswith("\n") else ""))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    progress(f"wrote {args.output}")
    print(text)


if __name__ == "__main__":
    main()
