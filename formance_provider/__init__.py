"""Pulumi dynamic provider for a Formance stack's OAuth2 clients and secrets.

Importing this package has no side effects: providers are pickled into state
by reference and unpickled in the provider process.
"""

from .resources import ClientSecret, OAuth2Client
from .version import __version__

__all__ = ["ClientSecret", "OAuth2Client", "__version__"]
