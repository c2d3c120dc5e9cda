"""One parameter contract: every method's parameters declared once.

A :class:`Param` carries a parameter's name, type, unit, range, default,
help text and the axis it acts on. A method's *schema* is a tuple of them
(see :mod:`napari_sparsedecon.algorithms`). From a schema come:

- validation of keyword arguments, parameter files and CLI values
  (:func:`validate`: strict types, ranges, choices, clear messages);
- the command line flags (:func:`add_cli_flags`, :func:`cli_values`);
- the widget controls (``_widgets``, the only Qt-side consumer);
- result metadata and parameter files (plain dicts of validated values).

Nothing here imports NumPy-heavy or Qt modules.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from dataclasses import dataclass
from typing import Any

#: Kinds a parameter can have. "floats" is one to three positive floats
#: (per-axis values such as a PSF FWHM given as (axial, lateral)).
KINDS = ("float", "int", "bool", "choice", "floats")


@dataclass(frozen=True)
class Param:
    """One parameter of a method.

    Attributes
    ----------
    name : str
        Python/keyword name; the CLI flag is ``--name-with-dashes``.
    kind : {"float", "int", "bool", "choice", "floats"}
    default : object
        Default value (``None`` means "estimated from the data" or "not set",
        and is allowed only when ``optional``).
    help : str
        One line for tooltips, ``--help`` and docstrings.
    unit : str
        Physical unit or "" (dimensionless); shown in the widget and docs.
    low, high : float, optional
        Inclusive range; ``low_open`` makes the lower bound exclusive.
    choices : tuple, optional
        Allowed values of a "choice" parameter.
    acts_on : str
        Which axes it acts on ("y, x", "t/z", ...), for docs and the widget
        (the widget hides t/z controls for 2-D images).
    optional : bool
        ``None`` is a valid value (estimated from the data / not used).
    advanced : bool
        Shown in a collapsed "advanced" section of the widget.
    """

    name: str
    kind: str
    default: Any
    help: str
    unit: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple | None = None
    acts_on: str = ""
    optional: bool = False
    advanced: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r} for {self.name}")
        if self.default is not None or not self.optional:
            object.__setattr__(self, "default", self.check(self.default))

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    # -- validation ----------------------------------------------------------
    def check(self, value):
        """Return ``value`` converted to this parameter's type, or raise a clear error."""
        n = self.name
        if value is None:
            if self.optional:
                return None
            raise TypeError(f"{n} must be set (got None)")
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            if type(value).__name__ == "bool_":  # numpy bool
                return bool(value)
            raise TypeError(f"{n} must be True or False, got {value!r}")
        if self.kind == "choice":
            if isinstance(value, bool):
                raise TypeError(f"{n} must be one of {list(self.choices)}, got {value!r}")
            if value not in self.choices:
                raise ValueError(f"{n} must be one of {list(self.choices)}, got {value!r}")
            return value
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"{n} must be a whole number, got {value!r}")
            return self._range(int(value))
        if self.kind == "float":
            return self._range(self._float(value))
        # floats: one value or a sequence of 1-3 values
        if isinstance(value, (str, bytes)):
            raise TypeError(f"{n} must be a number or a list of numbers, got {value!r}")
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return self._range(self._float(value))
        try:
            vals = tuple(value)
        except TypeError:
            raise TypeError(f"{n} must be a number or a list of numbers, got {value!r}") from None
        if not 1 <= len(vals) <= 3:
            raise ValueError(f"{n} takes 1 to 3 values, got {len(vals)}")
        vals = tuple(self._range(self._float(v)) for v in vals)
        return vals[0] if len(vals) == 1 else vals

    def _float(self, value) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{self.name} must be a number, got {value!r}")
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"{self.name} must be finite, got {value!r}")
        return v

    def _range(self, v):
        lo, hi = self.low, self.high
        if lo is not None and (v < lo or (self.low_open and v == lo)):
            op = ">" if self.low_open else ">="
            raise ValueError(f"{self.name} must be {op} {lo:g}, got {v!r}")
        if hi is not None and v > hi:
            raise ValueError(f"{self.name} must be <= {hi:g}, got {v!r}")
        return v

    def describe(self) -> str:
        """Type, unit and range in words (for --help and docs)."""
        bits = []
        if self.choices:
            bits.append("one of " + ", ".join(map(str, self.choices)))
        elif self.kind in ("float", "int", "floats"):
            lo = "" if self.low is None else (("> " if self.low_open else ">= ") + f"{self.low:g}")
            hi = "" if self.high is None else f"<= {self.high:g}"
            rng = ", ".join(b for b in (lo, hi) if b)
            if rng:
                bits.append(rng)
        if self.unit:
            bits.append(f"in {self.unit}")
        if self.acts_on:
            bits.append(f"acts on {self.acts_on}")
        d = "estimated from the data" if self.default is None else repr(self.default)
        bits.append(f"default {d}")
        return "; ".join(bits)


