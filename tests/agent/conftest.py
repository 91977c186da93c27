import pytest

from orbiter_agent.protocol import KeyRing
from tests.agent.support import AGENT, Party


@pytest.fixture
def control_plane() -> Party:
    return Party.new("control-plane")


@pytest.fixture
def agent() -> Party:
    return Party.new(AGENT)


@pytest.fixture
def outsider() -> Party:
    """Has a key of its own, which nobody trusts, and claims to be the control plane."""
    return Party.new("control-plane")


@pytest.fixture
def agent_keys(control_plane) -> KeyRing:
    """What an agent believes: the control plane's key only."""
    return KeyRing({control_plane.name: control_plane.public_key})


@pytest.fixture
def control_plane_keys(agent) -> KeyRing:
    """What the control plane believes: each agent's key, under its certname."""
    return KeyRing({agent.name: agent.public_key})
