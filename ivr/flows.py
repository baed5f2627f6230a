"""The spoken menu and the support policy, loaded from YAML in `flows/`.

Everything a caller hears and every rule the line applies lives in
`policy.yaml` (hours, holidays, closures, levels) and `menu.yaml` (the nodes of
the call), with one `menu.<code>.yaml` per further language (e.g. `menu.es.yaml`)
holding the same nodes' words only. They are checked as a whole; each problem
names the file, the node and what is wrong, so a supervisor editing a prompt
knows where to look.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
CLOCKS = ("support_hours", "calendar")
TEAMS = ("support", "engineering")
RING_MODES = ("sequential", "simultaneous")
# Twilio reads at most 4,096 characters in one <Say>; leave room for SSML.
MAX_SAY_CHARS = 4000
PLACEHOLDERS = {
    "level_name",
    "level_covers",
    "goal_hours",
    "due",
    "ticket_digits",
    "hours",
    "next_open",
    "zone_name",
    "key",
    "spoken",
    "team_name",
    "caller",
    "caller_number",
    "open_ticket_level",
    "open_ticket_digits",
    "ticket_state",
    "lookup_digits",
    "lookup_state",
    "lookup_assigned",
    "lookup_time",
}
# What an option may do besides leading somewhere (menu.yaml `action`).
ACTIONS = ("use_open_ticket", "wants_updates", "callback")
# Which node fields name another node, per node type.
LINKS = {
    "say": ("next",),
    "notices": ("next",),
    "menu": ("on_level", "on_no_input"),
    "ticket": ("next",),
    "hours": ("open", "closed"),
    "route": ("no_answer", "all_busy"),
    "record": ("next", "on_empty"),
    "hangup": (),
    "known_caller": ("next", "found"),
    "ask_ticket": ("next", "pin"),
    "ask_pin": ("next",),
}
# Nodes that answer within one webhook without waiting for the caller: a cycle
# made only of these would never end.
INSTANT = {"say", "notices", "ticket", "hours", "known_caller"}
# Nodes that wait for the caller's keys and so have the menu's retry fields.
ASKING = {"menu", "ask_ticket", "ask_pin"}
# Fields a translation (menu.<code>.yaml) may give a node: words, never structure.
TEXT_FIELDS = ("say", "level_prompt", "repeat_prompt", "no_input", "bad_input")


class FlowError(Exception):
    """The flows folder has problems; `problems` lists each one."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Problem:
    """One defect in a flow file."""

    file: str
    node: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.node}: {self.message}"


@dataclass(frozen=True)
class Level:
    """A support level from the policy."""

    id: str
    key: str
    name: str
    spoken: str
    covers: str
    goal_hours: float
    clock: str
    team: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class Closure:
    """A period when support is closed, with what callers are told."""

    start: datetime
    end: datetime
    message: str


@dataclass(frozen=True)
class Policy:
    """Support hours, holidays and closures."""

    timezone: ZoneInfo
    zone_name: str
    days: frozenset[int]
    open: time
    close: time
    hours_spoken: str
    holidays: tuple[tuple[int, int, str], ...]
    closures: tuple[Closure, ...]


@dataclass(frozen=True)
class Option:
    """One answer a menu accepts, and where it leads."""

    key: str | None
    words: tuple[str, ...]
    next: str | None
    level: str | None = None
    say: str = ""
    action: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class Node:
    """One step of the call."""

    name: str
    type: str
    say: str = ""
    next: str | None = None
    options: tuple[Option, ...] = ()
    on_level: str | None = None
    timeout: int = 5
    max_attempts: int = 3
    no_input: str = "Sorry, I didn't hear anything."
    bad_input: str = "Sorry, I didn't understand."
    on_no_input: str | None = None
    on_max_attempts: Option | None = None
    open: str | None = None
    closed: str | None = None
    no_answer: str | None = None
    max_length: int = 120
    on_empty: str | None = None
    ring: str | None = None
    ring_timeout: int | None = None
    all_busy: str | None = None
    found: str | None = None
    pin: str | None = None

    def targets(self) -> list[str]:
        """Name every node this one can lead to."""
        out = [getattr(self, f) for f in LINKS.get(self.type, ())]
        out += [o.next for o in self.options]
        if self.on_max_attempts:
            out.append(self.on_max_attempts.next)
        return [t for t in out if t]

    @property
    def hints(self) -> str:
        """Speech hints for Twilio: every word the menu listens for."""
        return ", ".join(w for o in self.options for w in o.words)


