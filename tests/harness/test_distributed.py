"""Trials spread over a two-node `ray.cluster_utils.Cluster`, driven by the runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.experiments import registry
from harness.run import runner

SYNTHETIC = "harness.testing:synthetic_train_fn"


@pytest.fixture(scope="module")
def two_nodes():
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.mark.slow
def test_trials_are_placed_on_both_nodes(two_nodes, tmp_path):
    import ray

    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    spec = registry.get("quick").replace(
        name="spread", epochs=3, n_train=120, batch_size=32, strategies=("asha",), seeds=1,
        asha_samples=4, asha_grace_period=3)  # grace = epochs: ASHA stops nobody
    run = Path(runner.start(spec, runner.RunOptions(
        storage=str(tmp_path), address=two_nodes.address, trainable=SYNTHETIC, verbose=0,
        # 9 s a trial: under load the second node's worker took longer to start than a
        # 1.5 s trial took to end, and Tune gave every trial to the first node's process
        extra_config={"sleep_s": 3.0}, echo=lambda line: None)))
    node_ids = set()
    for result in (run / "asha-seed0").glob("*/result.json"):
        rows = [json.loads(x) for x in result.read_text().splitlines() if x]
        assert len(rows) == 3
        node_ids |= {r["node_id"] for r in rows}
    cluster_nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert node_ids == cluster_nodes  # one CPU per node, trials of 1 CPU: both nodes used
