"""The report document: schema-valid, signed as evidence, rendered safely."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import zlib
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seid import evidence, keys
from seid.replay import page, report
from seid.replay.cycle import build
from seid.replay.findings import ALL_KINDS, find
from seid.replay.history import History, walk
from seid.replay.join import Bundle, Evidence, join
from seid.replay.schema import SchemaError, load_schema, problems
from tests.replay.conftest import Repo, every_finding, manifest

NOW = datetime(2027, 1, 1, tzinfo=UTC)


def make_doc(hist: Repo) -> dict[str, Any]:
    history = walk(hist.path)
    found = join(hist.path, history)
    cycles = build(history, found, NOW)
    scope = report.Scope(history.commits[-1].sha, None, None, NOW)
    return report.document(scope, history, found, cycles, find(history, found, cycles))


@pytest.fixture(scope="module")
def story_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Built once per module: a history with every kind of finding, as a document."""
    base = tmp_path_factory.mktemp("story")
    (base / "repo").mkdir()
    hist = Repo(base / "repo")
    every_finding(hist, base)
    return make_doc(hist)


@pytest.fixture
def doc(story_doc: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(story_doc)


def test_the_document_matches_its_schema(doc: dict[str, Any]) -> None:
    assert problems(doc) == []
    assert doc["schema"] == load_schema()["$id"] == report.SCHEMA_ID
    assert doc["summary"]["findings"] == len(doc["findings"]) > 0
    unfair = next(r for r in doc["risks"] if r["risk_id"] == "unfair")
    assert unfair["identified_sha"] == doc["history"]["first"]
    assert unfair["provenance"] == "ledger"
    assert unfair["assessment"]["likelihood"] == "LIKELY"
    json.loads(report.to_json(doc))  # strict JSON: no NaN, UTF-8


def test_json_is_compact_sorted_utf8_and_takes_any_string_or_integer() -> None:
    assert report.to_json({"b": "é", "a": [1.5, None]}) == '{"a":[1.5,null],"b":"é"}\n'.encode()
    # What the fast encoder refuses (a lone surrogate, a 70-bit integer) is still written.
    for odd in ({"s": "\ud800 <- lone", "n": 1}, {"n": 2**70}):
        data = report.to_json(odd)
        assert data.endswith(b"\n") and json.loads(data) == odd


def test_the_schema_knows_every_kind_of_finding_and_no_other() -> None:
    defs = load_schema()["$defs"]
    assert defs["finding"]["properties"]["kind"]["enum"] == list(ALL_KINDS)
    by_kind = load_schema()["properties"]["summary"]["properties"]["by_kind"]["properties"]
    assert list(by_kind) == list(ALL_KINDS)


def test_an_empty_history_matches_the_schema(hist: Repo) -> None:
    hist.commit({"README.md": "x"})
    doc = make_doc(hist)
    assert problems(doc) == [] and doc["risks"] == [] and doc["findings"] == []


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d.pop("ledger"), "missing required 'ledger'"),
        (lambda d: d["history"].update(commits="3"), "/history/commits: expected integer"),
        (lambda d: d.update(extra=1), "/extra: not allowed"),
        (lambda d: d["findings"][0].update(kind="oops"), "/findings/0/kind"),
        (lambda d: d["findings"][0]["commits"].append("HEAD"), "does not match"),
        (lambda d: d["risks"][0].update(assessment=7), "oneOf"),
        (lambda d: d["summary"].update(high=-1), "below 0"),
        (lambda d: d["history"].update(merges=True), "expected integer"),
    ],
)
def test_the_checker_refuses_what_the_schema_forbids(
    doc: dict[str, Any], mutate: Any, fragment: str
) -> None:
    broken = copy.deepcopy(doc)
    mutate(broken)
    found = problems(broken)
    assert found and any(fragment in p for p in found), found


def test_the_checker_refuses_keywords_it_does_not_implement() -> None:
    with pytest.raises(SchemaError, match="unsupported"):
        problems({}, {"type": "object", "patternProperties": {}})
    with pytest.raises(SchemaError, match="local"):
        problems({}, {"$ref": "https://example.org/x"})


def test_every_reference_in_the_schema_resolves() -> None:
    schema = load_schema()
    refs: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            refs.extend([node["$ref"]] if "$ref" in node else [])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(schema)
    assert refs and all(r.removeprefix("#/$defs/") in schema["$defs"] for r in refs)


