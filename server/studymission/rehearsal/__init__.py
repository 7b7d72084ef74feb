"""Rehearsals: simulated participants on real WebSockets, on an event clock of any scale.

``plan`` says what a participant does, in event minutes; ``timeline`` maps event time to
the client's clock; ``bots`` runs the clients (also the realtime benchmark's load
generator); ``rehearse`` serves an event and runs a whole session with them.
"""
