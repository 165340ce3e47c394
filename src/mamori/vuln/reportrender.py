"""The Japanese reports of :mod:`mamori.vuln.reports` as HTML and CSV (pure: values in, bytes
out). See docs/vuln-reports.md.

HTML: one standalone document (inline CSS, nothing loaded from anywhere, A4 landscape for
print, a page break between sections), from ``vuln/templates/`` with autoescaping on. Dates are
written 西暦 with the 和暦 year in parentheses: 2026年11月27日（令和8年）.

CSV: UTF-8 with a byte-order mark (so that Excel on Japanese Windows reads it as UTF-8, not
Shift_JIS), CRLF line ends (RFC 4180 §2), a Japanese header row, dates in ISO 8601. Text cells
starting with ``= + - @`` or a tab are prefixed with ``'`` so that a spreadsheet does not run a
hostile component name as a formula (OWASP "CSV Injection").
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from typing import Final, assert_never

import jinja2

from mamori.vuln.decisions import Justification, State
from mamori.vuln.eol import DateOrFlag
from mamori.vuln.eolmap import Status
from mamori.vuln.errors import VulnError
from mamori.vuln.reports import (
    PLAN_UNWRITTEN,
    SEVERITY_ORDER,
    Attention,
    CountermeasureReport,
    Group,
    LicenceReport,
    Report,
    ReportKind,
    SupportReport,
    SupportRow,
)
from mamori.vuln.severity import Label

# --- the words -------------------------------------------------------------------------------

TITLES: Final[dict[ReportKind, str]] = {
    ReportKind.SUPPORT: "サポート期間報告書",
    ReportKind.COUNTERMEASURES: "脆弱性対策状況報告書",
    ReportKind.HISTORY: "脆弱性対応履歴",
    ReportKind.LICENCES: "ライセンス一覧",
}
GROUP_LABELS: Final[dict[Group, str]] = {
    Group.OS: "OS（オペレーティングシステム・配布パッケージ）",
    Group.MIDDLEWARE: "ミドルウェア・ランタイム",
    Group.LIBRARY: "ライブラリ・フレームワーク",
}
STATUS_LABELS: Final[dict[Status, str]] = {
    Status.SUPPORTED: "サポート中",
    Status.ENDING: "終了間近",
    Status.ENDED: "サポート終了",
    Status.NO_PUBLISHED_EOL: "公開された終了日なし",
    Status.NOT_TRACKED: "対象外（データなし）",
    Status.UNKNOWN_CYCLE: "サイクル不明",
}
SEVERITY_LABELS: Final[dict[Label, str]] = {
    Label.CRITICAL: "緊急",
    Label.HIGH: "重要",
    Label.MEDIUM: "警告",
    Label.LOW: "注意",
    Label.NONE: "なし",
    Label.UNKNOWN: "不明",
}
STATE_LABELS: Final[dict[State, str]] = {
    State.DETECTED: "検出",
    State.UNDER_INVESTIGATION: "調査中",
    State.NOT_AFFECTED: "影響なし",
    State.AFFECTED: "影響あり",
    State.FIXED: "修正済",
    State.VERIFIED: "確認済",
}
JUSTIFICATION_LABELS: Final[dict[Justification, str]] = {
    Justification.COMPONENT_NOT_PRESENT: "コンポーネントが含まれていない",
    Justification.VULNERABLE_CODE_NOT_PRESENT: "脆弱なコードが含まれていない",
    Justification.VULNERABLE_CODE_NOT_IN_EXECUTE_PATH: "脆弱なコードが実行経路上にない",
    Justification.VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY: (
        "脆弱なコードを攻撃者が制御できない"
    ),
    Justification.INLINE_MITIGATIONS_ALREADY_EXIST: "緩和策が既に実装されている",
}
HISTORY_KIND_LABELS: Final[dict[str, str]] = {
    "detect": "検出（スキャン）",
    "triage": "判断",
    "verify": "修正確認（再スキャン）",
    "reopen": "再検出（再スキャン）",
    "deadline_missed": "対応期限超過",
}
"""decisions.Kind values, and the store's ``deadline_missed``."""
ATTENTION_NOTES: Final[dict[Attention, str]] = {
    Attention.AGPL: "AGPL: ネットワーク経由で利用させる場合もソースコード提供義務が生じ得る",
    Attention.GPL: "GPL: 頒布する場合にソースコード提供義務（コピーレフト）が生じ得る",
    Attention.LGPL: "LGPL: 改変・静的リンク・頒布する場合の条件を確認",
    Attention.SSPL: "SSPL: サービスとして提供する場合に広範なソースコード提供義務が生じ得る",
    Attention.PROPRIETARY: "独自・商用ライセンス: 利用許諾の条件を個別に確認",
    Attention.UNKNOWN: "ライセンス不明: 提供元で確認が必要",
}


