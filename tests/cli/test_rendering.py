"""How the commands write durations and tables, on a terminal and through a pipe."""

import pytest

from orbiter.core.management.ops import human_duration, render_table


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0.3, "under 1 s"), (5, "about 5 s"), (60, "about 1 min"), (200, "about 3 min 20 s"),
     (3600, "about 1 h"), (3725, "about 1 h 2 min")],
)
def test_durations_read_as_words(seconds, words):
    assert human_duration(seconds) == words


def test_a_piped_table_is_plain_columns_one_record_a_line():
    text = render_table(("id", "message"), [(7, "waiting:\nlocked"), (12, "")], terminal=False)

    assert text == "id  message\n7   waiting: locked\n12  -\n"


def test_a_terminal_table_is_drawn_by_rich_with_every_cell():
    text = render_table(("id", "message"), [(7, "queued")], terminal=True, color=False)

    assert "id" in text and "message" in text and "queued" in text
    assert "─" in text
