"""The Redis broker transport the worker and the scheduler use: kombu's, made to survive a
Redis restart.

When the worker loses its broker connection it collects the connection (which drops its
client) and then closes it; closing the channel restores the messages the worker held
unacknowledged (prefetched or waiting for their countdown), which needs that client:
kombu raised AttributeError there, outside the errors Celery ignores, and the worker
exited ("Unrecoverable error"). It happened on a Redis restart whenever the worker held
a message (one restart in five under a rollout).

Here a restore that cannot be made is logged and left to Redis: the messages stay in its
unacknowledged set and come back after the visibility timeout (or, after a restart of a
Redis that keeps nothing, are gone, and the engine's recovery sweep makes up for them:
see orbiter/celery.py).
"""

import logging

from kombu.transport import redis

log = logging.getLogger("orbiter.worker")


class QoS(redis.QoS):
    def restore_unacked(self, client=None):
        try:
            return super().restore_unacked(client)
        except (AttributeError, *self.channel.connection_errors) as error:
            held = len(self._delivered)
            self._delivered.clear()
            log.warning("could not restore %d unacknowledged message(s) after losing the broker (%s: %s); "
                        "Redis redelivers them after the visibility timeout", held, type(error).__name__, error)
            return None


class Channel(redis.Channel):
    QoS = QoS


class Transport(redis.Transport):
    Channel = Channel
