"""Server-side scope policy: per-tool / per-route declarations and hierarchies (S-15..S-17)."""

import pytest

from zeroauth.server._scopes import ScopePolicy, called_tools, declared_scopes, requires_scopes

HIERARCHY = {"mcp:admin": ["mcp:write"], "mcp:write": ["mcp:read"]}


def test_s17_hierarchy_is_transitive():
    policy = ScopePolicy(hierarchy=HIERARCHY)
    assert policy.has(frozenset({"mcp:admin"}), "mcp:read")
    assert policy.has(frozenset({"mcp:admin"}), "mcp:write")
    assert policy.has(frozenset({"mcp:write"}), "mcp:read")
    assert not policy.has(frozenset({"mcp:read"}), "mcp:write")
    assert not policy.has(frozenset({"mcp:write"}), "mcp:admin")
    assert policy.implied({"mcp:admin"}) == {"mcp:admin", "mcp:write", "mcp:read"}


def test_s17_hierarchy_with_cycle_terminates():
    policy = ScopePolicy(hierarchy={"a": ["b"], "b": ["a", "c"]})
    assert policy.has(frozenset({"a"}), "c")
    assert policy.has(frozenset({"b"}), "a")
    assert policy.implied({"a"}) == {"a", "b", "c"}


def test_s17_scopes_are_case_sensitive():
    policy = ScopePolicy(hierarchy=HIERARCHY)
    assert not policy.has(frozenset({"MCP:ADMIN"}), "mcp:read")
    assert not policy.satisfies(frozenset({"Files:Read"}), ["files:read"])


def test_s16_missing_lists_every_uncovered_scope_in_order():
    policy = ScopePolicy(hierarchy=HIERARCHY)
    needed = ["mcp:read", "files:write", "mcp:admin"]
    assert policy.missing(frozenset({"mcp:write"}), needed) == ("files:write", "mcp:admin")
    assert policy.satisfies(frozenset({"mcp:admin", "files:write"}), needed)


def test_s15_route_scopes_on_a_slash_boundary():
    policy = ScopePolicy(required=["mcp:read"], routes={"/admin": ["mcp:admin"], "/": ["x"]})
    assert policy.route_scopes("/admin") == ("mcp:read", "mcp:admin", "x")
    assert policy.route_scopes("/admin/users") == ("mcp:read", "mcp:admin", "x")
    assert policy.route_scopes("/administrator") == ("mcp:read", "x")
    assert ScopePolicy(required=["a"]).route_scopes("/anything") == ("a",)


@pytest.mark.anyio
async def test_s15_tool_scopes_explicit_first_then_resolver():
    async def resolver(name: str) -> tuple[str, ...] | None:
        return {"write": ("files:write",), "shadowed": ("never",)}.get(name)

    policy = ScopePolicy(tools={"shadowed": ["files:read"]}, tool_resolver=resolver)
    assert policy.checks_tools
    assert await policy.tool_scopes("write") == ("files:write",)
    assert await policy.tool_scopes("shadowed") == ("files:read",)
    assert await policy.tool_scopes("unknown") == ()
    visible = await policy.visible_tools(frozenset({"files:read"}), ["write", "shadowed", "free"])
    assert visible == {"shadowed", "free"}
    assert not ScopePolicy().checks_tools


def test_requires_scopes_marks_and_returns_the_function():
    @requires_scopes("files:write", "files:read", "files:write")
    def write(path: str) -> str:
        return path

    assert write("x") == "x"
    assert declared_scopes(write) == ("files:write", "files:read")
    assert declared_scopes(len) is None

    class Tool:  # a framework tool object wrapping the function (FastMCP's FunctionTool)
        __slots__ = ("fn",)

        def __init__(self, fn):
            self.fn = fn

    def other() -> None: ...

    tool = requires_scopes("a")(Tool(other))
    assert declared_scopes(tool) == ("a",)
    assert declared_scopes(other) == ("a",)


@pytest.mark.parametrize(
    "bad", ['has"quote', "back\\slash", "sp ace", "", "tab\t", "é"], ids=lambda s: repr(s)
)
def test_s18_scope_tokens_are_validated(bad):
    with pytest.raises(ValueError, match="scope"):
        requires_scopes(bad)
    with pytest.raises(ValueError, match="scope"):
        ScopePolicy(required=[bad])
    with pytest.raises(ValueError, match="scope"):
        ScopePolicy(hierarchy={"a": [bad]})


def test_requires_scopes_needs_a_scope_and_a_markable_target():
    with pytest.raises(ValueError, match="at least one"):
        requires_scopes()
    with pytest.raises(TypeError, match="decorate the function"):
        requires_scopes("a")(len)


