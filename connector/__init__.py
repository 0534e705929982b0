"""smtpauth connector: configuration, authentication, the Graph/Exchange client, sources, sync and the simulator."""

__version__ = "0.1.0"
