"""How fast hostile GraphQL is refused: the query guard's cost against an ordinary query's, in one run.

    python -m bench.graphql_limits [--runs 200]

For each hostile document (tests/api/test_graphql_limits.py has the same kinds) and for the
baseline, an ordinary "account 360" query, it times what the guard does before anything runs:
parse, measure (depth, aliases, cost, fragments expanded only by their measure), check the limits.
It prints p50 and p99 per document in milliseconds and the ratio to the baseline's p50. Nothing is
asserted: the tests prove refusals touch no store, this measures what they cost.
"""

from __future__ import annotations

import argparse
import statistics
import time

from graphql import GraphQLSyntaxError, parse

from api.graphql.limits import Limits, check_limits
from api.graphql.schema import build_schema
from tests.api.test_graphql import ACCOUNT_360


def _deep(levels: int) -> str:
    inner = "id"
    for _ in range(levels):
        inner = f"account {{ contacts(first: 1) {{ edges {{ node {{ {inner} }} }} }} }}"
    return f'{{ contact(id: "x") {{ {inner} }} }}'


def documents() -> dict[str, str]:
    """The baseline and the hostile documents, by name."""
    bomb = ["fragment A0 on Query { a: me { role } b: me { role } }"] + [f"fragment A{i} on Query {{ ...A{i - 1} ...A{i - 1} }}" for i in range(1, 31)]
    triple = ["fragment A0 on Query { a: me { role } }"] + [f"fragment A{i} on Query {{ ...A{i - 1} ...A{i - 1} ...A{i - 1} }}" for i in range(1, 40)]
    return {
        "baseline: account 360": ACCOUNT_360,
        "deep nesting (6 levels)": _deep(6),
        "alias bomb in fragments (2^31)": "{ ...A30 }\n" + "\n".join(bomb),
        "fragments 3^39": "{ ...A39 }\n" + "\n".join(triple),
        "3,500 tokens": "{ me { " + "role " * 3_500 + "} }",
        "costly lists (100x100x100)": "query { accounts(first: 100) { nodes { contacts(first: 100) { nodes { intents(first: 100) { nodes { id } } } } } } }",
    }


def guard_seconds(schema, text: str, limits: Limits) -> float:
    """One pass of what the guard does before execution: parse (with the token limit), measure, check."""
    started = time.perf_counter()
    try:
        document = parse(text, max_tokens=limits.max_tokens)
        check_limits(schema, document, {"id": "renji-hospital"}, None, limits)
    except GraphQLSyntaxError:
        pass  # refused at parse time (too many tokens)
    return time.perf_counter() - started


def main() -> None:
    """Print p50/p99 per document and the ratio to the baseline."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    schema = build_schema()._schema
    limits = Limits()
    rows = []
    for name, text in documents().items():
        for _ in range(5):  # warm-up
            guard_seconds(schema, text, limits)
        times = sorted(guard_seconds(schema, text, limits) for _ in range(args.runs))
        rows.append((name, statistics.median(times) * 1000, times[min(len(times) - 1, int(0.99 * len(times)))] * 1000))
    base = rows[0][1]
    print(f"{'document':<34} {'p50 ms':>8} {'p99 ms':>8} {'p50 / baseline':>15}")
    for name, p50, p99 in rows:
        print(f"{name:<34} {p50:>8.3f} {p99:>8.3f} {p50 / base:>14.2f}x")


if __name__ == "__main__":
    main()
