"""Federated training: datasets and partitions, numpy models, Flower ServerApp/ClientApp and runners."""

__all__: list[str] = []
