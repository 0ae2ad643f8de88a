"""The code path of `bench/api.py` on a tiny world: the bare account-360 endpoint must answer what
GraphQL answers (no performance is asserted)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import httpx

from bench import api as bench
from reasoning.demo_world.generator import generate_world
from reasoning.evaluate import DEFAULT_AS_OF, default_engine, load_world


def test_bare_endpoint_answers_what_graphql_answers(store, make_api) -> None:
    """Both endpoints on a 40-account world with intents: equal answers, then a short load block each."""
    as_of = datetime.fromisoformat(DEFAULT_AS_OF)
    assert not load_world(store, generate_world(40, 7, as_of)).rejected
    default_engine(store, as_of).refresh()
    api = make_api(rate_per_second=0)
    bench.mount_bare(api.app)
    stats = bench.world_stats(store)
    assert any(a[3] for a in stats["accounts"]), "the world should have intents on some account"
    ids = bench.check_sample(stats, 8, 7)

    async def run() -> tuple[dict, list[dict]]:
        transport = httpx.ASGITransport(app=api.app)
        headers = bench.headers_for(api.keys["sales_tool"])
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as client:
            checked = await bench.compare_answers(client, ids)
            blocks = [await bench.run_block([client, client], name, ids[:4]) for name in bench.REQUESTS]
        return checked, blocks

    checked, blocks = asyncio.run(run())
    assert checked["mismatches"] == []
    assert checked["per_account"]["contacts"] > 0 and checked["per_account"]["intents"] > 0
    for block in blocks:
        assert block["failures"] == [] and len(block["latencies"]) == 4
