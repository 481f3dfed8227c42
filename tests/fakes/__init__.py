"""Test doubles: in-memory fakes of the ports and loopback fake servers."""
