"""What an import takes from the flows folder: attributes and their types, event kinds, merge rules.

The flows are the version-controlled configuration: custom attributes declared in
``attributes:`` become importable columns (stored in ``leads.custom``), ``one of (...)`` lists
are enforced, ``events:`` adds importable event kinds, and ``merge:`` decides which source wins.
Without a flows folder the core attributes and built-in event kinds apply, and every field is
``newest wins``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dsl import schema, symbols
from engine.imports.merge import Rules

# Event kinds the engine records itself: importing them would fake its own history.
NOT_IMPORTABLE = {
    "stage_change": "stage changes are recorded when `engine import leads` changes a stage",
    "unsubscribe": "unsubscribes are suppressions, not events (they must stop mail at once)",
    "activity": "`activity` stands for any of several kinds: name one (page view, download, ...)",
}


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: str  # text, number, date, boolean
    custom: bool = False
    # ``one of (...)``: lower-cased value -> the declared spelling
    choices: dict[str, str] | None = None


@dataclass
class Config:
    fields: dict[str, Field] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)  # phrase or kind name -> kind
    rules: Rules = field(default_factory=Rules)
    origin: str = "no flows folder: core attributes, built-in event kinds, newest wins"

    def kind(self, raw: str) -> str | None:
        return self.kinds.get(" ".join(raw.lower().replace("_", " ").replace("-", " ").split()))


def _kinds(custom: dict[str, str]) -> dict[str, str]:
    kinds = {**schema.phrase_to_kind(), **custom}
    for kind in [*schema.EVENT_KINDS, *custom.values()]:
        kinds.setdefault(kind.replace("_", " "), kind)
    return kinds


def default() -> Config:
    fields = {n: Field(n, t) for n, t in schema.CORE_ATTRIBUTES.items()}
    return Config(fields, _kinds({}))


class ConfigError(Exception):
    """The flows cannot be read (exit 2)."""


def load(flows: str | None) -> Config:
    """``flows``: a folder or file of flows; ``None``: ``flows/`` when it exists."""
    if flows is None:
        if not Path("flows").is_dir():
            return default()
        flows = "flows"
    from engine.workspace import UsageError
    from engine.workspace import load as load_flows

    try:
        ws = load_flows([flows], check=False)
    except UsageError as exc:
        raise ConfigError(f"--flows {exc}") from None
    errors = [d for d in ws.diagnostics if d.is_error]
    if errors:
        first = errors[0]
        raise ConfigError(f"{flows}: the flows have errors ({first.span.file}:{first.span.line}: "
                          f"{first.message}); run `engine check {flows}`")
    table = symbols.build(ws.modules)
    fields: dict[str, Field] = {}
    for name, attr in table.attributes.items():
        choices = None
        literal = attr.literal_values
        if literal is not None:
            choices = {str(v).lower(): str(v) for v in literal}
        fields[name] = Field(name, attr.type, not attr.core, choices)
    return Config(fields, _kinds(table.custom_kinds()), Rules.from_modules(ws.modules),
                  f"{flows} ({len(ws.modules)} files)")
