"""The reports written out (src/mamori/vuln/reportrender.py): 和暦, the Japanese words for
every enum member, HTML that parses, is self-contained and escapes what it is given, CSV that
Excel on Japanese Windows reads (BOM, CRLF) and that reads back to the same rows."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mamori.home import Home
from mamori.vuln import reportrender as rr
from mamori.vuln.decisions import Justification, Kind, State
from mamori.vuln.eolmap import Status
from mamori.vuln.errors import VulnError
from mamori.vuln.reports import Attention, Group, ReportKind
from mamori.vuln.severity import Label

from .test_reports import HOSTILE, SYSTEM, build, load_advisories, populate

D = dt.date
HTML_KINDS = (ReportKind.SUPPORT, ReportKind.COUNTERMEASURES, ReportKind.LICENCES)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Home:
    from mamori.home import init

    tmp = tmp_path_factory.mktemp("reports")
    home = init(tmp / "home", origin="test.example/mamori/reports")
    populate(home)
    load_advisories(home, tmp)
    return home


# --- 和暦 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "era"),
    [
        (D(2019, 4, 30), "平成31年"),
        (D(2019, 5, 1), "令和元年"),
        (D(2020, 1, 1), "令和2年"),
        (D(2026, 11, 27), "令和8年"),
        (D(1989, 1, 7), "昭和64年"),
        (D(1989, 1, 8), "平成元年"),
        (D(1926, 12, 24), "大正15年"),
        (D(1926, 12, 25), "昭和元年"),
        (D(1912, 7, 29), "明治45年"),
        (D(1912, 7, 30), "大正元年"),
        (D(1873, 1, 1), "明治6年"),
        (D(1872, 12, 31), ""),
    ],
)
def test_wareki_at_the_era_boundaries(day: dt.date, era: str) -> None:
    assert rr.wareki(day) == era


def test_dates_are_written_seireki_with_wareki() -> None:
    assert rr.jdate(D(2026, 11, 27)) == "2026年11月27日（令和8年）"
    assert rr.jdate(D(1872, 1, 1)) == "1872年1月1日"
    assert rr.jdate(None) == "—"
    jst = dt.timezone(dt.timedelta(hours=9))
    t = dt.datetime(2026, 11, 27, 0, 30, tzinfo=dt.UTC)
    assert rr.jdatetime(t, jst) == "2026年11月27日（令和8年） 09:30（+09:00）"
    assert rr.jdatetime(D(2019, 5, 1), jst) == "2019年5月1日（令和元年）"
    assert rr.flag_text(True) == "終了（日付非公開）" and rr.flag_text(False) == "未定"
    assert rr.flag_text(None) == "—"


# --- the words, for every member -----------------------------------------------------------


def test_every_enum_member_has_its_japanese_words() -> None:
    assert set(rr.STATUS_LABELS) == set(Status) and set(rr.STATUS_ORDER) == set(Status)
    assert set(rr.GROUP_LABELS) == set(Group)
    assert set(rr.SEVERITY_LABELS) == set(Label)
    assert set(rr.STATE_LABELS) == set(State)
    assert set(rr.JUSTIFICATION_LABELS) == set(Justification)
    assert set(rr.ATTENTION_NOTES) == set(Attention)
    assert set(rr.TITLES) == set(ReportKind)
    assert {k.value for k in Kind} | {"deadline_missed"} == set(rr.HISTORY_KIND_LABELS)
    assert [rr.SEVERITY_LABELS[s] for s in (Label.CRITICAL, Label.HIGH, Label.MEDIUM, Label.LOW)] \
        == ["緊急", "重要", "警告", "注意"]  # fmt: skip
    assert rr.state_text("") == "" and rr.state_text("fixed") == "修正済"
    assert rr.justification_text("component_not_present").endswith("（component_not_present）")


# --- HTML ----------------------------------------------------------------------------------


class Collect(HTMLParser):
    """Text per tag, every src/href, and every <script>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.headings: list[str] = []
        self.links: list[str] = []
        self.scripts = 0
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open.append(tag)
        self.scripts += tag == "script"
        self.links += [v or "" for k, v in attrs if k in ("src", "href")]

    def handle_endtag(self, tag: str) -> None:
        if self.open and self.open[-1] == tag:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self.open and self.open[-1] in ("h1", "h2", "h3"):
            self.headings.append(data.strip())


