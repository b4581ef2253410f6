"""Federated training: datasets, image loaders, models (numpy or PyTorch), Flower ServerApp/ClientApp, runners."""

__all__: list[str] = []
