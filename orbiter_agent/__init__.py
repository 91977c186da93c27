"""Orbiter's node agent: receives signed commands over STOMP and runs Puppet.

No Django here. `orbiter_agent.protocol` is the wire protocol both the agent and the
control plane import; `orbiter_agent.replay` keeps the ids an agent has received.
"""