@dataclass(frozen=True)
class RouteSettings:
    """How each level's team is rung."""

    ring: str
    ring_timeout: int


ROUTING_PROMPTS = {
    "connecting": "Please hold while we connect you to our {team_name} team.",
    "whisper": "{level_name} call, ticket {ticket_digits}, from {caller}. Press 1 to accept this call.",
    "taken": "A colleague has already taken this call. Thank you.",
    "after_talk": "Thank you for calling. Goodbye.",
}
# Prompts agents hear stay in the line's first language; callers' are translated.
CALLER_PROMPTS = ("connecting", "after_talk")


@dataclass(frozen=True)
class Phrases:
    """How times, states and hours are spoken in one language."""

    zone: str = "Central"
    today: str = "today"
    tomorrow: str = "tomorrow"
    on_day: str = "on {day}"
    on_date: str = "on {day}, {month} {date}"
    days: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    months: tuple[str, ...] = (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    )  # fmt: skip
    hours: str = ""
    states: tuple[tuple[str, str], ...] = (("open", "open"), ("responded", "being worked on"), ("resolved", "resolved"))
    assigned: str = "Someone on our team is assigned to it."
    unassigned: str = "It is not assigned yet."
    due_by: str = "We aim to respond by {time}."
    responded_at: str = "We responded at {time}."
    withheld: str = "a withheld number"

    def state(self, key: str) -> str:
        """Say a ticket state in this language."""
        return dict(self.states).get(key, key)


PHRASE_FIELDS = tuple(f for f in Phrases.__dataclass_fields__)
PHRASE_PLACEHOLDERS = {
    "on_day": frozenset({"day"}),
    "on_date": frozenset({"day", "month", "date"}),
    "due_by": frozenset({"time"}),
    "responded_at": frozenset({"time"}),
}


@dataclass(frozen=True)
class Flow:
    """The whole line: voice, nodes, levels and policy."""

    voice: str
    language: str
    start: str
    nodes: dict[str, Node]
    levels: dict[str, Level]
    policy: Policy
    folder: Path = field(compare=False)
    routing: dict[str, RouteSettings] = field(default_factory=dict)
    on_call_engineers: tuple[str, ...] = ()
    prompts: dict[str, str] = field(default_factory=lambda: dict(ROUTING_PROMPTS))
    phrases: Phrases = field(default_factory=Phrases)
    code: str = "en"
    name: str = "English"
    # The same flow in other languages: same nodes, other words and voice.
    translations: dict[str, Flow] = field(default_factory=dict, compare=False)

    def level_by_key(self, key: str) -> Level | None:
        """Find the level a key selects."""
        return next((lv for lv in self.levels.values() if lv.key == key), None)

    def speaking(self, code: str | None) -> Flow:
        """Give this flow in a caller's language, or as it is when there is none."""
        if not code or code == self.code:
            return self
        return self.translations.get(code, self)

    @property
    def languages(self) -> list[str]:
        """List every language the line speaks, its first one first."""
        return [self.code, *self.translations]


class _Collector:
    """Gather problems while reading, so one run reports them all."""

    def __init__(self):
        self.problems: list[Problem] = []
        # The menu file being read: the base menu or a translation.
        self.file = "menu.yaml"

    def add(self, file: str, node: str, message: str) -> None:
        """Record one problem."""
        self.problems.append(Problem(file, node, message))


def _read_yaml(path: Path, errs: _Collector) -> dict | None:
    """Read one YAML file as a mapping, reporting what stops it; None when it cannot be read."""
    if not path.exists():
        errs.add(path.name, "-", "file is missing")
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "-"
        errs.add(path.name, where, f"not valid YAML: {getattr(exc, 'problem', exc)}")
        return None
    if data is None:
        return {}
    if not isinstance(data, dict):
        errs.add(path.name, "-", "must be a mapping of names to values")
        return None
    return data


