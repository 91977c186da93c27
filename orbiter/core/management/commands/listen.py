from django.core.management.base import BaseCommand

from orbiter.bus.base import bus_from_settings
from orbiter.bus.listener import ReplyListener


class Command(BaseCommand):
    help = "Consume agent replies from the bus, record them and wake the engine (run one or more)."

    def handle(self, *args, **options):
        self.stdout.write("listening for agent replies on /queue/orbiter.replies")
        ReplyListener(bus_from_settings()).run_forever()
