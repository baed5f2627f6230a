"""The flows check: the shipped flows pass, and each broken copy is reported by file, node and problem."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from ivr import flows
from ivr.flows import LINKS, Problem
from tests.conftest import make_app

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ROOT / "flows"
KNOWN_PLACEHOLDERS = ", ".join(sorted(flows.PLACEHOLDERS))
NODE_TYPES = ", ".join(LINKS)

Edit = Callable[[dict], None]


def broken_copy(folder: Path, menu: Edit | None = None, policy: Edit | None = None) -> Path:
    """Copy flows/ into `folder`, load each file with yaml, apply an edit and dump it back."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, edit in (("menu.yaml", menu), ("policy.yaml", policy)):
        data = yaml.safe_load((FLOWS / name).read_text(encoding="utf-8"))
        if edit:
            edit(data)
        (folder / name).write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    for translation in FLOWS.glob("menu.*.yaml"):
        shutil.copy(translation, folder / translation.name)
    return folder


def replace_line(folder: Path, name: str, number: int, text: str) -> Path:
    """Copy flows/ into `folder` and overwrite one line of one file with raw text."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in FLOWS.glob("*.yaml"):
        shutil.copy(f, folder / f.name)
    lines = (folder / name).read_text(encoding="utf-8").splitlines()
    lines[number - 1] = text
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def problems_in(folder: Path) -> list[Problem]:
    """Check a folder and give its problems, asserting no flow is built when there are any."""
    flow, problems = flows.check(folder)
    assert (flow is None) == bool(problems)
    return problems


# -- the edits, one defect each -------------------------------------------------------------------


def lead_nowhere(menu):
    """Point ticket_again at a node that does not exist."""
    menu["nodes"]["ticket_again"]["next"] = "nowhere"


def add_orphan(menu):
    """Add a say node nothing leads to."""
    menu["nodes"]["orphan"] = {"type": "say", "say": "Nobody hears this.", "next": "goodbye"}


def reuse_key(menu):
    """Give repeat_ticket a second option on key 1."""
    menu["nodes"]["repeat_ticket"]["options"].append({"key": "1", "words": ["once more"], "next": "check_hours"})


def reuse_level_key(menu):
    """Move choose_level's status option onto key 2, which Technical already uses."""
    menu["nodes"]["choose_level"]["options"][0]["key"] = "2"


def drop_on_max_attempts(menu):
    """Leave repeat_ticket with nowhere to go after the last failed try."""
    del menu["nodes"]["repeat_ticket"]["on_max_attempts"]


def loop_of_says(menu):
    """Make ticket_again and a new say node lead to each other."""
    menu["nodes"]["ticket_again"]["next"] = "ticket_again_2"
    menu["nodes"]["ticket_again_2"] = {"type": "say", "say": "Once more.", "next": "ticket_again"}


def long_prompt(menu):
    """Make the greeting one character longer than one <Say> allows."""
    menu["nodes"]["greeting"]["say"] = "x" * 4001


def drop_goal(policy):
    """Remove Technical's goal_hours."""
    del policy["levels"]["technical"]["goal_hours"]


def drop_team(policy):
    """Remove Technical's team."""
    del policy["levels"]["technical"]["team"]


def unknown_type(menu):
    """Give connect a node type the engine does not have."""
    menu["nodes"]["connect"]["type"] = "dial"


def unknown_placeholder(menu):
    """Use a placeholder no prompt can fill."""
    menu["nodes"]["ticket_again"]["say"] = "Your ticket is {ticket_number}."


def unknown_timezone(policy):
    """Name a timezone that does not exist."""
    policy["support"]["timezone"] = "Mars/Olympus_Mons"


# The line of menu.yaml holding the choose_level prompt, which write_invalid_yaml breaks.
BAD_LINE = (FLOWS / "menu.yaml").read_text(encoding="utf-8").splitlines().index('    say: "Please choose a support level."') + 1
YAML_FAULT = Problem("menu.yaml", f"line {BAD_LINE}", "not valid YAML: mapping values are not allowed here")


