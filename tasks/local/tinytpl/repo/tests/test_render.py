import pytest

from tinytpl import Template, TemplateSyntaxError


def test_variables_and_filters():
    assert Template("Hi {{ name|title }}!").render(name="ada lovelace") == "Hi Ada Lovelace!"


def test_dotted_lookup():
    class User:
        email = "a@b.c"

    t = Template("{{ user.name }} <{{ user.obj.email }}>")
    assert t.render(user={"name": "Ada", "obj": User()}) == "Ada <a@b.c>"


def test_for_loop_with_loop_info():
    t = Template("{% for x in xs %}{{ loop.index }}:{{ x }}{% if not loop.last %},{% endif %}{% endfor %}")
    assert t.render(xs=["a", "b", "c"]) == "1:a,2:b,3:c"


def test_for_empty():
    t = Template("{% for x in xs %}{{ x }}{% empty %}none{% endfor %}")
    assert t.render(xs=[]) == "none"


def test_missing_end_tag():
    with pytest.raises(TemplateSyntaxError):
        Template("{% if x %}yes")