def test_the_signed_report_is_a_verifiable_dsse_statement(
    doc: dict[str, Any], tmp_path: Path
) -> None:
    made = keys.generate(tmp_path / "k", "auditor")
    signer = keys.load_signer(made.private_path)
    data = report.to_json(doc)
    envelope = report.sign_report(data, signer)
    verified = evidence.verify(envelope, {signer.public_key.keyid: signer.public_key})
    statement = verified.statement
    assert statement["predicateType"] == report.PREDICATE_TYPE
    [subject] = statement["subject"]
    assert subject["digest"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert statement["predicate"]["summary"] == doc["summary"]


def test_markdown_has_findings_and_cycle_and_escapes_commit_text(doc: dict[str, Any]) -> None:
    text = report.markdown(doc)
    assert "## Findings" in text and "## Risk unfair" in text
    for kind in ("unevidenced-change", "moved-goalposts", "gate-bypass", "claim-amended"):
        assert kind in text
    assert "### 6.5 Treatment" in text and "relaxed" in text
    doc["risks"][0]["criteria"][0]["author"] = "Eve | <script>x</script>"
    text = report.markdown(doc)
    assert "<script>" not in text and "Eve \\| \\<script\\>" in text


class _Tags(HTMLParser):
    """Collects tags and checks that every non-void element is closed in order."""

    VOID = frozenset({"meta", "br", "hr", "img", "input", "link"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.seen: list[tuple[str, dict[str, str | None]]] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unbalanced </{tag}>")


def test_html_is_self_contained_with_a_timeline_per_measure(doc: dict[str, Any]) -> None:
    doc["findings"][0]["summary"] = "<img src=https://evil.example/x>"
    text = page.html(doc)
    parser = _Tags()
    parser.feed(text)
    assert parser.errors == [] and parser.stack == []
    tags = [tag for tag, _ in parser.seen]
    assert "svg" in tags and tags.count("circle") == 2  # two bundles judged dp-gap
    assert not {"script", "img", "link", "iframe", "object"} & set(tags)
    for _, attrs in parser.seen:
        for name in ("src", "href"):
            assert name not in attrs
    csp = next(a for t, a in parser.seen if t == "meta" and a.get("http-equiv"))
    assert "default-src 'none'" in (csp["content"] or "")
    assert "&lt;img src=https://evil.example/x&gt;" in text
    assert {a.get("class") for t, a in parser.seen if t == "circle"} == {"fail", "pass"}
    assert "threshold in force" in text and "A relaxed" in text and "C data" in text


def test_html_of_an_empty_history(hist: Repo) -> None:
    hist.commit({"README.md": "x"})
    text = page.html(make_doc(hist))
    assert "Findings (0)" in text and "<svg" not in text


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.slow
@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium package (/usr/bin/chromium); .ci/run installs it",
)
def test_html_in_headless_chromium(doc: dict[str, Any], tmp_path: Path) -> None:
    """Rendered: the screenshot is not blank, no console errors, no request leaves."""
    target = tmp_path / "reconstruct.html"
    target.write_text(page.html(doc))
    shot, netlog = tmp_path / "shot.png", tmp_path / "net.json"
    proc = subprocess.run(
        [
            str(CHROMIUM),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            f"--screenshot={shot}",
            "--window-size=1200,1600",
            f"--log-net-log={netlog}",
            target.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert not [line for line in console if "error" in line.lower()], console
    assert len(set(_png_rows(shot))) > 10  # many distinct rows: something was drawn
    urls = _page_requests(netlog)
    assert all(u.startswith(("file:", "data:", "about:", "chrome")) for u in urls), urls


def _page_requests(netlog: Path) -> list[str]:
    """The URLs of the requests a page made, from Chromium's net log (one event a line).

    Chromium's own background traffic (network time, component updates, spelling
    dictionaries, accounts) runs whatever the flags and has no initiator ("not an
    origin"); anything the report asks for carries its origin ("null" for a file: page).
    """
    urls = []
    for line in netlog.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line.rstrip(","))
        except json.JSONDecodeError:
            continue
        params = event.get("params") if isinstance(event, dict) else None
        if not isinstance(params, dict) or "initiator" not in params:
            continue
        if params["initiator"] != "not an origin":
            urls.append(str(params.get("url")))
    return urls


def _png_rows(path: Path) -> list[bytes]:
    """The raw scanlines of a PNG (filter bytes included): enough to tell blank from not."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, channels = 8, b"", 0, 4
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width = int.from_bytes(body[:4], "big")
            channels = {2: 3, 6: 4, 0: 1, 4: 2}.get(body[9], 4)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels + 1
    return [raw[i : i + stride] for i in range(0, len(raw), stride)]


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False)
    | st.integers()
    | st.text(max_size=8)
    | st.just("\ud800 <b>|"),  # a lone surrogate is valid in signed JSON (as an escape)
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def small_history(tmp_path_factory: pytest.TempPathFactory) -> History:
    base = tmp_path_factory.mktemp("small")
    hist = Repo(base)
    hist.commit({"sei.yaml": manifest(), "train.py": "v1"})
    hist.commit({"train.py": "v2"})
    hist.run("tag", "v1")
    hist.commit({"sei.yaml": manifest(constraint="< 0.06", extra_risk=True)})
    return walk(base)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_whatever_a_signed_bundle_says_the_report_holds(
    small_history: History, data: st.DataObject
) -> None:
    """Signed is not sane: any JSON in a verified bundle still yields a schema-valid report."""
    shas = [c.sha for c in small_history.commits]
    verdict_entry = st.fixed_dictionaries(
        {},
        optional={
            "risk": st.sampled_from(["unfair", "drift"]) | JSON,
            "measure": st.just("dp-gap") | JSON,
            "metric": JSON,
            "observed": st.floats(allow_nan=False) | JSON,
            "verdict": st.sampled_from(["pass", "fail", "inconclusive"]) | JSON,
            "constraint": JSON,
            "enforcement": st.just("gate") | JSON,
        },
    )
    predicate = st.fixed_dictionaries(
        {
            "git": st.fixed_dictionaries({"commit": st.sampled_from(shas) | JSON}) | JSON,
            "verdicts": st.lists(verdict_entry, max_size=3) | JSON,
            "gate": st.sampled_from(["pass", "fail"]) | JSON,
            "pipeline": st.fixed_dictionaries({"started": st.text(max_size=25)}) | JSON,
        }
    )
    bundles = [
        Bundle("ab" * 8, i, "0" * 64, p)
        for i, p in enumerate(data.draw(st.lists(predicate, max_size=4)))
    ]
    found = Evidence(bundles=bundles)
    cycles = build(small_history, found, NOW)
    scope = report.Scope(shas[-1], None, None, NOW)
    doc = report.document(scope, small_history, found, cycles, find(small_history, found, cycles))
    assert problems(doc) == []
    report.to_json(doc)
    report.markdown(doc).encode("utf-8", "backslashreplace")
    page.html(doc).encode("utf-8", "backslashreplace")
