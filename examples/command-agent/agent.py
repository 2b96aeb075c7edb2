#!/usr/bin/env python3
"""A moltbot `command` agent in a few lines: one JSON request on stdin, the answer on stdout."""
import json
import sys

request = json.load(sys.stdin)
name = request["sender"]["displayName"] or request["sender"]["email"]
turns = len(request["history"]) // 2
print(json.dumps({"text": f"Hi {name}, you said: {request['text']} (turn {turns + 1})"}))