def parse(html: str) -> Collect:
    p = Collect()
    p.feed(html)
    p.close()
    return p


@pytest.mark.parametrize("kind", HTML_KINDS)
def test_html_is_a_standalone_printable_document(filled: Home, kind: ReportKind) -> None:
    html = rr.render(build(filled, kind), kind, "html").decode("utf-8")
    assert html.startswith("<!DOCTYPE html>") and '<html lang="ja">' in html
    p = parse(html)
    assert p.scripts == 0 and p.links == []
    assert not re.search(r"(?:https?:)?//", html.split("<body>")[0]), "nothing loaded from outside"
    assert "@import" not in html and "url(" not in html
    assert "@page { size: A4" in html and "break-before: page" in html
    assert p.headings[0] == rr.TITLES[kind]
    text = "".join(p.text)
    for label in ("システム名", "基準日", "作成日時", "データの出典", "SHA-256"):
        assert label in text
    assert SYSTEM in text and "2026年6月1日（令和8年）" in text
    assert "2026年6月1日（令和8年） 09:30（+09:00）" in text  # the generation time
    assert "2026年4月1日（令和8年） 12:00（+09:00）" in text  # the inventory's time


@pytest.mark.parametrize("kind", HTML_KINDS)
def test_hostile_names_are_escaped(filled: Home, kind: ReportKind) -> None:
    html = rr.render(build(filled, kind), kind, "html").decode("utf-8")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert HOSTILE in "".join(parse(html).text)


def test_support_html_has_its_sections_and_values(filled: Home) -> None:
    rep = build(filled, ReportKind.SUPPORT)
    p = parse(rr.render_html(rep))
    assert p.headings[1:] == ["データの出典", "概要", "要対応：サポート終了・終了間近のコンポーネント",
                              *rr.GROUP_LABELS.values()]  # fmt: skip
    text = "".join(p.text)
    for value in ("終了間近（40日以内）", "サポート終了", "公開された終了日なし", "サイクル不明",
                  "対象外（データなし）", "2026年7月11日（令和8年）", "2028年6月30日（令和10年）",
                  "2023年6月10日（令和5年）", "未記入", "postgresql-15"):  # fmt: skip
        assert value in text, value
    assert rep.meta.sources[1].sha256 in text


def test_countermeasures_html_has_summary_rows_and_history(filled: Home) -> None:
    rep = build(filled, ReportKind.COUNTERMEASURES)
    p = parse(rr.render_html(rep))
    assert p.headings[1:4] == ["データの出典", "概要", "脆弱性一覧"]
    assert "対応履歴" in p.headings
    text = "".join(p.text)
    for value in ("対応期限超過：2 件", "緊急（9.8）", "期限超過（54日）", "影響なし", "修正済",
                  "脆弱なコードが実行経路上にない（vulnerable_code_not_in_execute_path）",
                  "承認者：sato", "期限内", "GHSA-9wx4-h78v-vm56", "判断", "検出（スキャン）",
                  "4.2.11 へ更新する（4月20日）", "2026年4月8日（令和8年）"):  # fmt: skip
        assert value in text, value
    # overdue first: the critical finding is No.1
    assert text.index("CVE-2024-1111") < text.index("CVE-2024-35195")


def test_licences_html_flags_and_disclaims(filled: Home) -> None:
    text = "".join(parse(rr.render_html(build(filled, ReportKind.LICENCES))).text)
    for value in ("ライセンス別件数", "未確認", "AGPL-3.0-only", rr.ATTENTION_NOTES[Attention.AGPL],
                  "法的な判断や助言ではありません", "pkg:pypi/requests@2.31.0"):  # fmt: skip
        assert value in text, value


# --- CSV -----------------------------------------------------------------------------------