def write_invalid_yaml(folder: Path) -> Path:
    """Break the choose_level prompt line of menu.yaml with a stray colon."""
    return replace_line(folder, "menu.yaml", BAD_LINE, "    say: Please choose: a support level.")


# (id, menu edit, policy edit, the problem that must be reported, marks for the "only that problem" check)
SAMPLES = [
    ("missing-node", lead_nowhere, None, Problem("menu.yaml", "ticket_again", "leads to 'nowhere', which does not exist"), ()),
    ("unreachable-node", add_orphan, None, Problem("menu.yaml", "orphan", "unreachable: no path leads here from 'greeting'"), ()),
    ("duplicate-key", reuse_key, None, Problem("menu.yaml", "repeat_ticket", "key 1 is used twice in this menu"), ()),
    ("duplicate-level-key", reuse_level_key, None, Problem("menu.yaml", "choose_level", "key 2 is used twice in this menu"), ()),
    (
        "no-on_max_attempts",
        drop_on_max_attempts,
        None,
        Problem("menu.yaml", "repeat_ticket", "a menu needs on_max_attempts: where a caller goes after the last failed try"),
        (),
    ),
    (
        "say-loop",
        loop_of_says,
        None,
        Problem(
            "menu.yaml",
            "ticket_again",
            "loop with no bound: ticket_again -> ticket_again_2 -> ticket_again never waits for the caller",
        ),
        (),
    ),
    ("long-prompt", long_prompt, None, Problem("menu.yaml", "greeting", "prompt is 4001 characters; one <Say> takes 4000"), ()),
    ("level-without-team", None, drop_team, Problem("policy.yaml", "technical", "level has no team"), ()),
    (
        "unknown-type",
        unknown_type,
        None,
        Problem("menu.yaml", "connect", f"unknown type 'dial'; use one of {NODE_TYPES}"),
        (),
    ),
    (
        "unknown-placeholder",
        unknown_placeholder,
        None,
        Problem("menu.yaml", "ticket_again", f"unknown placeholder {{ticket_number}}; known: {KNOWN_PLACEHOLDERS}"),
        (),
    ),
    ("unknown-timezone", None, unknown_timezone, Problem("policy.yaml", "support", "unknown timezone 'Mars/Olympus_Mons'"), ()),
]


def make_sample(tmp_path: Path, menu: Edit | None, policy: Edit | None) -> Path:
    """Write one broken sample into tmp_path."""
    return broken_copy(tmp_path / "flows", menu=menu, policy=policy)


# -- the shipped flows ----------------------------------------------------------------------------


def test_real_flows_have_no_problems():
    """Check the shipped flows/ folder clean and build the whole flow."""
    flow, problems = flows.check(FLOWS)
    assert problems == []
    assert flow is not None
    assert flow.start == "greeting"
    assert list(flow.levels) == ["basic", "technical", "critical"]
    assert [lv.key for lv in flow.levels.values()] == ["1", "2", "3"]
    assert [lv.goal_hours for lv in flow.levels.values()] == [24, 4, 2]


def test_unedited_round_trip_has_no_problems(tmp_path):
    """Keep a yaml load-and-dump copy clean, so each broken sample differs by its edit alone."""
    assert problems_in(broken_copy(tmp_path / "flows")) == []


def test_load_raises_flow_error_listing_problems(tmp_path):
    """Raise FlowError from load() with each problem in the list and in the message."""
    folder = make_sample(tmp_path, lead_nowhere, drop_team)
    with pytest.raises(flows.FlowError) as caught:
        flows.load(folder)
    assert Problem("menu.yaml", "ticket_again", "leads to 'nowhere', which does not exist") in caught.value.problems
    assert Problem("policy.yaml", "technical", "level has no team") in caught.value.problems
    assert "menu.yaml: ticket_again: leads to 'nowhere', which does not exist" in str(caught.value)
    assert "policy.yaml: technical: level has no team" in str(caught.value)


