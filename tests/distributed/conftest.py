"""Clusters of real smtpauth processes (tests.distributed.cluster), closed after each test."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.distributed.cluster import Cluster


@pytest.fixture
def make_cluster(tmp_path: Path, pg_url: str) -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []

    def make(**kwargs: Any) -> Cluster:
        cluster = Cluster(tmp_path, pg_url, **kwargs)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.close()
