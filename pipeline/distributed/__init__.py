"""Scale-out backend: the heavy, pure steps as Celery tasks over Redis (``[runner] backend = "celery"``).

``app`` configures Celery (delivery guarantees), ``tasks`` are what ``mailroom worker``
runs, ``transport`` is what travels (one page per message, JSON), ``executor`` is the
coordinator's side: the local executor's interface, completed from Celery results.
"""
