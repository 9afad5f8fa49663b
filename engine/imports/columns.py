"""Which attribute each column of a file feeds: attribute names, a mapping file, built-in headers.

A header is matched, in this order, against (1) the mapping file's ``[columns]``, (2) the names of
attributes (core and declared in the flows' ``attributes:``; ``First Name`` matches
``first_name``: case, spaces and hyphens do not matter), (3) the built-in headers of common
Japanese and English CRM exports below (unless the mapping file sets ``builtin = false``).
Anything else is an unknown column: reported, and skipped.

Mapping file (TOML)::

    builtin = true                 # also use the built-in headers (default true)

    [columns]
    "メールアドレス" = "email"
    "会社名" = "company"
    "担当者コード" = ""            # "" skips a column without reporting it as unknown

    [values.stage]                 # raw value (after NFKC and trimming) -> stored value
    "商談中" = "negotiation"
    "受注" = "customer"

    [values.employees]
    "1000名以上" = "1000"
    "不明" = ""                    # "" stores nothing (unknown)
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from engine.imports.normalize import clean

# Pseudo-targets beyond attributes: ``full_name`` is split into last and first name;
# ``updated_at`` is the time of the row's values (merge rules compare it).
FULL_NAME = "full_name"
UPDATED_AT = "updated_at"
SKIP = ""

BUILTIN: dict[str, str] = {
    # email
    "メールアドレス": "email", "メール": "email", "eメール": "email", "eメールアドレス": "email",
    "e_mail": "email", "email_address": "email", "mail": "email", "mail_address": "email",
    "電子メール": "email", "メールアドレス1": "email",
    # names
    "氏名": FULL_NAME, "名前": FULL_NAME, "お名前": FULL_NAME, "担当者名": FULL_NAME,
    "full_name": FULL_NAME, "name": FULL_NAME,
    "姓": "last_name", "名字": "last_name", "苗字": "last_name", "氏": "last_name",
    "surname": "last_name", "family_name": "last_name",
    "名": "first_name", "given_name": "first_name",
    # company
    "会社名": "company", "企業名": "company", "社名": "company", "会社": "company",
    "法人名": "company", "組織名": "company", "company_name": "company",
    "account_name": "company", "organization": "company",
    "従業員数": "employees", "社員数": "employees", "従業員規模": "employees",
    "number_of_employees": "employees", "employee_count": "employees",
    "業種": "industry", "業界": "industry",
    "サービス区分": "service_category", "サービスカテゴリ": "service_category",
    "サービスカテゴリー": "service_category", "業態": "service_category",
    # the person's job
    "役職": "title", "役職名": "title", "肩書": "title", "肩書き": "title", "job_title": "title",
    "部署": "department", "部署名": "department", "部門": "department", "所属": "department",
    "所属部署": "department",
    # sales
    "ステージ": "stage", "リードステージ": "stage", "ライフサイクルステージ": "stage",
    "lifecycle_stage": "stage", "lead_stage": "stage",
    "担当営業": "owner", "営業担当": "owner", "営業担当者": "owner", "担当者": "owner",
    "所有者": "owner", "リード所有者": "owner", "lead_owner": "owner", "owner_email": "owner",
    # contact details
    "電話番号": "phone", "電話": "phone", "tel": "phone", "phone_number": "phone",
    "代表電話": "phone", "国": "country", "国名": "country", "言語": "language",
    "同意取得方法": "legal_basis", "同意の根拠": "legal_basis", "取得根拠": "legal_basis",
    "consent_basis": "legal_basis", "legal_basis_for_email": "legal_basis",
    "タイムゾーン": "time_zone", "timezone": "time_zone", "tz": "time_zone",
    "メール配信同意": "consent", "配信同意": "consent", "同意": "consent",
    "メルマガ配信": "consent", "メルマガ購読": "consent", "opt_in": "consent",
    # times
    "作成日": "created_at", "作成日時": "created_at", "登録日": "created_at",
    "登録日時": "created_at", "created": "created_at", "create_date": "created_at",
    "更新日": UPDATED_AT, "更新日時": UPDATED_AT, "最終更新日": UPDATED_AT,
    "最終更新日時": UPDATED_AT, "modified": UPDATED_AT, "last_modified": UPDATED_AT,
    "updated": UPDATED_AT,
}

EVENT_BUILTIN: dict[str, str] = {
    "メールアドレス": "email", "メール": "email", "eメール": "email", "e_mail": "email",
    "email_address": "email", "mail": "email",
    "種別": "type", "イベント種別": "type", "行動": "type", "event": "type", "event_type": "type",
    "kind": "type", "日時": "occurred_at", "発生日時": "occurred_at", "日付": "occurred_at",
    "参加日": "occurred_at", "来場日": "occurred_at", "来場日時": "occurred_at",
    "参加日時": "occurred_at", "date": "occurred_at", "time": "occurred_at",
    "timestamp": "occurred_at", "at": "occurred_at",
    "イベント名": "name", "セミナー名": "name", "展示会名": "name", "資料名": "asset",
    "ページurl": "url", "キャンペーン": "campaign", "キャンペーン名": "campaign",
    "フォーム": "form", "フォーム名": "form",
}

_SEPARATORS = re.compile(r"[\s\-./]+")


def key(header: str) -> str:
    """How headers are compared: NFKC, lower-case, spaces / hyphens / dots to ``_``."""
    text = unicodedata.normalize("NFKC", header).strip().lower()
    return _SEPARATORS.sub("_", text).strip("_")


class MappingError(Exception):
    """A mapping file that cannot be used (exit 2)."""


@dataclass
class Mapping:
    columns: dict[str, str] = field(default_factory=dict)  # key(header) -> target
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # target -> raw -> stored
    builtin: bool = True

    @classmethod
    def load(cls, path: str | None) -> Mapping:
        if path is None:
            return cls()
        try:
            doc = tomllib.loads(Path(path).read_text(encoding="utf-8-sig"))
        except OSError as exc:
            raise MappingError(f"{path}: cannot read the mapping file ({exc.strerror})") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise MappingError(f"{path}: not a valid TOML mapping file ({exc})") from None
        unknown = set(doc) - {"columns", "values", "builtin"}
        if unknown:
            raise MappingError(f"{path}: unknown section(s) {', '.join(sorted(unknown))} "
                               "(expected builtin, [columns], [values.<attribute>])")
        columns, values, builtin = doc.get("columns", {}), doc.get("values", {}), doc.get(
            "builtin", True)
        if not isinstance(builtin, bool) or not _str_table(columns) or not isinstance(
                values, dict) or not all(_str_table(v) for v in values.values()):
            raise MappingError(f"{path}: [columns] and [values.<attribute>] map text to text, "
                               "and builtin is true or false")
        return cls({key(h): key(t) if t else SKIP for h, t in columns.items()},
                   {key(a): {clean(r): s for r, s in table.items()} for a, table in values.items()},
                   builtin)


def _str_table(table: object) -> bool:
    return isinstance(table, dict) and all(isinstance(v, str) for v in table.values())


@dataclass(frozen=True)
class Resolved:
    """The columns of one file: index -> target; the headers nobody claims; duplicates."""

    targets: dict[int, str]
    unknown: list[tuple[int, str]]
    duplicates: list[tuple[str, list[str]]]


def resolve(headers: list[str], known: set[str], mapping: Mapping,
            builtin: dict[str, str] = BUILTIN) -> Resolved:
    """``known``: the names a column may feed (attributes and pseudo-targets); ``builtin``: the
    built-in headers (:data:`BUILTIN` for leads, :data:`EVENT_BUILTIN` for events)."""
    targets: dict[int, str] = {}
    unknown: list[tuple[int, str]] = []
    by_target: dict[str, list[str]] = {}
    for i, header in enumerate(headers):
        k = key(header)
        target = mapping.columns.get(k)
        if target is None:
            target = k if k in known else (builtin.get(k) if mapping.builtin else None)
        if target == SKIP:
            continue
        if target is None or target not in known:
            unknown.append((i, header.strip() or f"(column {i + 1}, no header)"))
            continue
        targets[i] = target
        by_target.setdefault(target, []).append(header)
    duplicates = [(t, hs) for t, hs in by_target.items() if len(hs) > 1]
    return Resolved(targets, unknown, duplicates)