def _clock_time(value, file, node, field_name, errs) -> time | None:
    """Parse "HH:MM" into a time."""
    try:
        hh, mm = str(value).split(":")
        return time(int(hh), int(mm))
    except (ValueError, TypeError):
        errs.add(file, node, f"{field_name} must be a time like 05:00, not {value!r}")
        return None


def _load_policy(data: dict, errs: _Collector) -> tuple[Policy | None, dict[str, Level]]:
    """Build the policy and the levels from policy.yaml."""
    f = "policy.yaml"
    sup = data.get("support") or {}
    if not isinstance(sup, dict):
        errs.add(f, "support", "must be a mapping")
        sup = {}
    tz = None
    try:
        tz = ZoneInfo(str(sup.get("timezone", "America/Chicago")))
    except (ZoneInfoNotFoundError, ValueError, OSError):  # a folder name like 'America' raises OSError
        errs.add(f, "support", f"unknown timezone {sup.get('timezone')!r}")
    days = set()
    for d in sup.get("days", DAYS[:5]) or []:
        if d in DAYS:
            days.add(DAYS.index(d))
        else:
            errs.add(f, "support", f"unknown day {d!r}; use {', '.join(DAYS)}")
    opens = _clock_time(sup.get("open", "05:00"), f, "support", "open", errs)
    closes = _clock_time(sup.get("close", "22:00"), f, "support", "close", errs)
    if opens and closes and opens >= closes:
        errs.add(f, "support", "open must be before close")
    holidays = []
    for h in sup.get("holidays") or []:
        try:
            datetime(2024, int(h["month"]), int(h["day"]))  # leap year accepts 29 Feb
            holidays.append((int(h["month"]), int(h["day"]), str(h.get("name", "a holiday"))))
        except (KeyError, TypeError, ValueError):
            errs.add(f, "holidays", f"each holiday needs a valid month and day, not {h!r}")
    closures = []
    for c in sup.get("closures") or []:
        try:
            start = datetime.fromisoformat(str(c["start"])).replace(tzinfo=tz)
            end = datetime.fromisoformat(str(c["end"])).replace(tzinfo=tz)
        except (KeyError, TypeError, ValueError):
            errs.add(f, "closures", f"each closure needs start and end like 2026-12-31 18:00: {c!r}")
            continue
        if end <= start:
            errs.add(f, "closures", f"closure ends before it starts: {c!r}")
            continue
        closures.append(Closure(start, end, str(c.get("message") or "")))

    levels: dict[str, Level] = {}
    raw_levels = data.get("levels") or {}
    if not isinstance(raw_levels, dict) or not raw_levels:
        errs.add(f, "levels", "at least one support level is needed")
        raw_levels = {}
    keys_seen: dict[str, str] = {}
    for lid, lv in raw_levels.items():
        if not isinstance(lv, dict):
            errs.add(f, lid, "a level must be a mapping")
            continue
        for need in ("key", "name", "goal_hours", "team"):
            if lv.get(need) in (None, ""):
                label = {"goal_hours": "response goal (goal_hours)"}.get(need, need)
                errs.add(f, lid, f"level has no {label}")
        key = str(lv.get("key", ""))
        if key in keys_seen:
            errs.add(f, lid, f"key {key} is already used by level {keys_seen[key]}")
        keys_seen[key] = lid
        if lv.get("team") and lv["team"] not in TEAMS:
            errs.add(f, lid, f"team must be one of {', '.join(TEAMS)}, not {lv['team']!r}")
        clock = lv.get("clock", "support_hours")
        if clock not in CLOCKS:
            errs.add(f, lid, f"clock must be one of {', '.join(CLOCKS)}, not {clock!r}")
        try:
            goal = float(lv.get("goal_hours") or 0)
            if lv.get("goal_hours") is not None and goal <= 0:
                errs.add(f, lid, "goal_hours must be more than 0")
        except (TypeError, ValueError):
            errs.add(f, lid, f"goal_hours must be a number, not {lv.get('goal_hours')!r}")
            goal = 0
        levels[lid] = Level(
            id=lid,
            key=key,
            name=str(lv.get("name", lid)),
            spoken=str(lv.get("spoken") or lv.get("name", lid)).lower(),
            covers=str(lv.get("covers", "")),
            goal_hours=goal,
            clock=clock,
            team=str(lv.get("team", "")),
            words=_word_list(lv.get("words"), f, lid, errs),
        )
    if tz is None or opens is None or closes is None:
        return None, levels
    policy = Policy(
        timezone=tz,
        zone_name=str(sup.get("zone_name", "Central")),
        days=frozenset(days),
        open=opens,
        close=closes,
        hours_spoken=str(sup.get("hours_spoken", "")),
        holidays=tuple(holidays),
        closures=tuple(closures),
    )
    return policy, levels


