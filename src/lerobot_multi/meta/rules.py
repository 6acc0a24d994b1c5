"""Rules instead of lists: keys of a per-dataset option that are glob patterns over repo ids, and
renames whose old key is a glob pattern over a dataset's feature names.

Precedence (docs/mixing.md, "Rules"): for one dataset, the matching entries apply in the order the
mapping lists them, patterns first, and its exact repo_id last; a later entry beats an earlier one.
For an option whose values are mappings (`rename_map`, `delta_timestamps`) the matching entries merge
key by key in that order; for the others the last matching entry is the dataset's value. A pattern
that matches no dataset is an error, as a misspelled repo_id is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

MERGED = frozenset({"rename_map", "delta_timestamps"})
"""Options whose per-dataset values are mappings, merged key by key across matching entries."""
EXACT_ONLY = frozenset({"root"})
"""Options where a pattern makes no sense (one folder per dataset)."""


def is_pattern(key: str) -> bool:
    return isinstance(key, str) and any(c in key for c in "*?[")


def matching_entries(value: Mapping, repo_id: str) -> list[Any]:
    """The values of the entries that apply to `repo_id`, lowest precedence first."""
    patterns = [v for k, v in value.items() if is_pattern(k) and fnmatchcase(repo_id, k)]
    return [*patterns, value[repo_id]] if repo_id in value else patterns


def unmatched_patterns(value: Mapping, repo_ids: Sequence[str]) -> list[str]:
    return [k for k in value if is_pattern(k) and not any(fnmatchcase(r, k) for r in repo_ids)]


def resolve(option: str, value: Mapping, repo_ids: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """({repo_id: its value} for the datasets some entry applies to, [entries that are not mappings
    where `option` merges mappings])."""
    out, bad = {}, []
    for rid in repo_ids:
        entries = matching_entries(value, rid)
        if not entries:
            continue
        if option in MERGED:
            if any(e is not None and not isinstance(e, Mapping) for e in entries):
                bad.append(rid)
                continue
            out[rid] = {k: v for e in entries if e is not None for k, v in e.items()}
        else:
            out[rid] = entries[-1]
    return out, bad


def resolve_renames(renames: Mapping[str, str], features: Sequence[str]) -> dict[str, str]:
    """One dataset's {old: new} with patterns over its feature names expanded, in listed order (a later
    rule beats an earlier one for a key). A pattern that matches none of its features renames nothing:
    a rule for "every camera named like *wrist*" need not match every dataset."""
    return {key: new for key, new, _, _ in applied_rules({"": renames}, "", features)}


def applied_rules(
    rename_map: Mapping[str, Mapping[str, str] | None] | None, repo_id: str, features: Sequence[str]
) -> list[tuple[str, str, str, str]]:
    """(feature, new key, entry key, old key as written) for each rename `rename_map` gives one
    dataset, as `resolve` and `resolve_renames` apply it; a plain old key is listed whether or not the
    dataset has it."""
    rename_map = rename_map or {}
    merged: dict[str, tuple[str, str]] = {}
    keys = [k for k in rename_map if is_pattern(k) and fnmatchcase(repo_id, k)]
    for entry_key in [*keys, *([repo_id] if repo_id in rename_map else [])]:
        for old, new in (rename_map[entry_key] or {}).items():
            merged[old] = (new, entry_key)
    out: dict[str, tuple[str, str, str, str]] = {}
    for old, (new, entry_key) in merged.items():
        matched = [f for f in features if fnmatchcase(f, old) and f != new] if is_pattern(old) else [old]
        out.update({key: (key, new, entry_key, old) for key in matched})
    return list(out.values())


def explain_renames(
    rename_map: Mapping[str, Mapping[str, str] | None] | None, repo_id: str, features: Sequence[str]
) -> dict[str, tuple[str, str]]:
    """{old key: (new key, the rule that renamed it)} for one dataset (the rule written as
    `rename_map[<repo key>][<old key>]`)."""
    return {
        key: (new, f"rename_map[{entry!r}][{old!r}]")
        for key, new, entry, old in applied_rules(rename_map, repo_id, features)
    }


def renames_in_use(
    rename_map: Mapping[str, Mapping[str, str] | None] | None, features: Mapping[str, Sequence[str]]
) -> dict[str, dict[str, str]]:
    """{repo_id: {old: new}} as each dataset of `features` ({repo_id: its feature names}) applies
    `rename_map`, less the plain keys of pattern entries that the dataset lacks. A plain key of a
    pattern entry that no matched dataset has is a `ValueError` naming the rule as written."""
    out: dict[str, dict[str, str]] = {}
    found: dict[str, bool] = {}  # rule of a plain key in a pattern entry -> some dataset has the key
    for repo_id, names in features.items():
        present = set(names)
        out[repo_id] = {}
        for key, new, entry, old in applied_rules(rename_map, repo_id, list(names)):
            if is_pattern(entry) and not is_pattern(old):
                rule = f"rename_map[{entry!r}][{old!r}]"
                found[rule] = found.get(rule, False) or key in present
                if key not in present:
                    continue
            out[repo_id][key] = new
    missing = [rule for rule, seen in found.items() if not seen]
    if missing:
        raise ValueError(
            f"dataset.{missing[0]}: no dataset it matches has that key (a typo?)"
            + (f"; also {', '.join(missing[1:])}" if len(missing) > 1 else "")
        )
    return out
