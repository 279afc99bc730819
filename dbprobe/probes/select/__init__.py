"""The ``select`` probe: point selects through the ORM, Core and the bare driver (``driver``)."""