def test_with_resolver_copies_the_policy():
    async def resolver(name: str) -> None:
        return None

    policy = ScopePolicy(required=["r"], hierarchy=HIERARCHY)
    copy = policy.with_resolver(resolver)
    assert copy.tool_resolver is resolver
    assert policy.tool_resolver is None
    assert copy.required == ("r",)
    assert copy.has(frozenset({"mcp:admin"}), "mcp:read")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}}', ["a"]),
        (b'{"method":"tools/list"}', []),
        (b"not json at all", []),  # cannot spell tools/call: left to the app
        (
            b'[{"method":"tools/call","params":{"name":"a"}},{"method":"tools/call",'
            b'"params":{"name":"b"}}]',
            ["a", "b"],
        ),
        (b'{"method":"tools\\/call","params":{"name":"\\u0061"}}', ["a"]),
        (b'{"method":"tools/call","params":{"name":"a","arguments":{"name":"b"}}}', ["a"]),
        (b'{"method":"tools/call","params":{"name":"a","name":"b"}}', None),
        (b'{"method":"tools/call","method":"tools/list"}', None),
        (b'{"method":"tools/call","params":{}}', None),
        (b'{"method":"tools/call","params":"x"}', None),
        (b"{tools/call", None),
        ('{"method":"tools/call","params":{"name":"a"}}'.encode("utf-16"), None),
        (b"[" * 5000 + b'"tools/call"' + b"]" * 5000, None),
        (
            b'{"method":"tools/call","params":{"name":"a","arguments":{"x":'
            + b"[" * 300
            + b"]" * 300
            + b"}}}",
            ["a"],
        ),
        (b'{"method":"tools/call","params":{"name":"\xff"}}', None),
        (b'\xef\xbb\xbf{"method":"tools/call","params":{"name":"a"}}', None),
        (b'{"method":"tools/call","params":{"name":"a","arguments":{"t":"\\ud800"}}}', ["a"]),
        (b'{"method":"tools/call","params":{"name":"a"},}', None),
        (b'{"method":"tools/call","params":{"name":"a"}} x', None),
    ],
    ids=[
        "call",
        "list",
        "garbage",
        "batch",
        "escaped",
        "argument-named-name",
        "duplicate-name",
        "duplicate-method",
        "no-name",
        "params-not-object",
        "broken",
        "utf-16",
        "deep",
        "nested-300-parsed-by-the-stdlib",
        "invalid-utf8",
        "utf8-bom",
        "lone-surrogate-argument",
        "trailing-comma",
        "trailing-garbage",
    ],
)
def test_s15_called_tools_reads_the_body_safely(body, expected):
    assert called_tools(body) == expected


# --- merged(): protect()'s options compose with a ScopePolicy (issue 18) -----------------------


@pytest.mark.anyio
async def test_s15_s17_merged_adds_requirements_and_keeps_the_original():
    async def resolver(name: str) -> tuple[str, ...] | None:
        return ("files:write",) if name == "save" else None

    base = ScopePolicy(
        required=["a"], routes={"/admin": ["admin"]}, tools={"t": ["x"]},
        hierarchy={"admin": ["x"]}, tool_resolver=resolver, filter_tools_list=True,
    )  # fmt: skip
    merged = base.merged(
        required=["b", "a"], tools={"t": ["y"], "u": ["z"]}, hierarchy={"admin": ["y"], "y": ["z"]}
    )
    assert merged is not base
    assert merged.required == ("a", "b")
    assert merged.route_scopes("/admin/x") == ("a", "b", "admin")
    assert await merged.tool_scopes("t") == ("x", "y")  # both requirements hold
    assert await merged.tool_scopes("u") == ("z",)
    assert await merged.tool_scopes("save") == ("files:write",)  # the resolver is kept
    assert merged.has(frozenset({"admin"}), "z")  # admin -> y (added) -> z (added): S-17
    assert merged.has(frozenset({"admin"}), "x")  # the original edge
    assert merged.filter_tools_list is True
    # the original is unchanged
    assert base.required == ("a",)
    assert await base.tool_scopes("t") == ("x",)
    assert not base.has(frozenset({"admin"}), "z")


def test_merged_filter_tools_list_replaces_only_when_given():
    hiding = ScopePolicy(filter_tools_list=True)
    assert hiding.merged(filter_tools_list=False).filter_tools_list is False
    assert hiding.merged(required=["a"]).filter_tools_list is True
    assert ScopePolicy().merged(filter_tools_list=True).filter_tools_list is True


def test_merged_returns_the_same_policy_when_nothing_changes():
    """Integrations compare the policy by identity (the SDK hook skips a tool BearerAuth
    already checked under the same policy)."""
    policy = ScopePolicy(required=["a"], filter_tools_list=True)
    assert policy.merged() is policy
    assert policy.merged(required=(), hierarchy={}, tools={}, filter_tools_list=True) is policy


def test_merged_refuses_bad_scope_tokens():
    with pytest.raises(ValueError, match="scope token"):
        ScopePolicy().merged(required=['a"b'])
    with pytest.raises(ValueError, match="scope token"):
        ScopePolicy().merged(tools={"t": ["has space"]})


def test_s05_scopes_lists_required_first_then_routes_tools_and_declared():
    policy = ScopePolicy(
        required=["r"], routes={"/admin": ["admin", "r"]}, tools={"t": ["w"]},
        hierarchy={"super": ["admin"]},
    )  # fmt: skip
    assert policy.scopes() == ("r", "admin", "w")  # hierarchy-only scopes are not listed
    assert policy.scopes(["w", "d"]) == ("r", "admin", "w", "d")
    assert ScopePolicy().scopes() == ()
