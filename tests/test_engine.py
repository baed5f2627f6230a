"""Understanding a caller's keys and words at the real level menu."""

from __future__ import annotations

import pytest

from ivr import flows
from ivr.engine import Chosen, NoInput, Repeat, Unrecognised, understand


@pytest.fixture(scope="module")
def menu():
    """Give the real level menu, choose_level."""
    return flows.load("flows").nodes["choose_level"]


@pytest.fixture(scope="module")
def repeat_menu():
    """Give the real "hear your ticket again" menu."""
    return flows.load("flows").nodes["repeat_ticket"]


def level_of(answer) -> str:
    """Name the level a Chosen answer picks."""
    assert isinstance(answer, Chosen), answer
    return answer.option.level


# -- keys -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("digits", "level"), [("1", "basic"), ("2", "technical"), ("3", "critical")])
def test_key_picks_its_level(menu, digits, level):
    """Pick the level whose key was pressed, leading on to the ticket."""
    answer = understand(menu, digits, None)
    assert level_of(answer) == level
    assert answer.option.next == "open_ticket"


def test_key_with_surrounding_space_still_picks_level(menu):
    """Ignore whitespace around the keys Twilio sends."""
    assert level_of(understand(menu, " 2 ", None)) == "technical"


def test_star_repeats(menu):
    """Treat * as a request to hear the menu again."""
    assert understand(menu, "*", None) == Repeat()


@pytest.mark.parametrize("digits", ["0", "5", "8"])
def test_unknown_digit_is_unrecognised(menu, digits):
    """Refuse a key no option offers, keeping what was pressed."""
    assert understand(menu, digits, None) == Unrecognised(digits)


@pytest.mark.parametrize("digits", ["12", "321", "1111111111", "**"])
def test_long_digit_string_is_unrecognised(menu, digits):
    """Refuse several keys at once rather than picking by the first one."""
    assert understand(menu, digits, None) == Unrecognised(digits)


def test_pound_is_unrecognised(menu):
    """Refuse # where no option uses it."""
    assert understand(menu, "#", None) == Unrecognised("#")


def test_keys_win_over_speech(menu):
    """Act on the key pressed when both keys and speech arrive."""
    assert level_of(understand(menu, "1", "our system is down")) == "basic"


# -- silence --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("digits", "speech"), [(None, None), ("", ""), ("  ", "  "), ("", None), (None, "")])
def test_nothing_is_no_input(menu, digits, speech):
    """Treat missing or blank Digits and SpeechResult as no input."""
    assert understand(menu, digits, speech) == NoInput()


# -- speech ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("speech", "level"),
    [
        ("basic", "basic"),
        ("Basic.", "basic"),
        ("I have a how to question", "basic"),
        ("I have a non-technical question", "basic"),
        ("basic product support please", "basic"),
        ("our system is down", "critical"),
        ("Our system is DOWN!", "critical"),
        ("technical", "technical"),
        ("technical support", "technical"),
        ("we lost data", "technical"),
        ("two", "technical"),
        ("one", "basic"),
        ("three", "critical"),
        ("3", "critical"),
    ],
)
def test_speech_picks_level(menu, speech, level):
    """Pick the level a caller names, describes or says the number of."""
    assert level_of(understand(menu, None, speech)) == level


def test_critical_technical_support_is_not_technical(menu):
    """Pick Critical, not Technical, for "critical technical support", which contains both names."""
    assert level_of(understand(menu, None, "critical technical support")) == "critical"


def test_number_words_inside_other_words_do_not_count(menu):
    """Ignore "one" inside "someone" and "two" inside "network"."""
    assert understand(menu, None, "someone on the network") == Unrecognised("someone on the network")


@pytest.mark.parametrize("speech", ["flibber jabber wocky", "purple elephants", "hmm"])
def test_gibberish_is_unrecognised(menu, speech):
    """Refuse speech that matches no option, keeping what was heard."""
    assert understand(menu, None, speech) == Unrecognised(speech)


@pytest.mark.parametrize("speech", ["repeat", "can you say that again", "start over", "what are the options"])
def test_asking_to_repeat_repeats(menu, speech):
    """Treat "repeat", "say that again" and the like as a request to hear the menu again."""
    assert understand(menu, None, speech) == Repeat()


def test_option_words_win_over_repeat_words(repeat_menu):
    """Pick the option when its own words include "repeat"."""
    answer = understand(repeat_menu, None, "repeat")
    assert isinstance(answer, Chosen)
    assert answer.option.key == "1"
    assert answer.option.next == "ticket_again"


def test_accents_do_not_matter_in_speech():
    """Speech recognised with or without accents picks the same Spanish level."""
    flow = flows.load("flows").speaking("es")
    menu = flow.nodes["choose_level"]
    assert understand(menu, None, "soporte tecnico critico").option.level == "critical"
    assert understand(menu, None, "Soporte Técnico").option.level == "technical"
