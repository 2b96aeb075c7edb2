#!/usr/bin/env python3
"""A moltbot `command` agent in a few lines: one JSON request on stdin, the answer on stdout."""
import json
import sys

request = json.load(sys.stdin)
sender = request.get("sender") or {}
# displayName and email may be null (a failed name lookup, another channel): fall back.
name = sender.get("displayName") or sender.get("email") or "there"
turn = len(request.get("history") or []) // 2 + 1
print(json.dumps({"text": f"Hi {name}, you said: {request.get('text', '')} (turn {turn})"}))
