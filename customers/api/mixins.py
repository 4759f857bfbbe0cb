"""The one DRF mixin for endpoints that take a customer id: merged ids follow to their survivor."""

from cxhub.errors import NotFound

from ..erasure import CustomerErased
from ..models import Customer
from ..selectors import survivor_id


class FollowMergedMixin:
    """Resolve a customer id given to an endpoint through ``customers.selectors.survivor_id``."""

    def survivor_or_404(self, customer_id: int) -> int:
        """The live id for ``customer_id``; 404 in the common error format when it never existed."""
        live = survivor_id(customer_id)
        if live is None:
            raise NotFound(f"No customer {customer_id}.")
        erased_at = Customer.objects.filter(pk=live).values_list("erased_at", flat=True).first()
        if erased_at is not None:
            raise CustomerErased(f"Customer {customer_id} was erased on {erased_at:%Y-%m-%d}.")
        return live

    def survivor_or_same(self, customer_id: int) -> int:
        """For list filters: the live id, or the id as given when unknown (the list is then empty)."""
        return survivor_id(customer_id) or customer_id
