"""A what-if plan: five levers, each with its settings and the segment of accounts it reaches.

A Plan is a contract model: it is what the lever form, a plan file, the CLI options and a saved
scenario's snapshot all become, and a Plan that exists is a usable one. Each lever checks its own
values when it is built and names the lever and setting in the message (`BadInputError`), so a
person can act on it. `plan_from_dict` turns the structural problems pydantic finds (an unknown
lever or setting, text where a number belongs) into messages of the same kind.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Self

from pydantic import ConfigDict, Field, Strict, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from engine.core.contracts import Contract
from engine.core.errors import BadInputError
from engine.segments import ARCHETYPES

TARGETING = {"revenue_at_risk": "Revenue at risk (ARR)", "risk_tier": "Risk tier, then revenue at risk"}

# Whole numbers stay whole (5.0 accounts is refused as before); numbers accept ints but not text or True.
Count = Annotated[int, Strict()]
Number = Annotated[float, Strict()]

SEGMENT_NAMES = tuple(a.name for a in ARCHETYPES)
# A behavioural segment may be written as its name in any case or as its key ("power_users").
_SEGMENT_SPELLINGS = {a.name.lower(): a.name for a in ARCHETYPES} | {a.key: a.name for a in ARCHETYPES}


def segment_name(text: str) -> str | None:
    """The archetype name `text` stands for, or None when it names none."""
    return _SEGMENT_SPELLINGS.get(" ".join(str(text).split()).lower())


class Segment(Contract):
    """Which accounts a lever reaches; empty means every scored account."""

    model_config = ConfigDict(coerce_numbers_to_str=True)  # a plan file may list plans or regions as numbers

    risk_tiers: tuple[str, ...] = Field((), description="risk tiers")
    plans: tuple[str, ...] = Field((), description="plans")
    industries: tuple[str, ...] = Field((), description="industries")
    regions: tuple[str, ...] = Field((), description="regions")
    owners: tuple[str, ...] = Field((), description="owners")
    # behavioural segments (engine.segments archetype names): the account's archetype today
    segments: tuple[str, ...] = Field((), description="behavioural segments")
    renewal_within_days: Count | None = Field(None, description="renewal window")
    # "new accounts": signed up at most this many days before the scores
    max_tenure_days: Count | None = Field(None, description="tenure limit")

    @field_validator("segments")
    @classmethod
    def _segment_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        """Known spellings become the archetype's name; unknown ones stay for the lever to refuse."""
        return tuple(dict.fromkeys(segment_name(n) or n for n in names))

    def unknown_segments(self) -> list[str]:
        return [n for n in self.segments if n not in SEGMENT_NAMES]

    def describe(self) -> str:
        parts = [
            f"{label} {', '.join(values)}"
            for label, values in (
                ("risk tier", self.risk_tiers),
                ("plan", self.plans),
                ("industry", self.industries),
                ("region", self.regions),
                ("owner", self.owners),
                ("behavioural segment", self.segments),
            )
            if values
        ]
        if self.renewal_within_days is not None:
            parts.append(f"renewing within {self.renewal_within_days} days")
        if self.max_tenure_days is not None:
            parts.append(f"customers for at most {self.max_tenure_days} days")
        return "; ".join(parts) or "all scored accounts"


class Lever(Contract):
    """What every lever has: a label for messages, a segment, and checks of its own values."""

    label: ClassVar[str]
    if TYPE_CHECKING:  # each lever declares it last, so it comes last in the JSON as it always did
        segment: Segment

    @property
    def active(self) -> bool:
        raise NotImplementedError

    def what(self, setting: str) -> str:
        """'CS outreach: the churn reduction' — how messages name a setting."""
        return f"{self.label}: {type(self).model_fields[setting].description}"

    def _percent(self, setting: str, low: float = 0.0) -> None:
        number = _finite(getattr(self, setting), self.what(setting))
        if not low <= number <= 100:
            raise BadInputError(f"{self.what(setting)} must be between {low:g}% and 100%; got {number:g}%.")

    def _not_negative(self, setting: str) -> None:
        if _finite(getattr(self, setting), self.what(setting)) < 0:
            raise BadInputError(f"{self.what(setting)} cannot be negative; got {getattr(self, setting):g}.")

    def _check_segment(self) -> None:
        for setting in ("renewal_within_days", "max_tenure_days"):
            value = getattr(self.segment, setting)
            if value is not None and value < 0:
                raise BadInputError(_days_message(setting, self.label, value))
        unknown = self.segment.unknown_segments()
        if unknown:
            raise BadInputError(
                f"{self.label}: unknown behavioural segment(s): {', '.join(repr(n) for n in unknown)}. "
                f"Segments are: {', '.join(SEGMENT_NAMES)}."
            )


def _finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise BadInputError(f"{what} must be a number, not {value!r}.")
    return value


def _days_message(setting: str, label: str, value: Any) -> str:
    name = Segment.model_fields[setting].description
    return f"The {name} of {label} must be a whole number of days, 0 or more; got {value!r}."


class Outreach(Lever):
    label: ClassVar[str] = "CS outreach"

    top_n: Count = Field(0, description="the number of accounts to contact")
    target_by: str = Field("revenue_at_risk", description="the targeting order")
    # percent, relative cut of churn probability of a contacted account
    churn_reduction: Number = Field(0.0, description="the churn reduction")
    cost_per_account: Number = Field(0.0, description="the cost per account")
    segment: Segment = Segment()

    @property
    def active(self) -> bool:
        return self.top_n > 0 and (self.churn_reduction > 0 or self.cost_per_account > 0)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.top_n < 0:
            raise BadInputError(f"{self.what('top_n')} must be 0 or more; got {self.top_n!r}.")
        if self.target_by not in TARGETING:
            raise BadInputError(f"{self.label}: target by one of {', '.join(TARGETING)}; got '{self.target_by}'.")
        self._percent("churn_reduction")
        self._not_negative("cost_per_account")
        self._check_segment()
        return self


