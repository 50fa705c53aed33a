r"""Save and load results (a policy, an optimum, a counterexample) as JSON, with the family and the seeds, so that a
colleague can reproduce them.

A saved result is one JSON object::

    {"otgeom_result": 1, "kind": "policy" | "optimum" | "counterexample", "otgeom_version": "...",
     "family": {"name": ..., "parameters": {name: exact values as strings}, "file": path or null,
                "file_sha256": hex or null},
     "seed": int or null, "data": {...}, "note": "..."}

``family.parameters`` are exact (rationals as strings such as ``"3/5"``), so the family is rebuilt exactly:
by name for a built-in family, from ``file`` for a family file, whose bytes must still hash to ``file_sha256``
(else :class:`~otgeom.errors.ParameterError`: the file changed since the result was saved).  For ``policy`` and
``optimum`` the data hold ``mean`` and ``cov`` (``otgeom eval --policy`` reads a saved result directly); a
``counterexample`` holds a claim's verdict record (``Verdict.to_json``), whose ``where`` is the point.  Files are
written atomically (a temporary file renamed into place).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from otgeom.errors import ParameterError
from otgeom.families.protocol import supports

__all__ = ["SavedResult", "save_result", "load_result", "family_reference", "family_from_reference", "KINDS"]

KINDS = ("policy", "optimum", "counterexample")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class SavedResult:
    """A loaded result: its kind, the family rebuilt exactly, the seed, the data (and the policy, for a policy or
    an optimum)."""

    kind: str
    family: Any
    seed: int | None
    data: Mapping[str, Any]
    note: str
    policy: Any = None


def family_reference(family) -> dict[str, Any]:
    """What rebuilds ``family`` exactly: its name, exact parameter values and, for a family file, the file and the
    sha256 of its bytes."""
    from otgeom.familyfile import family_file_digest, family_source

    source = family_source(family)
    ref: dict[str, Any] = {"name": family.name, "file": source, "file_sha256": None}
    if source is not None:
        ref["file_sha256"] = family_file_digest(source)
    kind = supports(family).kind
    if kind == "lq":
        ref["parameters"] = {k: np.vectorize(str, otypes=[object])(np.asarray(v, dtype=object)).tolist()
                             for k, v in family.exact.items()}
    elif kind == "finite":
        ref["parameters"] = {**dict(family.structure),
                             **{k: np.vectorize(str, otypes=[object])(v).tolist() if v.shape else str(v[()])
                                for k, v in family.values.items()}}
    else:  # grid families: their values are JSON already
        ref["parameters"] = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in family.values.items()}
    return ref


def family_from_reference(ref: Mapping[str, Any], family_file: str | os.PathLike | None = None):
    """The family a :func:`family_reference` names.  A family file is read from ``family_file`` when given (a
    colleague's copy), else from the recorded path; its sha256 must be the recorded one."""
    if not isinstance(ref, Mapping) or "name" not in ref or not isinstance(ref.get("parameters"), Mapping):
        raise ParameterError("saved result: its family must have a name and parameters")
    params = dict(ref["parameters"])
    if ref.get("file") or family_file is not None:
        from otgeom.familyfile import family_file_digest, load_family

        path = os.fspath(family_file) if family_file is not None else str(ref["file"])
        if not ref.get("file_sha256"):
            raise ParameterError("saved result: its family file has no recorded sha256, so the file cannot be "
                                 "checked to be the one the result was computed on")
        digest = family_file_digest(path)
        if digest != ref["file_sha256"]:
            raise ParameterError(f"saved result: the family file {path} is not the one the result was saved with "
                                 f"(it changed since: sha256 {digest[:12]}..., saved {str(ref['file_sha256'])[:12]}...)")
        return load_family(path, **params)
    from otgeom.families import family

    return family(ref["name"], **params)


def save_result(path: str | os.PathLike, kind: str, family, data: Mapping[str, Any] | Any, seed: int | None = None,
                note: str = "") -> str:
    """Write a result (see the module docstring) atomically; return the path.  ``data`` may be a GaussianPolicy
    (kind ``policy`` or ``optimum``) or a claim's :class:`~otgeom.claims.Verdict` (kind ``counterexample``)."""
    from otgeom import __version__
    from otgeom.numeric.policies import GaussianPolicy

    if kind not in KINDS:
        raise ParameterError(f"result kind {kind!r}: expected one of {', '.join(KINDS)}")
    if isinstance(data, GaussianPolicy):
        data = {"mean": data.mean.tolist(), "cov": data.cov.tolist()}
    elif hasattr(data, "to_json"):
        data = data.to_json()
    if kind in ("policy", "optimum") and not ({"mean", "cov"} <= set(data)):
        raise ParameterError(f"a saved {kind} needs data with mean and cov (a GaussianPolicy)")
    record = {"otgeom_result": FORMAT_VERSION, "kind": kind, "otgeom_version": __version__,
              "family": family_reference(family), "seed": seed, "data": _finite(dict(data)), "note": note}
    text = json.dumps(record, indent=2, allow_nan=False)
    from otgeom.atomicio import write_atomically

    return write_atomically(path, lambda fh: fh.write(text + "\n"), prefix=".otgeom-result-", suffix=".json")


def load_result(path: str | os.PathLike, family_file: str | os.PathLike | None = None) -> SavedResult:
    """Read a saved result and rebuild its family (and policy); ``family_file``: where your copy of its family file
    is, when not at the recorded path."""
    from otgeom.evaluate import policy_from_json
    from otgeom.limits import decode_text, load_json, read_user_file

    where = f"saved result {os.fspath(path)}"
    rec = load_json(decode_text(read_user_file(os.fspath(path), "saved result"), where), where)
    if not isinstance(rec, dict) or rec.get("otgeom_result") != FORMAT_VERSION or rec.get("kind") not in KINDS:
        raise ParameterError(f"{where}: not an otgeom result (expected otgeom_result = {FORMAT_VERSION} and kind in "
                             f"{', '.join(KINDS)})")
    fam = family_from_reference(rec.get("family"), family_file)
    data = rec.get("data") or {}
    policy = policy_from_json(rec, fam) if rec["kind"] in ("policy", "optimum") else None
    return SavedResult(rec["kind"], fam, rec.get("seed"), data, rec.get("note", ""), policy)


def _finite(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, np.generic):
        return _finite(x.item())
    return x