def _check_prompt(text: str, node: str, errs: _Collector, allowed: frozenset[str] | set[str] = PLACEHOLDERS) -> None:
    """Report placeholders we cannot fill and prompts too long for one Say."""
    if len(text) > MAX_SAY_CHARS:
        errs.add(errs.file, node, f"prompt is {len(text)} characters; one <Say> takes {MAX_SAY_CHARS}")
    try:
        names = {n for _, n, _, _ in string.Formatter().parse(text) if n is not None}
    except ValueError as exc:
        errs.add(errs.file, node, f"prompt has a broken placeholder: {exc}")
        return
    for n in sorted(names - allowed):
        errs.add(errs.file, node, f"unknown placeholder {{{n}}}; known: {', '.join(sorted(allowed))}")


def _word_list(value, file: str, node: str, errs: _Collector) -> tuple[str, ...]:
    """Read a list of words to listen for; a bare string would be split into letters."""
    if value is None:
        return ()
    if not isinstance(value, list):
        errs.add(file, node, f"words must be a list like [repeat, again], not {value!r}")
        return ()
    return tuple(str(w).lower() for w in value)


def _link(raw: dict, field_name: str, node: str, errs: _Collector) -> str | None:
    """Read a field naming another node; anything but a name is a problem."""
    value = raw.get(field_name)
    if value is None or isinstance(value, str):
        return value
    errs.add(errs.file, node, f"{field_name} must be a node name, not {value!r}")
    return None


