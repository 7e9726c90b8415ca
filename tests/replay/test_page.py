"""The HTML report: the register equals the analysis, untrusted text stays text, the page
is self-contained, every section shows what the JSON knows (test_page_chromium.py renders
and prints it in Debian's headless Chromium)."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from seid.demo import manifest_for
from seid.replay import forge, page
from tests.conftest import SeidRunner
from tests.replay.conftest import Repo, make_doc, manifest, verdict


class Tags(HTMLParser):
    """Collects tags and text, and checks that every non-void element closes in order."""

    VOID = frozenset({"meta", "br", "hr", "img", "input", "link"})

    def __init__(self, text: str) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.seen: list[tuple[str, dict[str, str | None]]] = []
        self.errors: list[str] = []
        self.texts: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unbalanced </{tag}>")

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

    def tags(self) -> list[str]:
        return [tag for tag, _ in self.seen]


class Register(HTMLParser):
    """The register's rows: risk id -> field -> the text of each line in the cell."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, list[str]]] = {}
        self.risk: str | None = None
        self.field: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and found.get("data-risk"):
            self.risk = found["data-risk"]
            self.rows[self.risk or ""] = {}
        elif tag == "td" and self.risk and found.get("data-field"):
            self.field = found["data-field"]
            self.rows[self.risk][self.field or ""] = [""]
        elif tag in ("div", "br") and self.risk and self.field:
            cell = self.rows[self.risk][self.field]
            if cell[-1].strip():  # a new line in the cell
                cell.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self.field = None
        elif tag == "tr":
            self.risk = None

    def handle_data(self, data: str) -> None:
        if self.risk and self.field:
            self.rows[self.risk][self.field][-1] += data

    def cell(self, risk: str, field: str) -> list[str]:
        return [" ".join(t.split()) for t in self.rows[risk][field] if t.strip()]


def _word(level: str) -> str:
    return level.lower().replace("_", " ")


def test_the_register_rows_equal_seid_analyze_json(
    hist: Repo, seid: SeidRunner, tmp_path: Path
) -> None:
    """The loan scenario's manifest at the head commit: every number of every row is what
    ``seid analyze --json`` says, and so is the overall residual line."""
    hist.commit({"sei.yaml": manifest_for("mlflow"), "train.py": "v1"}, "loan program")
    result = seid("analyze", "--json", cwd=hist.path)
    assert result.code == 0, result.err
    analysis = json.loads(result.out)
    doc = make_doc(hist)
    assert doc["program"]["analysis"] == {
        k: analysis[k] for k in ("risk_analysis", "overall_residual")
    }
    assert doc["program"]["manifest_digest"] == analysis["manifest_digest"]
    text = page.html(doc)
    rows = Register(text)
    assert list(rows.rows) == [r["risk_id"] for r in analysis["risk_analysis"]]
    assert len(rows.rows) == 3
    for risk in analysis["risk_analysis"]:
        rid, dims = risk["risk_id"], risk["dimensions"]
        assert rows.cell(rid, "likelihood") == [_word(risk["likelihood"])]
        assert rows.cell(rid, "impact") == [f"{d['dimension']}: {_word(d['impact'])}" for d in dims]
        assert rows.cell(rid, "inherent") == [_word(d["inherent_level"]) for d in dims]
        assert rows.cell(rid, "residual") == [_word(d["residual_level"]) for d in dims]
        assert rows.cell(rid, "appetite") == [_word(d["appetite"]) for d in dims]
        assert rows.cell(rid, "evaluation") == [d["residual_eval"] for d in dims]
        assert rows.cell(rid, "treatment") == ["reduce", f"to {_word(risk['residual_likelihood'])}"]
    overall = analysis["overall_residual"]
    line = f"{_word(overall['level'])} {overall['evaluation']} against the criterion"
    assert line in " ".join(" ".join(Tags(text).texts).split())
    assert "credit-scorer" in text and "consumer loan pre-screening" in text
    assert "high-risk" in text and "Annex III point 5(b)" in text
    assert rows.cell("unfair-credit-exclusion", "gates") == ["dp-gap: not evaluated"]