def test_missing_folder_is_a_problem(tmp_path):
    """Report a flows folder that does not exist instead of crashing."""
    missing = tmp_path / "nowhere"
    assert problems_in(missing) == [Problem(str(missing), "-", "flows folder does not exist")]


# -- broken samples -------------------------------------------------------------------------------


@pytest.mark.parametrize(("menu", "policy", "expected"), [s[1:4] for s in SAMPLES], ids=[s[0] for s in SAMPLES])
def test_broken_sample_reports_its_problem(tmp_path, menu, policy, expected):
    """Report the defect with its file, node and message."""
    assert expected in problems_in(make_sample(tmp_path, menu, policy))


@pytest.mark.parametrize(
    ("menu", "policy", "expected"),
    [pytest.param(*s[1:4], marks=s[4], id=s[0]) for s in SAMPLES],
)
def test_broken_sample_reports_only_its_problem(tmp_path, menu, policy, expected):
    """Report one defect once, without knock-on problems that point elsewhere."""
    assert problems_in(make_sample(tmp_path, menu, policy)) == [expected]


def test_level_without_goal_hours_is_reported(tmp_path):
    """Report a level with no goal_hours on that level in policy.yaml."""
    problems = problems_in(make_sample(tmp_path, None, drop_goal))
    assert [(p.file, p.node) for p in problems] == [("policy.yaml", "technical")]
    assert problems[0].message.startswith("level has no ")
    assert problems[0].message.endswith("(goal_hours)")


def test_level_without_goal_hours_message_reads_well(tmp_path):
    """Say "level has no response goal (goal_hours)" for a level with no goal_hours."""
    problems = problems_in(make_sample(tmp_path, None, drop_goal))
    assert problems == [Problem("policy.yaml", "technical", "level has no response goal (goal_hours)")]


def test_several_defects_are_all_reported(tmp_path):
    """Report every defect of a folder in one run, each in its own file and node."""
    folder = make_sample(tmp_path, lambda m: (lead_nowhere(m), long_prompt(m), reuse_key(m)), drop_team)
    problems = problems_in(folder)
    assert Problem("menu.yaml", "ticket_again", "leads to 'nowhere', which does not exist") in problems
    assert Problem("menu.yaml", "greeting", "prompt is 4001 characters; one <Say> takes 4000") in problems
    assert Problem("menu.yaml", "repeat_ticket", "key 1 is used twice in this menu") in problems
    assert Problem("policy.yaml", "technical", "level has no team") in problems
    assert len(problems) == 4


def test_invalid_yaml_names_the_line(tmp_path):
    """Report unparsable YAML with the file and the line of the fault."""
    problems = problems_in(write_invalid_yaml(tmp_path / "flows"))
    assert problems[0] == YAML_FAULT


def test_invalid_yaml_is_reported_once(tmp_path):
    """Report unparsable YAML once, not again as a menu with no nodes."""
    problems = problems_in(write_invalid_yaml(tmp_path / "flows"))
    assert problems == [YAML_FAULT]


def test_invalid_policy_yaml_names_the_line(tmp_path):
    """Report unparsable policy.yaml with its own file name and line."""
    lines = (FLOWS / "policy.yaml").read_text(encoding="utf-8").splitlines()
    number = lines.index('  open: "05:00"') + 1
    problems = problems_in(replace_line(tmp_path / "flows", "policy.yaml", number, '  open: "05:00'))
    assert problems[0].file == "policy.yaml"
    assert problems[0].node.startswith("line ")
    assert problems[0].message.startswith("not valid YAML: ")


def test_timezone_naming_a_region_folder_is_a_problem(tmp_path):
    """Report `timezone: America` as an unknown timezone instead of crashing."""
    folder = make_sample(tmp_path, None, lambda p: p["support"].update(timezone="America"))
    assert problems_in(folder) == [Problem("policy.yaml", "support", "unknown timezone 'America'")]


def test_next_given_as_a_list_is_a_problem(tmp_path):
    """Report `next: [check_hours]` on its node instead of crashing."""
    folder = make_sample(tmp_path, lambda m: m["nodes"]["ticket_again"].update(next=["check_hours"]), None)
    problems = problems_in(folder)
    assert [(p.file, p.node) for p in problems] == [("menu.yaml", "ticket_again")]


