"""Executors on many hosts: jobs as Celery tasks (RabbitMQ), results and locks in Redis.

``client`` is the listener's side (send a job, follow it, cancel it); ``task`` and
``worker`` are the executor hosts' side (``driverci ci worker``); ``wire`` is what crosses
the broker; ``locks`` holds a testbed for one job at a time across hosts.
"""