def test_untrusted_text_is_shown_as_text(hist: Repo, tmp_path: Path) -> None:
    """Commit messages, author names and bundle strings reach the page only escaped."""
    hist.key(tmp_path)
    first = hist.commit({"sei.yaml": manifest(), "train.py": "v1"}, "<script>alert(1)</script>")
    hist.run("config", "user.name", "x")
    hist.bundle(first, [verdict(0.05, "fail") | {"constraint": "<img src=x onerror=alert(2)>"}])
    hist.commit({"train.py": "v2"}, 'retrain "<b>fast</b>" & <a href=//evil.example>')
    doc = make_doc(hist)
    doc["findings"][0]["summary"] = "<iframe src=https://evil.example/x></iframe>"
    text = page.html(doc)
    parsed = Tags(text)
    assert parsed.errors == [] and parsed.stack == []
    assert not {"script", "img", "iframe", "object", "link"} & set(parsed.tags())
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=alert(2)&gt;" in text
    assert "&lt;iframe src=https://evil.example/x&gt;&lt;/iframe&gt;" in text
    assert "&lt;a href=//evil.example&gt;" in text
    for tag, attrs in parsed.seen:
        assert "src" not in attrs, tag
        assert (attrs.get("href") or "#").startswith("#"), attrs  # no origin: no links out
    csp = next(a for t, a in parsed.seen if t == "meta" and a.get("http-equiv"))
    assert "default-src 'none'" in (csp["content"] or "")


def test_every_section_shows_what_the_json_knows(doc: dict[str, Any]) -> None:
    doc["ledger"]["promotions"] = [
        {
            "log_id": "ab" * 32,
            "index": 7,
            "commit": doc["history"]["first"],
            "predicate_type": "https://seid.dev/promotion/v1",
            "at": "2026-01-09T10:00:00+00:00",
            "promoted": "models:/credit-scorer/3 (alias champion)",
        }
    ]
    doc["claims"] = {
        "bundle": "abababababababab#3",
        "commit": doc["history"]["first"],
        "claims": [
            {
                "path": "claims/fair.prml.yaml",
                "verdict": "PASS",
                "observed": 0.01,
                "locked": True,
                "reason": "demographic_parity_diff = 0.01, < 0.03",
            }
        ],
    }
    text = page.html(doc)
    flat = " ".join(" ".join(Tags(text).texts).split())
    assert "models:/credit-scorer/3 (alias champion)" in flat
    assert "claims/fair.prml.yaml: PASS (demographic_parity_diff = 0.01, < 0.03)" in flat
    assert "residual medium within against appetite medium" in flat  # appetite, residual
    # 6.6 says what it counted, in a history of 8 commits and 3 bundles.
    unfair = next(r for r in doc["risks"] if r["risk_id"] == "unfair")
    review = unfair["review"]
    assert review["reviews"] == review["edits"] + review["bundles"]
    assert (
        f"{review['reviews']} review event(s): {review['edits']} edit(s) of the manifest naming "
        f"the risk and {review['bundles']} bundle(s) judging it" in flat
    )
    # No Python literal reaches a cell.
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", text)
    assert cells and not {"True", "False", "None"} & set(cells)
    assert "nothing to judge" in flat or "yes: a failing measure now passes" in flat


def test_findings_come_first_ranked_by_severity(doc: dict[str, Any]) -> None:
    text = page.html(doc)
    ids = re.findall(r"<tr><td>(F\d{4})</td><td><span class=\"sev sev-(\w+)\"", text)
    assert len(ids) == len(doc["findings"]) > 3
    ranks = [("high", "medium", "low").index(s) for _, s in ids]
    assert ranks == sorted(ranks)
    counts = {s: sum(f["severity"] == s for f in doc["findings"]) for s in ("high", "medium")}
    assert f"{counts['high']} high" in text and f"{counts['medium']} medium" in text


@pytest.mark.parametrize(
    ("remote", "url"),
    [
        ("https://github.com/acme/credit.git", "https://github.com/acme/credit/commit/"),
        ("git@github.com:acme/credit.git", "https://github.com/acme/credit/commit/"),
        ("https://tok:x@gitlab.com/grp/sub/credit", "https://gitlab.com/grp/sub/credit/-/commit/"),
        ("ssh://git@gitlab.example.org:2222/g/r.git", "https://gitlab.example.org/g/r/-/commit/"),
        ("https://codeberg.org/acme/credit.git", "https://codeberg.org/acme/credit/commit/"),
        ("git@gitea.acme.test:acme/credit.git", "https://gitea.acme.test/acme/credit/commit/"),
        ("https://example.org/acme/credit.git", None),
        ("/srv/git/credit.git", None),
        ("https://github.com/acme/cr edit", None),
    ],
)
def test_commit_links_only_for_a_known_forge(remote: str, url: str | None) -> None:
    sha = "a" * 40
    found = forge.commit_url(forge.web(remote), sha)
    assert found == (url + sha if url else None)
    assert "tok" not in (found or "")


