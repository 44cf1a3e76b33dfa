"""Pulumi dynamic provider for a Formance stack's OAuth2 clients and secrets."""
