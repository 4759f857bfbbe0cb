"""Outbound messaging services: the gateway, delivery, callbacks, campaigns and preferences."""

from .gateway import send_message

__all__ = ["send_message"]
