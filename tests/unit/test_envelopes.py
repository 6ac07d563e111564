"""Sealed secrets for zone agents and signed results: who can open, what is refused."""

from __future__ import annotations

import pytest

from data.envelopes import AgentKeys, EnvelopeError, seal, verify


def test_a_secret_sealed_to_a_zone_opens_for_each_of_its_agents_only():
    first, second, outsider = AgentKeys.generate(), AgentKeys.generate(), AgentKeys.generate()
    envelope = seal(b"-----BEGIN PRIVATE KEY-----", [first.public, second.public], "WO-000001")
    assert b"PRIVATE KEY" not in repr(envelope).encode()
    assert first.open(envelope) == b"-----BEGIN PRIVATE KEY-----"
    assert second.open(envelope) == b"-----BEGIN PRIVATE KEY-----"
    with pytest.raises(EnvelopeError, match="not sealed to this agent"):
        outsider.open(envelope)


def test_a_tampered_or_rebound_envelope_does_not_open():
    agent = AgentKeys.generate()
    envelope = seal(b"secret", [agent.public], "WO-000001")
    moved = {**envelope, "context": "WO-000002"}  # replayed for another work order
    with pytest.raises(EnvelopeError, match="does not open"):
        agent.open(moved)
    flipped = {**envelope, "ciphertext": envelope["ciphertext"][:-4] + "AAA="}
    with pytest.raises(EnvelopeError):
        agent.open(flipped)
    with pytest.raises(EnvelopeError, match="no approved agent"):
        seal(b"secret", [], "WO-000001")


def test_signed_results_verify_only_with_the_signers_key():
    agent, other = AgentKeys.generate(), AgentKeys.generate()
    message = agent.sign({"agent": "dmz-1", "outcome": "match"})
    assert verify(message, agent.public) == {"agent": "dmz-1", "outcome": "match"}
    with pytest.raises(EnvelopeError, match="signature does not match"):
        verify(message, other.public)
    altered = {**message, "body": {"agent": "dmz-1", "outcome": "mismatch"}}
    with pytest.raises(EnvelopeError):
        verify(altered, agent.public)


def test_keys_are_made_once_in_the_state_folder(tmp_path):
    keys = AgentKeys.load_or_create(tmp_path / "state")
    again = AgentKeys.load_or_create(tmp_path / "state")
    assert keys.public == again.public
    assert oct((tmp_path / "state" / AgentKeys.FILE).stat().st_mode & 0o777) == "0o600"
    assert len(keys.public.fingerprint) == 64