def test_words_given_as_a_string_is_a_problem(tmp_path):
    """Report `words: again` (not a list) on its menu instead of listening for single letters."""
    folder = make_sample(tmp_path, lambda m: m["nodes"]["repeat_ticket"]["options"][0].update(words="again"), None)
    problems = problems_in(folder)
    assert [(p.file, p.node) for p in problems] == [("menu.yaml", "repeat_ticket")]
    assert "words" in problems[0].message


def test_routing_levels_given_as_a_list_is_a_problem(tmp_path):
    """Report `routing.levels` written as a list instead of crashing."""
    folder = make_sample(tmp_path, lambda m: m.update(routing={"levels": ["technical"]}), None)
    problems = problems_in(folder)
    assert [(p.file, p.node) for p in problems] == [("menu.yaml", "routing")]


# -- the CLI and start-up -------------------------------------------------------------------------


def ok_line(folder: Path) -> str:
    """Give the line `flows check` prints for a clean folder."""
    flow = flows.load(folder)
    return f"{folder}: OK, {len(flow.nodes)} nodes, {len(flow.levels)} levels"


def run_flows_check(flows_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run `flask --app wsgi flows check` as an operator would, with FLOWS_DIR set."""
    env = {
        **os.environ,
        "FLOWS_DIR": str(flows_dir),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "IVR_ENV": "development",
    }
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "flows", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_check_on_broken_folder_exits_non_zero_naming_file_node_problem(tmp_path):
    """Exit non-zero from `flows check` and print each problem as file: node: problem."""
    folder = make_sample(tmp_path, lead_nowhere, drop_team)
    result = run_flows_check(folder, tmp_path)
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert "menu.yaml: ticket_again: leads to 'nowhere', which does not exist" in lines
    assert "policy.yaml: technical: level has no team" in lines
    assert f"2 problem(s) in {folder}" in lines
    assert "OK" not in result.stdout


def test_cli_check_on_invalid_yaml_names_the_line(tmp_path):
    """Print the file and line of a YAML fault from `flows check`."""
    result = run_flows_check(write_invalid_yaml(tmp_path / "flows"), tmp_path)
    assert result.returncode != 0
    assert str(YAML_FAULT) in result.stderr.splitlines()


def test_cli_check_on_good_folder_exits_zero(tmp_path):
    """Exit 0 from `flows check` on the shipped flows and say so."""
    result = run_flows_check(FLOWS, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [ok_line(FLOWS)]


def test_cli_runner_check_reports_configured_folder(database_url, tmp_path):
    """Run `flows check` in-process against the configured FLOWS_DIR, failing on a broken copy."""
    app = make_app(database_url, tmp_path)
    app.config["FLOWS_DIR"] = str(make_sample(tmp_path, None, unknown_timezone))
    result = app.test_cli_runner().invoke(args=["flows", "check"])
    assert result.exit_code == 1
    assert "policy.yaml: support: unknown timezone 'Mars/Olympus_Mons'" in result.output.splitlines()


def test_cli_runner_check_dir_option_on_good_folder(database_url, tmp_path):
    """Exit 0 from `flows check --dir flows` and report the node and level counts."""
    app = make_app(database_url, tmp_path)
    result = app.test_cli_runner().invoke(args=["flows", "check", "--dir", str(FLOWS)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [ok_line(FLOWS)]


def test_create_app_with_broken_flows_stops_naming_file_node_problem(database_url, tmp_path):
    """Stop start-up with SystemExit whose message names the file, the node and the problem."""
    folder = make_sample(tmp_path, long_prompt, None)
    with pytest.raises(SystemExit) as caught:
        make_app(database_url, tmp_path, FLOWS_DIR=str(folder))
    message = str(caught.value.code)
    assert f"The flows in {folder} have problems:" in message
    assert "menu.yaml: greeting: prompt is 4001 characters; one <Say> takes 4000" in message.splitlines()
