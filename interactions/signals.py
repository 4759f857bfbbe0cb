"""Signals other apps may listen to (interactions never imports them)."""

from django.dispatch import Signal

# Sent once a batch's transaction commits: interaction_ids=[...] (new rows only), customer_ids=[...].
interactions_created = Signal()