def status_text(row: SupportRow) -> str:
    """The support status in Japanese; 終了間近 says within how many days support ends."""
    if row.status is Status.ENDING:
        days = row.days_left
        return "終了間近（本日まで）" if days == 0 else f"終了間近（{days}日以内）"
    return STATUS_LABELS[row.status]


def state_text(value: str) -> str:
    """A stored state in Japanese ("" stays "", an unknown value is kept as stored)."""
    try:
        return STATE_LABELS[State(value)]
    except ValueError:
        return value


def justification_text(value: str) -> str:
    """An OpenVEX justification in Japanese, the OpenVEX name kept in parentheses; "" stays."""
    try:
        return f"{JUSTIFICATION_LABELS[Justification(value)]}（{value}）"
    except ValueError:
        return value


def notes(flags: Iterable[Attention]) -> list[str]:
    return [ATTENTION_NOTES[f] for f in flags]


ERAS: Final = (
    (dt.date(2019, 5, 1), "令和"),
    (dt.date(1989, 1, 8), "平成"),
    (dt.date(1926, 12, 25), "昭和"),
    (dt.date(1912, 7, 30), "大正"),
    (dt.date(1873, 1, 1), "明治"),
)
"""Each era's first day, newest first. Japan adopted the Gregorian calendar on 明治6年1月1日
(1873-01-01); earlier dates have no 和暦 year here."""


def wareki(day: dt.date) -> str:
    """The 和暦 year of `day`: 令和8年, 令和元年 (the first year), 平成31年; "" before 1873."""
    for start, era in ERAS:
        if day >= start:
            # years counted from the era's Gregorian year (明治 from 1868, its own first year)
            first = 1868 if era == "明治" else start.year
            n = day.year - first + 1
            return f"{era}{'元' if n == 1 else n}年"
    return ""


def jdate(value: dt.date | dt.datetime | None) -> str:
    """2026年11月27日（令和8年）; "—" for None."""
    if value is None:
        return "—"
    day = value.date() if isinstance(value, dt.datetime) else value
    era = wareki(day)
    return f"{day.year}年{day.month}月{day.day}日" + (f"（{era}）" if era else "")


def jdatetime(value: dt.datetime | dt.date | None, zone: dt.tzinfo | None) -> str:
    """2026年11月27日（令和8年） 09:30（+09:00）, in `zone`; a plain date as :func:`jdate`."""
    if not isinstance(value, dt.datetime):
        return jdate(value)
    local = value.astimezone(zone) if value.tzinfo else value
    offset = local.strftime("%z")
    return f"{jdate(local)} {local:%H:%M}" + (f"（{offset[:3]}:{offset[3:]}）" if offset else "")


def flag_text(value: DateOrFlag) -> str:
    """A support date for a person: the date; 終了（日付非公開）; 未定; — (not stated)."""
    if isinstance(value, bool):
        return "終了（日付非公開）" if value else "未定"
    return jdate(value)


def _flag_csv(value: DateOrFlag) -> str:
    if isinstance(value, bool):
        return "終了（日付非公開）" if value else "未定"
    return "" if value is None else value.isoformat()


# --- HTML ------------------------------------------------------------------------------------

STATUS_ORDER: Final = (Status.ENDED, Status.ENDING, Status.SUPPORTED, Status.NO_PUBLISHED_EOL,
                       Status.UNKNOWN_CYCLE, Status.NOT_TRACKED)  # fmt: skip
"""The support report's summary: the worst first."""

_TEMPLATES: Final = {
    ReportKind.SUPPORT: "support.html",
    ReportKind.COUNTERMEASURES: "countermeasures.html",
    ReportKind.LICENCES: "licences.html",
}


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mamori.vuln", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(jdate=jdate, flag=flag_text, state=state_text, why=justification_text,
                       status=status_text, severity=SEVERITY_LABELS.__getitem__, notes=notes)  # fmt: skip
    env.globals.update(GROUP_LABELS=GROUP_LABELS, SEVERITY_LABELS=SEVERITY_LABELS,
                       SEVERITY_ORDER=SEVERITY_ORDER, STATE_LABELS=STATE_LABELS,
                       HISTORY_KIND_LABELS=HISTORY_KIND_LABELS, groups=list(Group),
                       STATUS_LABELS=STATUS_LABELS, STATUS_ORDER=STATUS_ORDER,
                       PLAN_UNWRITTEN=PLAN_UNWRITTEN)  # fmt: skip
    return env


_ENV: Final = _environment()


def kind_of(report: Report) -> ReportKind:
    match report:
        case SupportReport():
            return ReportKind.SUPPORT
        case CountermeasureReport():
            return ReportKind.COUNTERMEASURES
        case LicenceReport():
            return ReportKind.LICENCES
        case _:
            assert_never(report)


def render_html(report: Report) -> str:
    """The report as one standalone HTML document."""
    kind = kind_of(report)
    zone = report.meta.generated_at.tzinfo
    template = _ENV.get_template(_TEMPLATES[kind])
    return template.render(
        r=report, meta=report.meta, title=TITLES[kind], dt=lambda t: jdatetime(t, zone)
    )