def _option(raw, node: str, errs: _Collector, levels: dict[str, Level], languages: tuple[str, ...] = ()) -> Option | None:
    """Read one menu option or on_max_attempts entry."""
    if not isinstance(raw, dict):
        errs.add(errs.file, node, f"an option must be a mapping, not {raw!r}")
        return None
    level = raw.get("level")
    if level is not None and level not in levels:
        errs.add(errs.file, node, f"level {level!r} is not in policy.yaml")
    action = raw.get("action")
    if action is not None and action not in ACTIONS:
        errs.add(errs.file, node, f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
    language = raw.get("language")
    if language is not None and language not in languages:
        errs.add(errs.file, node, f"language {language!r} has no menu.{language}.yaml")
    key = raw.get("key")
    return Option(
        key=None if key is None else str(key),
        words=_word_list(raw.get("words"), errs.file, node, errs),
        next=_link(raw, "next", node, errs),
        level=level,
        say=str(raw.get("say") or ""),
        action=action,
        language=language,
    )


def _load_nodes(
    data: dict, levels: dict[str, Level], errs: _Collector, languages: tuple[str, ...] = ()
) -> tuple[dict[str, Node], set[str]]:
    """Build the nodes of a menu file, reporting each malformed one."""
    f = errs.file
    nodes: dict[str, Node] = {}
    raw_nodes = data.get("nodes") or {}
    broken = set()
    if not isinstance(raw_nodes, dict) or not raw_nodes:
        errs.add(f, "nodes", "the menu has no nodes")
        return nodes, set()
    for name, raw in raw_nodes.items():
        if not isinstance(raw, dict):
            errs.add(f, name, "a node must be a mapping")
            broken.add(name)
            continue
        kind = raw.get("type")
        if kind not in LINKS:
            errs.add(f, name, f"unknown type {kind!r}; use one of {', '.join(LINKS)}")
            broken.add(name)
            continue
        known = set(Node.__dataclass_fields__) | {"levels", "level_prompt", "repeat_prompt"}
        for extra in sorted(set(raw) - known):
            errs.add(f, name, f"unknown field {extra!r}")
        say = str(raw.get("say") or "")
        options: list[Option] = []
        if kind in ASKING and kind != "menu" and raw.get("on_max_attempts") is None:
            errs.add(f, name, f"{kind} needs on_max_attempts: where a caller goes after the last failed try")
        if kind == "menu":
            prompt = [say]
            for lid in raw.get("levels") or []:
                lv = levels.get(lid)
                if lv is None:
                    errs.add(f, name, f"level {lid!r} is not in policy.yaml")
                    continue
                options.append(
                    Option(
                        lv.key, lv.words + (lv.spoken, lv.id), raw.get("on_level") if isinstance(raw.get("on_level"), str) else None, lid
                    )
                )
                tmpl = str(raw.get("level_prompt") or "For {level_name}, press {key}.")
                _check_prompt(tmpl, name, errs)
                prompt.append(_fill(tmpl, level_name=lv.name, level_covers=lv.covers, key=lv.key, spoken=lv.spoken))
            for raw_opt in raw.get("options") or []:
                opt = _option(raw_opt, name, errs, levels, languages)
                if opt:
                    options.append(opt)
            if raw.get("repeat_prompt"):
                prompt.append(str(raw["repeat_prompt"]))
            say = " ".join(p for p in prompt if p)
            if raw.get("levels") and not raw.get("on_level"):
                errs.add(f, name, "a menu offering levels needs on_level: where a chosen level goes")
            seen: dict[str, int] = {}
            for o in options:
                if o.key is not None:
                    if o.key in seen or o.key == "*":
                        errs.add(
                            f, name, f"key {o.key} is used twice in this menu" if o.key != "*" else "key * is kept for repeating the menu"
                        )
                    seen[o.key] = 1
                    if not (o.key.isdigit() or o.key == "#") or len(o.key) != 1:
                        errs.add(f, name, f"key {o.key!r} must be one digit or #")
                if not o.next:
                    errs.add(f, name, f"option {o.key or o.words} leads nowhere (no next)")
            if not options:
                errs.add(f, name, "a menu needs at least one option")
            if raw.get("on_max_attempts") is None:
                errs.add(f, name, "a menu needs on_max_attempts: where a caller goes after the last failed try")
            for field_name in ("no_input", "bad_input"):
                if field_name in raw and not str(raw[field_name]).strip():
                    errs.add(f, name, f"{field_name} is empty: the caller would hear nothing before the retry")
        on_max = _option(raw["on_max_attempts"], name, errs, levels, languages) if raw.get("on_max_attempts") else None
        if on_max and not on_max.next:
            errs.add(f, name, "on_max_attempts needs next")
        if on_max and on_max.say:
            _check_prompt(on_max.say, name, errs)
        ints = {}
        for field_name, low, high in (("timeout", 1, 60), ("max_attempts", 1, 10), ("max_length", 2, 3600), ("ring_timeout", 5, 120)):
            if field_name in raw:
                try:
                    ints[field_name] = int(raw[field_name])
                    if not low <= ints[field_name] <= high:
                        raise ValueError
                except (TypeError, ValueError):
                    errs.add(f, name, f"{field_name} must be a whole number from {low} to {high}")
                    ints.pop(field_name, None)
        if raw.get("ring") is not None and raw["ring"] not in RING_MODES:
            errs.add(f, name, f"ring must be one of {', '.join(RING_MODES)}")
        node = Node(
            name=name,
            type=kind,
            say=say,
            next=_link(raw, "next", name, errs),
            options=tuple(options),
            on_level=_link(raw, "on_level", name, errs),
            no_input=str(raw.get("no_input", Node.no_input)),
            bad_input=str(raw.get("bad_input", Node.bad_input)),
            on_no_input=_link(raw, "on_no_input", name, errs),
            on_max_attempts=on_max,
            open=_link(raw, "open", name, errs),
            closed=_link(raw, "closed", name, errs),
            no_answer=_link(raw, "no_answer", name, errs),
            on_empty=_link(raw, "on_empty", name, errs),
            all_busy=_link(raw, "all_busy", name, errs),
            found=_link(raw, "found", name, errs),
            pin=_link(raw, "pin", name, errs),
            ring=raw.get("ring"),
            **ints,
        )
        for text in (node.say, node.no_input, node.bad_input):
            _check_prompt(text, name, errs)
        for field_name in LINKS[kind]:
            if field_name in ("on_no_input", "on_empty", "all_busy"):
                continue  # optional: defaults apply
            if raw.get(field_name) is None and not (kind == "menu" and field_name == "on_level" and not raw.get("levels")):
                errs.add(f, name, f"{kind} node needs {field_name}")
        nodes[name] = node
    return nodes, broken


def _fill(template: str, **values) -> str:
    """Fill what is known of a template, leaving other placeholders for later."""

    class Keep(dict):
        def __missing__(self, key):
            return "{" + key + "}"

    try:
        return template.format_map(Keep(values))
    except (ValueError, IndexError):
        return template


def _check_graph(start: str, nodes: dict[str, Node], broken: set[str], errs: _Collector) -> None:
    """Report missing targets, unreachable nodes and loops that never wait.

    Nodes that failed to load (`broken`) were reported already; they are not
    called missing again, and reachability is not judged around them.
    """
    f = "menu.yaml"
    if start in broken:
        return
    if start not in nodes:
        errs.add(f, "start", f"start node {start!r} does not exist")
        return
    for node in nodes.values():
        for t in node.targets():
            if t not in nodes and t not in broken:
                errs.add(f, node.name, f"leads to {t!r}, which does not exist")
    seen, todo = set(), [start]
    while todo:
        n = todo.pop()
        if n in seen or n not in nodes:
            continue
        seen.add(n)
        todo.extend(nodes[n].targets())
    for name in nodes:
        if name not in seen and not broken:
            errs.add(f, name, f"unreachable: no path leads here from {start!r}")
    # A cycle through instant nodes only would spin forever inside one webhook.
    state: dict[str, int] = {}

    def visit(n: str, path: list[str]) -> None:
        state[n] = 1
        for t in nodes[n].targets():
            if t not in nodes or nodes[t].type not in INSTANT:
                continue
            if state.get(t) == 1:
                loop = path[path.index(t) :] + [t] if t in path else [n, t]
                errs.add(f, t, "loop with no bound: " + " -> ".join(loop) + " never waits for the caller")
            elif t not in state:
                visit(t, path + [t])
        state[n] = 2

    for name, node in nodes.items():
        if node.type in INSTANT and name not in state:
            visit(name, [name])


def _load_routing(data: dict, levels: dict[str, Level], errs: _Collector) -> tuple[dict[str, RouteSettings], tuple[str, ...], dict]:
    """Read how each level's team is rung and what agents hear (menu.yaml `routing`)."""
    out = {}
    prompts = dict(ROUTING_PROMPTS)
    raw = data.get("routing") or {}
    if not isinstance(raw, dict):
        errs.add("menu.yaml", "routing", "must be a mapping of level to settings")
        return out, (), prompts
    for name in ROUTING_PROMPTS:
        if raw.get(name) is not None:
            prompts[name] = str(raw[name])
            _check_prompt(prompts[name], f"routing.{name}", errs)
    raw_levels = raw.get("levels") or {}
    if not isinstance(raw_levels, dict):
        errs.add("menu.yaml", "routing", "levels must be a mapping of level to settings")
        raw_levels = {}
    for lid, r in raw_levels.items():
        if r is not None and not isinstance(r, dict):
            errs.add("menu.yaml", f"routing.{lid}", "must be a mapping like {ring: sequential, ring_timeout: 20}")
            r = {}
        if lid not in levels:
            errs.add("menu.yaml", f"routing.{lid}", f"level {lid!r} is not in policy.yaml")
        ring = (r or {}).get("ring", "sequential")
        if ring not in RING_MODES:
            errs.add("menu.yaml", f"routing.{lid}", f"ring must be one of {', '.join(RING_MODES)}")
        try:
            timeout = int((r or {}).get("ring_timeout", 20))
        except (TypeError, ValueError):
            errs.add("menu.yaml", f"routing.{lid}", "ring_timeout must be a whole number of seconds")
            timeout = 20
        out[lid] = RouteSettings(ring, timeout)
    on_call = []
    for n in raw.get("on_call_engineers") or ():
        number = str(n).strip()
        if not (number.startswith("+") and number[1:].isdigit() and 8 <= len(number) <= 16):
            errs.add("menu.yaml", "routing.on_call_engineers", f"{number!r} is not an E.164 number like +13125550101")
        on_call.append(number)
    return out, tuple(on_call), prompts


def _load_phrases(raw, base: Phrases, errs: _Collector, required: bool) -> Phrases:
    """Read how times and states are said (`phrases`); a translation must give them all."""
    f = errs.file
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        errs.add(f, "phrases", "must be a mapping")
        return base
    values = {}
    for extra in sorted(set(raw) - set(PHRASE_FIELDS)):
        errs.add(f, "phrases", f"unknown phrase {extra!r}")
    for key in PHRASE_FIELDS:
        if key not in raw:
            if required:
                errs.add(f, "phrases", f"no {key}")
            continue
        value = raw[key]
        if key in ("days", "months"):
            size = 7 if key == "days" else 12
            if not isinstance(value, list) or len(value) != size:
                errs.add(f, "phrases", f"{key} must list all {size}, Monday or January first")
                continue
            values[key] = tuple(str(v) for v in value)
        elif key == "states":
            if not isinstance(value, dict) or set(value) != {"open", "responded", "resolved"}:
                errs.add(f, "phrases", "states must say open, responded and resolved")
                continue
            values[key] = tuple((str(k), str(v)) for k, v in value.items())
        else:
            values[key] = str(value)
            _check_prompt(values[key], f"phrases.{key}", errs, PHRASE_PLACEHOLDERS.get(key, frozenset()))
    return replace(base, **values)


def _translate_nodes(base_nodes: dict, tr_nodes, errs: _Collector) -> dict:
    """Lay a translation's words over the base menu's nodes, reporting what is missing."""
    f = errs.file
    if not isinstance(tr_nodes, dict):
        errs.add(f, "nodes", "must be a mapping of node names to their words")
        tr_nodes = {}
    for name in sorted(set(tr_nodes) - set(base_nodes)):
        errs.add(f, name, "not in menu.yaml: a translation gives words to existing nodes only")
    merged = {}
    for name, node in base_nodes.items():
        if not isinstance(node, dict):
            continue
        t = tr_nodes.get(name) or {}
        if not isinstance(t, dict):
            errs.add(f, name, "must be a mapping of fields to words")
            t = {}
        for extra in sorted(set(t) - set(TEXT_FIELDS) - {"on_max_attempts", "options"}):
            errs.add(f, name, f"{extra!r} is not words: set it in menu.yaml")
        m = dict(node)
        needs = [k for k in TEXT_FIELDS if str(node.get(k) or "").strip()]
        if node.get("type") in ASKING:
            needs += [k for k in ("no_input", "bad_input") if k not in needs]
        for k in needs:
            if str(t.get(k) or "").strip():
                m[k] = str(t[k])
            else:
                errs.add(f, name, f"no translation for {k}")
        base_max = node.get("on_max_attempts")
        if isinstance(base_max, dict) and base_max.get("say"):
            t_max = t.get("on_max_attempts") if isinstance(t.get("on_max_attempts"), dict) else {}
            if t_max.get("say"):
                m["on_max_attempts"] = {**base_max, "say": str(t_max["say"])}
            else:
                errs.add(f, name, "no translation for on_max_attempts.say")
        base_opts = node.get("options") or []
        if base_opts:
            t_opts = t.get("options") or []
            if not isinstance(t_opts, list) or len(t_opts) != len(base_opts) or not all(isinstance(o, dict) for o in t_opts):
                errs.add(f, name, f"options: give the words of each of the {len(base_opts)} options, in menu.yaml's order")
            else:
                m["options"] = [
                    {**bo, "words": to.get("words", [])} if isinstance(bo, dict) else bo for bo, to in zip(base_opts, t_opts, strict=True)
                ]
        merged[name] = m
    return merged


def _translate_levels(base: dict[str, Level], raw, errs: _Collector) -> dict[str, Level]:
    """Give the levels their names, descriptions and words in a translation's language."""
    f = errs.file
    raw = raw if isinstance(raw, dict) else {}
    out = {}
    for lid, lv in base.items():
        t = raw.get(lid) if isinstance(raw.get(lid), dict) else {}
        for k in ("name", "spoken", "covers", "words"):
            if not t.get(k):
                errs.add(f, f"levels.{lid}", f"no translation for {k}")
        out[lid] = replace(
            lv,
            name=str(t.get("name") or lv.name),
            spoken=str(t.get("spoken") or lv.spoken).lower(),
            covers=str(t.get("covers") or lv.covers),
            words=_word_list(t.get("words"), f, f"levels.{lid}", errs) or lv.words,
        )
    return out


def _load_translation(path: Path, base: Flow, base_menu: dict, languages: tuple[str, ...], errs: _Collector) -> Flow | None:
    """Load one menu.<code>.yaml: the base flow's nodes with another language's words and voice."""
    raw = _read_yaml(path, errs)
    if raw is None:
        return None
    errs.file = path.name
    code = path.name.split(".")[1]
    for extra in sorted(set(raw) - {"name", "voice", "language", "levels", "nodes", "routing", "phrases"}):
        errs.add(path.name, "-", f"unknown field {extra!r}; a translation gives words, voice and language only")
    levels = _translate_levels(base.levels, raw.get("levels"), errs)
    menu = {**base_menu, "nodes": _translate_nodes(base_menu.get("nodes") or {}, raw.get("nodes") or {}, errs)}
    nodes, _ = _load_nodes(menu, levels, errs, languages)
    prompts = dict(base.prompts)
    routing = raw.get("routing") if isinstance(raw.get("routing"), dict) else {}
    for k in CALLER_PROMPTS:
        if routing.get(k):
            prompts[k] = str(routing[k])
            _check_prompt(prompts[k], f"routing.{k}", errs)
        else:
            errs.add(path.name, f"routing.{k}", "no translation")
    phrases = _load_phrases(raw.get("phrases"), Phrases(), errs, required=True)
    for need in ("voice", "language", "name"):
        if not raw.get(need):
            errs.add(path.name, "-", f"no {need} (e.g. voice: Polly.Lupe-Neural, language: es-US, name: Spanish)")
    errs.file = "menu.yaml"
    return replace(
        base,
        voice=str(raw.get("voice") or base.voice),
        language=str(raw.get("language") or base.language),
        nodes=nodes,
        levels=levels,
        prompts=prompts,
        phrases=phrases,
        code=code,
        name=str(raw.get("name") or code),
        translations={},
    )


def check(folder: str | Path) -> tuple[Flow | None, list[Problem]]:
    """Load the flows folder and report every problem found."""
    folder = Path(folder)
    errs = _Collector()
    if not folder.is_dir():
        errs.add(str(folder), "-", "flows folder does not exist")
        return None, errs.problems
    policy_data = _read_yaml(folder / "policy.yaml", errs)
    menu_data = _read_yaml(folder / "menu.yaml", errs)
    if policy_data is None or menu_data is None:
        # A file that does not parse says nothing more worth checking.
        return None, errs.problems
    policy, levels = _load_policy(policy_data, errs)
    code = str(menu_data.get("code") or "en")
    translation_files = sorted(p for p in folder.glob("menu.*.yaml") if p.name.count(".") == 2)
    languages = (code, *(p.name.split(".")[1] for p in translation_files))
    nodes, broken = _load_nodes(menu_data, levels, errs, languages)
    start = str(menu_data.get("start", ""))
    if nodes:
        _check_graph(start, nodes, broken, errs)
    routing, on_call, prompts = _load_routing(menu_data, levels, errs)
    for lid in levels:
        routing.setdefault(lid, RouteSettings("sequential", 20))
    phrases = _load_phrases(
        menu_data.get("phrases"),
        Phrases(zone=policy.zone_name if policy else "Central", hours=policy.hours_spoken if policy else ""),
        errs,
        False,
    )
    if errs.problems or policy is None:
        return None, errs.problems
    flow = Flow(
        voice=str(menu_data.get("voice", "Polly.Joanna-Neural")),
        language=str(menu_data.get("language", "en-US")),
        start=start,
        nodes=nodes,
        levels=levels,
        policy=policy,
        folder=folder,
        routing=routing,
        on_call_engineers=on_call,
        prompts=prompts,
        phrases=phrases,
        code=code,
        name=str(menu_data.get("name") or "English"),
    )
    for path in translation_files:
        translated = _load_translation(path, flow, menu_data, languages, errs)
        if translated is not None:
            flow.translations[translated.code] = translated
    if errs.problems:
        return None, errs.problems
    return flow, []


def load(folder: str | Path) -> Flow:
    """Load the flows folder or raise FlowError listing every problem."""
    flow, problems = check(folder)
    if problems or flow is None:
        raise FlowError(problems)
    return flow
