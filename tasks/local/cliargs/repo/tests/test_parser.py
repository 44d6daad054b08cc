import pytest

from cliargs import Option, Parser, UsageError
from cliargs.help import format_help


def make():
    return Parser(
        [
            Option("verbose", "v", flag=True),
            Option("count", "n", type=int, default=1),
            Option("tag", "t", multiple=True),
            Option("output", "o"),
        ],
        positional=["src"],
    )


def test_long_and_short():
    ns = make().parse(["--count=3", "-v", "-o", "out.txt", "in.txt"])
    assert (ns.count, ns.verbose, ns.output, ns.src) == (3, True, "out.txt", "in.txt")


def test_cluster_and_attached_value():
    ns = make().parse(["-vn5", "a"])
    assert ns.verbose is True and ns.count == 5


def test_multiple():
    assert make().parse(["-t", "x", "--tag", "y", "s"]).tag == ["x", "y"]


def test_double_dash_ends_options():
    ns = make().parse(["s", "--", "-v", "--count"])
    assert ns.verbose is False and ns.rest == ["-v", "--count"]


@pytest.mark.parametrize("argv", [["--nope", "s"], ["--count", "x", "s"], [], ["-n"]])
def test_usage_errors(argv):
    with pytest.raises(UsageError):
        make().parse(argv)


def test_help_mentions_options():
    text = format_help("prog", make())
    assert "--count COUNT" in text and "(default: 1)" in text
