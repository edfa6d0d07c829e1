"""cluster.yaml passes Ray's own cluster-config validation and keeps the dashboard private."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

CLUSTER_YAML = Path(__file__).resolve().parents[2] / "cluster.yaml"


def _load() -> dict:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def test_cluster_yaml_passes_ray_validation():
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(_load())
    validate_config(prepared)
    assert prepared["head_node_type"] in prepared["available_node_types"]
    workers = prepared["available_node_types"]["gpu_worker"]
    assert workers["resources"]["GPU"] >= 1 and workers["max_workers"] >= 1


def test_validation_would_catch_a_broken_config():
    import jsonschema
    from ray.autoscaler._private.util import prepare_config, validate_config

    broken = copy.deepcopy(_load())
    broken["available_node_types"]["gpu_worker"]["min_workers"] = "many"
    with pytest.raises(jsonschema.ValidationError):
        validate_config(prepare_config(broken))


def test_dashboard_and_job_api_bound_to_localhost():
    config = _load()
    start = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in start
    assert "0.0.0.0" not in CLUSTER_YAML.read_text().split("cluster_name:")[1]


def test_every_node_installs_this_package():
    config = _load()
    assert "." in config["file_mounts"].values()
    assert any("pip install -e ~/crossreg-harness" in c for c in config["setup_commands"])


def test_token_authentication_is_on_for_every_node():
    config = _load()
    starts = [c for c in config["head_start_ray_commands"] + config["worker_start_ray_commands"]
              if "ray start" in c]
    assert len(starts) == 2 and all("RAY_AUTH_MODE=token ray start" in c for c in starts)
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    assert any("export RAY_AUTH_MODE=token" in c for c in config["setup_commands"])
    text = CLUSTER_YAML.read_text()
    assert "ray get-auth-token --generate" in text  # how to create the token
    assert "ufw" in text  # how to firewall the on-premises variant