def read_back(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert text.count("\r\n") == text.count("\n") > 0, "every line ends CRLF"
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize(
    ("kind", "first"),
    [
        (ReportKind.SUPPORT, "区分"),
        (ReportKind.COUNTERMEASURES, "システム"),
        (ReportKind.HISTORY, "システム"),
        (ReportKind.LICENCES, "コンポーネント"),
    ],
)
def test_csv_has_bom_crlf_and_reads_back(filled: Home, kind: ReportKind, first: str) -> None:
    rep = build(filled, kind)
    rows = rr.csv_rows(rep, kind)
    back = read_back(rr.render(rep, kind, "csv"))
    assert back[0][0] == first
    expected = [["" if v is None else str(v) for v in row] for row in rows]
    assert back == expected
    assert len({len(r) for r in back}) == 1


def test_csv_rows_hold_iso_dates_and_japanese_words(filled: Home) -> None:
    rows = rr.csv_rows(build(filled, ReportKind.SUPPORT), ReportKind.SUPPORT)
    head, body = rows[0], {(r[1], r[2]): dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert "対応方針" in head
    debian = body[("debian", "12.5")]
    assert debian["セキュリティサポート終了日"] == "2026-07-11" and debian["残日数"] == 40
    assert debian["状況"] == "終了間近（40日以内）" and debian["対応方針"] == "未記入"
    assert body[("thing", "1.0")]["セキュリティサポート終了日"] == "未定"
    cm = rr.csv_rows(build(filled, ReportKind.COUNTERMEASURES), ReportKind.COUNTERMEASURES)
    first = dict(zip(cm[0], cm[1], strict=True))
    assert first["脆弱性ID"] == "CVE-2024-1111" and first["深刻度"] == "緊急"
    assert first["検出日時"] == "2026-04-01T12:00:00+09:00" and first["対応期限"] == "2026-04-08"
    assert first["期限超過"] == "はい" and first["CVSSスコア"] == 9.8
    history = rr.csv_rows(build(filled, ReportKind.HISTORY), ReportKind.HISTORY)
    assert len(history) == 1 + 1 + 1 + 3 + 2  # header, then each finding's transitions


def test_csv_cells_cannot_become_formulas() -> None:
    data = rr.to_csv([["a", "=1+1", "+x", "-y", "@z", "\tt", "ok", -5, None, 1.5]])
    (row,) = read_back(data)
    assert row == ["a", "'=1+1", "'+x", "'-y", "'@z", "'\tt", "ok", "-5", "", "1.5"]


def test_history_is_a_csv_only(filled: Home) -> None:
    rep = build(filled, ReportKind.HISTORY)
    with pytest.raises(VulnError, match="CSV only"):
        rr.render(rep, ReportKind.HISTORY, "html")
    with pytest.raises(VulnError, match="cannot be made"):
        rr.csv_rows(build(filled, ReportKind.LICENCES), ReportKind.SUPPORT)
    with pytest.raises(VulnError, match="not a report format"):
        rr.render(rep, ReportKind.COUNTERMEASURES, "pdf")


# --- a real browser ------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_chromium_renders_the_report(filled: Home, tmp_path: Path) -> None:
    # Japanese fonts may be missing on the test machine: this proves the document renders, not
    # how its glyphs look.
    assert CHROMIUM is not None
    page = tmp_path / "report.html"
    page.write_bytes(rr.render(build(filled, ReportKind.COUNTERMEASURES), ReportKind.COUNTERMEASURES, "html"))  # fmt: skip
    shot = tmp_path / "report.png"
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1400,1000", f"--screenshot={shot}", page.as_uri()]  # fmt: skip
    subprocess.run(args, check=True, capture_output=True, timeout=120)
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_every_csv_column_is_documented(filled: Home) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "vuln-reports.md").read_text("utf-8")
    for kind in ReportKind:
        for column in rr.csv_rows(build(filled, kind), kind)[0]:
            assert str(column) in docs, (kind, column)
    for word in [
        *rr.STATE_LABELS.values(),
        *rr.SEVERITY_LABELS.values(),
        *rr.GROUP_LABELS.values(),
    ]:
        assert word in docs, word
