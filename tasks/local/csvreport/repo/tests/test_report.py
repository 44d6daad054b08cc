from csvreport import build_report, render_report
from csvreport.reader import infer

SALES = """region,product,amount,price
north,apple,10,1.5
north,pear,5,2.0
south,apple,7,1.25
"""


def test_infer():
    assert [infer(x) for x in ["", " 3 ", "2.5", "x"]] == [None, 3, 2.5, "x"]


def test_sum_and_count():
    header, body = build_report(SALES, "region", ["sum:amount", "count:product"])
    assert header == ["region", "sum:amount", "count:product"]
    assert body == [["north", 15, 2], ["south", 7, 1]]


def test_avg_full_column():
    _, body = build_report(SALES, "region", ["avg:price"])
    assert body == [["north", 1.75], ["south", 1.25]]


def test_render():
    text = render_report(SALES, "region", ["sum:amount"])
    assert text.splitlines()[0].split() == ["region", "sum:amount"]
    assert text.splitlines()[2].split() == ["north", "15"]