# --- CSV -------------------------------------------------------------------------------------

Cell = str | int | float | None


def _text(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _iso(value: dt.datetime | dt.date | None, zone: dt.tzinfo | None) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(zone).isoformat() if value.tzinfo else value.isoformat()
    return "" if value is None else value.isoformat()


def _yes(value: bool | None) -> str:
    return "" if value is None else ("はい" if value else "いいえ")


def csv_rows(report: Report, kind: ReportKind) -> list[list[Cell]]:
    """The header row and one row per component, finding or transition (`kind` history)."""
    zone = report.meta.generated_at.tzinfo
    match report:
        case SupportReport() if kind is ReportKind.SUPPORT:
            head = ["区分", "コンポーネント", "バージョン", "エコシステム", "purl", "製品",
                    "サイクル", "リリース日", "アクティブサポート終了日",
                    "セキュリティサポート終了日", "延長サポート終了日", "残日数", "状況",
                    "対応方針", "備考"]  # fmt: skip
            body: list[list[Cell]] = [
                [GROUP_LABELS[r.group], r.name, r.version, r.ecosystem, r.purl, r.product,
                 r.cycle, _iso(r.release_date, zone), _flag_csv(r.active_support),
                 _flag_csv(r.security_support), _flag_csv(r.extended_support), r.days_left,
                 status_text(r), r.plan, r.note]
                for r in report.rows
            ]  # fmt: skip
        case CountermeasureReport() if kind is ReportKind.COUNTERMEASURES:
            head = ["システム", "エコシステム", "コンポーネント", "バージョン", "purl",
                    "脆弱性ID", "別名", "深刻度", "CVSSスコア", "検出日時", "対応期限",
                    "期限超過", "超過日数", "状態", "判断理由", "説明", "修正バージョン",
                    "修正日", "承認者", "期限内の修正"]  # fmt: skip
            body = []
            for f in report.rows:
                rec, fix = f.record, f.record.fix
                body.append(
                    [rec.system, rec.ecosystem, rec.name, rec.version, rec.purl, rec.vuln,
                     " ".join(rec.aliases), SEVERITY_LABELS[f.severity], f.score,
                     _iso(rec.detected_at, zone), rec.deadline.isoformat(), _yes(f.overdue),
                     f.days_late, STATE_LABELS[rec.state], justification_text(rec.justification), rec.statement,
                     fix.version if fix else "", _iso(fix.date if fix else None, zone),
                     fix.approver if fix else "", _yes(f.on_time)]
                )  # fmt: skip
        case CountermeasureReport() if kind is ReportKind.HISTORY:
            head = ["システム", "エコシステム", "コンポーネント", "脆弱性ID", "日時", "種別",
                    "変更前", "変更後", "実施者", "内容", "判断理由", "説明", "バージョン",
                    "修正バージョン", "修正日", "承認者"]  # fmt: skip
            body = [
                [f.record.system, f.record.ecosystem, f.record.name, f.record.vuln,
                 _iso(h.at, zone), HISTORY_KIND_LABELS.get(h.kind, h.kind),
                 state_text(h.from_state), state_text(h.to_state), h.actor, h.note,
                 justification_text(h.justification) if h.justification else "",
                 h.statement, h.version, h.fix_version, h.fix_date, h.approver]
                for f in report.rows for h in f.history
            ]  # fmt: skip
        case LicenceReport() if kind is ReportKind.LICENCES:
            head = ["コンポーネント", "バージョン", "エコシステム", "ライセンス", "要確認",
                    "注記", "purl", "検出場所"]  # fmt: skip
            body = [
                [r.name, r.version, r.ecosystem, "; ".join(r.licences),
                 _yes(bool(r.flags)), "; ".join(notes(r.flags)), r.purl, r.found_in]
                for r in report.rows
            ]  # fmt: skip
        case _:
            raise VulnError(
                f"a {kind} CSV cannot be made from this report",
                hint="history is made from the countermeasures data: --kind history",
            )
    return [list(head), *body]


def to_csv(rows: Iterable[list[Cell]]) -> bytes:
    """Rows as CSV bytes: UTF-8 with BOM, CRLF, text cells guarded against formulas."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_text(v) if isinstance(v, str) else "" if v is None else v for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def render(report: Report, kind: ReportKind, fmt: str) -> bytes:
    """The report as ``html`` or ``csv`` bytes; VulnError for a combination that has none
    (history is a CSV only: the HTML countermeasure report holds it)."""
    if fmt == "csv":
        return to_csv(csv_rows(report, kind))
    if fmt == "html":
        if kind is ReportKind.HISTORY:
            raise VulnError(
                "the history is a CSV only: the HTML countermeasure report already holds it",
                hint="use --kind countermeasures --format html, or --kind history --format csv",
            )
        return render_html(report).encode("utf-8")
    raise VulnError(f"{fmt!r} is not a report format", hint="use html or csv")