def test_commits_link_to_the_forge_of_origin(hist: Repo, doc: dict[str, Any]) -> None:
    hist.commit({"README.md": "x"})
    hist.run("remote", "add", "origin", "git@github.com:acme/credit.git")
    assert forge.web(forge.origin(hist.path)) == {
        "forge": "github",
        "url": "https://github.com/acme/credit",
    }
    doc["repository"]["web"] = forge.web(forge.origin(hist.path))
    text = page.html(doc)
    head = doc["repository"]["head"]
    assert f'href="https://github.com/acme/credit/commit/{head}"' in text
    hrefs = [a["href"] for t, a in Tags(text).seen if t == "a" and a.get("href")]
    assert all(h.startswith(("#", "https://github.com/acme/credit/commit/")) for h in hrefs)


def test_drawings_matrix_timeline_and_dated_charts(hist: Repo, tmp_path: Path) -> None:
    hist.key(tmp_path)
    first = hist.commit({"sei.yaml": manifest(extra_risk=True), "train.py": "v1"})
    power = {"value": 0.05, "power": {"ci_low": 0.041, "ci_high": 0.059, "ci_level": 0.95}}
    hist.bundle(first, [verdict(0.05, "fail")], metrics={"dp-gap": power})
    relax = hist.commit({"sei.yaml": manifest(constraint="< 0.06", extra_risk=True)}, "relax")
    hist.bundle(relax, [verdict(0.05, "pass", "< 0.06")])
    doc = make_doc(hist)
    text = page.html(doc)
    parsed = Tags(text)
    labels = {a.get("aria-label") for t, a in parsed.seen if t == "svg"}
    assert {"risk matrix for impact on individual", "timeline of the cycle"} <= labels
    assert "dp-gap over time" in labels
    flat = " ".join(parsed.texts)
    assert "threshold < 0.06" in flat  # the criterion in force, labelled
    assert "was < 0.03" in flat  # and the one it replaced, where it moved
    assert re.search(r"2026-01-0\d", flat)  # a dated x axis
    assert "95% CI 0.041 to 0.059" in text  # the whisker's tooltip
    whiskers = [a for t, a in parsed.seen if t == "g" and a.get("class") == "whisker"]
    assert len(whiskers) == 1  # only the bundle with a power block has one
    for lane in ("A criteria", "B treatment", "C data", "bundles", "findings"):
        assert lane in flat
    cells = [a for t, a in parsed.seen if t == "rect" and "cell" in (a.get("class") or "")]
    assert len(cells) == 25  # one dimension: one 5x5 matrix
    assert {"very low", "low", "medium", "high", "very high"} <= {t.strip() for t in parsed.texts}


def test_an_unsigned_page_says_why_and_how_to_sign(doc: dict[str, Any]) -> None:
    text = page.html(doc, None, "unsigned: no signing key was found")
    assert "Not signed." in text and "no signing key was found" in text
    assert "--key" in text and "SEID_SIGNING_KEY" in text
    signed = page.html(doc, "ab" * 32, None)
    assert "signed by key abababababababab" in signed and "SEID_SIGNING_KEY" not in signed


def test_html_of_an_empty_history(hist: Repo) -> None:
    hist.commit({"README.md": "x"})
    text = page.html(make_doc(hist))
    assert "Findings (0)" in text and "<svg" not in text
    assert "No usable manifest at the head commit" in text


def test_pdf_without_chromium_is_one_clear_line(
    hist: Repo, seid: SeidRunner, tmp_path: Path
) -> None:
    """No Chromium on PATH: one line naming what is missing, and nothing written."""
    hist.commit({"sei.yaml": manifest(), "train.py": "v1"})
    only_git = tmp_path / "bin"
    only_git.mkdir()
    (only_git / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    out = tmp_path / "audit"
    result = seid(
        "reconstruct",
        "--format",
        "pdf",
        "--out",
        out,
        cwd=hist.path,
        extra_env={"PATH": str(only_git)},
    )
    assert result.code != 0
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    assert "--format pdf needs headless Chromium, and none is installed" in result.err
    assert not out.exists()


def test_the_timeline_names_each_finding_once(doc: dict[str, Any]) -> None:
    """Marks at one moment of a lane merge (labels joined), so none hides another."""
    text = page.html(doc)
    timeline = text[text.index('aria-label="timeline of the cycle"') :]
    timeline = timeline[: timeline.index("</svg>")]
    labels = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", timeline)).split()
    named = [(w, labels[i + 1]) for i, w in enumerate(labels) if w.startswith("F0")]
    assert sorted(named) == sorted((f["id"], f["severity"]) for f in doc["findings"])
    for lane in ("A criteria", "B treatment", "C data", "bundles", "findings"):
        assert lane in labels or lane.split()[-1] in labels
