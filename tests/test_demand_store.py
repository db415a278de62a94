"""The coverage tables (demand layers, search counts, jobs) behave the same on SQLite and PostGIS."""

from __future__ import annotations

import numpy as np
import pytest

from locator.store.demand import DemandStore, LayerItems, LayerNameTaken


def _items(n: int) -> LayerItems:
    rng = np.random.default_rng(n)
    return LayerItems(
        rng.uniform(120.6, 120.8, n),
        rng.uniform(27.9, 28.1, n),
        np.arange(n, dtype=np.uint64) + np.uint64(613645328314269695),
        rng.uniform(0, 10, n),
        [f"host {i}" if i % 2 else None for i in range(n)],
    )


def test_layers_round_trip_and_names_are_unique(make_store):
    demand = DemandStore(make_store())
    items = _items(50)
    info = demand.create_layer(
        name="订单", source="平台 2026-10", purpose="demand", kind="points", crs="gcj02", created_by="boss", items=items
    )
    assert (info.items, info.purpose, info.kind, info.crs) == (50, "demand", "points", "gcj02")
    assert info.total_weight == pytest.approx(items.weight.sum())
    back = demand.layer_items(info.id)
    assert np.allclose(back.lng, items.lng, atol=1e-7) and np.allclose(back.weight, items.weight)
    assert back.cell.tolist() == items.cell.tolist() and back.label == items.label
    with pytest.raises(LayerNameTaken) as exc:
        demand.create_layer(
            name="订单", source="", purpose="demand", kind="points", crs="wgs84", created_by="x", items=_items(2)
        )
    assert exc.value.http_status == 409 and "订单" in exc.value.detail_zh
    assert [layer.name for layer in demand.layers()] == ["订单"]
    assert demand.layer_named("订单") == info and demand.layers("hosts") == []
    assert demand.delete_layer(info.id) and not demand.delete_layer(info.id)
    assert demand.layers() == [] and len(demand.layer_items(info.id).weight) == 0


def test_search_counts_add_up_across_writers_and_prune(make_store):
    store = make_store()
    first, second = DemandStore(store), DemandStore(store)
    first.add_search_counts([("2026-11-01", 11, 2), ("2026-11-02", 11, 1), ("2026-11-02", 12, 4)])
    second.add_search_counts([("2026-11-02", 12, 3), ("2026-05-01", 13, 9)])
    assert first.search_counts("2026-11-01", "2026-11-30") == {11: 3, 12: 7}
    assert first.search_counts("2026-11-01", "2026-11-30", at_least=5) == {12: 7}
    assert first.search_counts("2026-11-02", "2026-11-02") == {11: 1, 12: 7}
    assert first.prune_search_counts("2026-06-01") == 1
    assert first.search_days() == [("2026-11-01", 2), ("2026-11-02", 8)]


def test_jobs_are_claimed_once_and_taken_over_when_stale(make_store):
    demand = DemandStore(make_store())
    params = {"radius_m": 1000}
    assert demand.claim_job("j1", params, owner="a", created_by="boss", stale_before="2000-01-01")
    assert not demand.claim_job("j1", params, owner="b", created_by="boss", stale_before="2000-01-01")
    demand.update_job("j1", progress=0.5, message="计算中")
    job = demand.job("j1")
    assert (job.status, job.progress, job.owner, job.params) == ("running", 0.5, "a", params)
    # A heartbeat older than `stale_before`: the owner died; another worker takes over.
    assert demand.claim_job("j1", params, owner="b", created_by="boss", stale_before="9999-01-01")
    assert demand.job("j1").owner == "b"
    demand.update_job("j1", status="done", progress=1.0, result='{"ok":1}')
    assert not demand.claim_job("j1", params, owner="c", created_by="boss", stale_before="9999-01-01")
    assert demand.job("j1").result == '{"ok":1}'
    assert demand.prune_jobs("9999-01-01") == 1 and demand.job("j1") is None