class Discount(Lever):
    label: ClassVar[str] = "Renewal discount"

    percent: Number = Field(0.0, description="the discount")  # off MRR
    # relative churn cut per unit of discount: 10% x 1.5 = churn 15% lower
    elasticity: Number = Field(1.5, description="the elasticity")
    segment: Segment = Segment()

    @property
    def active(self) -> bool:
        return self.percent > 0

    @model_validator(mode="after")
    def _check(self) -> Self:
        self._percent("percent")
        self._not_negative("elasticity")
        self._check_segment()
        return self


class AdoptionPush(Lever):
    label: ClassVar[str] = "Adoption push"

    # percent more product events in the last 30 days
    usage_increase: Number = Field(0.0, description="the usage increase")
    cost_per_account: Number = Field(0.0, description="the cost per account")
    segment: Segment = Segment()

    @property
    def active(self) -> bool:
        return self.usage_increase > 0 or self.cost_per_account > 0

    @model_validator(mode="after")
    def _check(self) -> Self:
        self._percent("usage_increase")
        self._not_negative("cost_per_account")
        self._check_segment()
        return self


class SupportImprovement(Lever):
    label: ClassVar[str] = "Support improvement"

    resolution_time_cut: Number = Field(0.0, description="the resolution-time cut")  # percent off resolution time
    open_tickets_cleared: Number = Field(0.0, description="the share of open tickets cleared")  # percent closed
    cost_per_account: Number = Field(0.0, description="the cost per account")
    segment: Segment = Segment()

    @property
    def active(self) -> bool:
        return self.resolution_time_cut > 0 or self.open_tickets_cleared > 0 or self.cost_per_account > 0

    @model_validator(mode="after")
    def _check(self) -> Self:
        self._percent("resolution_time_cut")
        self._percent("open_tickets_cleared")
        self._not_negative("cost_per_account")
        self._check_segment()
        return self


class PriceChange(Lever):
    label: ClassVar[str] = "Price change"

    percent: Number = Field(0.0, description="the price change")  # -100..100, on MRR
    # relative churn change per unit of price change: +10% x 1.0 = churn 10% higher
    elasticity: Number = Field(1.0, description="the elasticity")
    segment: Segment = Segment()

    @property
    def active(self) -> bool:
        return self.percent != 0

    @model_validator(mode="after")
    def _check(self) -> Self:
        self._percent("percent", low=-100.0)
        self._not_negative("elasticity")
        self._check_segment()
        return self


class Plan(Contract):
    """The five levers; each is off at its defaults."""

    outreach: Outreach = Outreach()
    discount: Discount = Discount()
    adoption: AdoptionPush = AdoptionPush()
    support: SupportImprovement = SupportImprovement()
    price: PriceChange = PriceChange()

    def lever(self, name: str) -> Lever:
        lever: Lever = getattr(self, name)
        return lever


LEVERS: dict[str, type[Lever]] = {
    "outreach": Outreach,
    "discount": Discount,
    "adoption": AdoptionPush,
    "support": SupportImprovement,
    "price": PriceChange,
}
LEVER_LABELS = {name: cls.label for name, cls in LEVERS.items()}


def plan_from_dict(raw: Any) -> Plan:
    """A Plan from plain settings (JSON, CLI, the lever form): {lever: {setting: value, segment: {...}}}."""
    if not isinstance(raw, dict):
        raise BadInputError("A plan is a mapping of lever name to its settings.")
    try:
        return Plan.model_validate(raw)
    except ValidationError as exc:
        raise _plan_error(exc.errors()) from None


# What pydantic found, in the words of the lever form.
_EXPECTED = {
    "int_type": "a whole number",
    "float_type": "a number",
    "string_type": "text",
    "tuple_type": "a list",
}


def _plan_error(errors: list[ErrorDetails]) -> BadInputError:
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    if unknown:
        return _unknown(unknown)
    error = errors[0]
    loc = tuple(str(part) for part in error["loc"])
    value = error.get("input")
    lever = LEVERS[loc[0]]
    if len(loc) == 1 or loc[1:] == ("segment",):
        where = lever.label + (" segment" if len(loc) > 1 else "")
        return BadInputError(f"{where} must be a mapping of settings, not {type(value).__name__}.")
    if loc[1] == "segment":
        setting = loc[2]
        if setting in ("renewal_within_days", "max_tenure_days"):
            return BadInputError(_days_message(setting, lever.label, value))
        name = Segment.model_fields[setting].description
        return BadInputError(f'The {name} of {lever.label} must be a list of names, e.g. ["a", "b"]; got {value!r}.')
    what = f"{lever.label}: {lever.model_fields[loc[1]].description}"
    return BadInputError(f"{what} must be {_EXPECTED.get(error['type'], 'a valid value')}, not {value!r}.")


def _unknown(errors: list[ErrorDetails]) -> BadInputError:
    first = tuple(str(part) for part in errors[0]["loc"])
    parent = first[:-1]
    names = sorted(str(e["loc"][-1]) for e in errors if tuple(str(p) for p in e["loc"][:-1]) == parent)
    if not parent:
        return BadInputError(f"Unknown lever(s): {', '.join(names)}. Levers are: {', '.join(LEVERS)}.")
    lever = LEVERS[parent[0]]
    model: type[Contract] = Segment if len(parent) > 1 else lever
    where = f"{lever.label} segment" if len(parent) > 1 else lever.label
    known = ", ".join(model.model_fields)
    return BadInputError(f"Unknown setting(s) for {where}: {', '.join(names)}. Known: {known}.")