Schema = tuple  # tuple[Param, ...]


def names(schema: Schema) -> tuple[str, ...]:
    return tuple(p.name for p in schema)


def defaults(schema: Schema) -> dict:
    return {p.name: p.default for p in schema}


def validate(schema: Schema, values: dict | None = None, *, what: str = "parameters") -> dict:
    """Complete ``values`` with defaults and check every entry; return a new dict.

    Unknown names raise a ValueError that lists the known ones.
    """
    values = dict(values or {})
    by_name = {p.name: p for p in schema}
    unknown = sorted(set(values) - set(by_name))
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; known: {sorted(by_name)}")
    return {p.name: p.check(values.get(p.name, p.default)) for p in schema}


# -- command line ------------------------------------------------------------
def add_cli_flags(parser, schema: Schema, *, skip=()) -> None:
    """Add one flag per parameter (default None: 'not given', so files and
    presets can supply the value)."""
    import argparse

    for p in schema:
        if p.name in skip:
            continue
        kw: dict = {"default": None, "help": f"{p.help} ({p.describe()})"}
        if p.kind == "bool":
            kw["action"] = argparse.BooleanOptionalAction
        elif p.kind == "choice":
            kw["choices"] = [str(c) for c in p.choices]
        elif p.kind == "int":
            kw["type"] = int
        elif p.kind == "float":
            kw["type"] = float
        else:
            kw["type"], kw["nargs"], kw["metavar"] = float, "+", p.unit.upper() or "V"
        parser.add_argument(p.flag, dest=p.name, **kw)


def cli_values(args, schema: Schema) -> dict:
    """The parameters given on the command line (converted back to their kinds)."""
    out = {}
    for p in schema:
        v = getattr(args, p.name, None)
        if v is None:
            continue
        if p.kind == "choice":
            v = next(c for c in p.choices if str(c) == v)
        if p.kind == "floats":
            v = v[0] if len(v) == 1 else tuple(v)
        out[p.name] = v
    return out


# -- frozen parameter records -------------------------------------------------
class ParamsRecord:
    """Base of the frozen dataclasses made by :func:`make_params_class`."""

    SCHEMA: Schema = ()

    def __post_init__(self):
        checked = validate(self.SCHEMA, dataclasses.asdict(self))
        for k, v in checked.items():
            object.__setattr__(self, k, v)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict):
        from collections.abc import Mapping

        if not isinstance(d, Mapping):
            raise TypeError(f"parameters must be a dict (a JSON object) of name: value, got "
                            f"{type(d).__name__} {d!r:.60}")
        validate(cls.SCHEMA, d)  # unknown names and bad values raise here
        return cls(**d)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


def make_params_class(name: str, schema: Schema, doc: str, namespace: dict | None = None):
    """A frozen dataclass whose fields are the schema's parameters (in order)."""
    fields = [(p.name, object, dataclasses.field(default=p.default)) for p in schema]
    ns = {"SCHEMA": schema, "__doc__": doc, **(namespace or {})}
    return dataclasses.make_dataclass(name, fields, bases=(ParamsRecord,), frozen=True,
                                      namespace=ns)


def jsonable(d):
    """Numbers, strings, lists and dicts only (NumPy scalars and small arrays converted,
    large arrays named by their shape): what metadata records and parameter files hold."""
    import numpy as np

    if isinstance(d, dict):
        return {str(k): jsonable(v) for k, v in d.items()}
    if isinstance(d, list | tuple):
        return [jsonable(v) for v in d]
    if isinstance(d, np.ndarray):
        return d.tolist() if d.size <= 16 else f"array{d.shape}"
    if isinstance(d, np.generic):
        return d.item()
    return d
