#!/usr/bin/env python3
"""Checks that the peer answers as identityd does (scripts/bench, before measuring it): the
same envelope members, the same token header members, and the same claims in the same
order with the same values, but for those that differ per token (jti, iat, exp).

    same_answer.py IDENTITYD_ANSWER PEER_ANSWER PEER_ORIGIN IDENTITYD_ORIGIN

The answers are files holding the response bodies; the peer listens on another port, so
its origin is read as identityd's wherever it appears (tenant_url, iss, aud, links).
"""
import base64
import json
import sys


def load(path, origin=None, instead=None):
    with open(path, encoding="utf-8") as f:
        envelope = json.load(f)
    header, claims, _ = envelope["response"].split(".")

    def part(p):
        text = base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)).decode("utf-8")
        return json.loads(text.replace(origin, instead) if origin else text)

    if origin:
        envelope = json.loads(json.dumps(envelope).replace(origin, instead))
    return envelope, part(header), part(claims)


def main():
    ours, theirs = load(sys.argv[1]), load(sys.argv[2], sys.argv[3], sys.argv[4])
    problems = []
    strip = lambda e: {k: v for k, v in e.items() if k != "response"}
    if list(ours[0]) != list(theirs[0]) or strip(ours[0]) != strip(theirs[0]):
        problems.append(f"envelope {strip(ours[0])} vs {strip(theirs[0])}")
    if list(ours[1].items()) != list(theirs[1].items()):
        problems.append(f"token header {ours[1]} vs {theirs[1]}")
    if list(ours[2]) != list(theirs[2]):
        problems.append(f"claims {list(ours[2])} vs {list(theirs[2])}")
    for k, v in ours[2].items():
        if k not in ("jti", "iat", "exp") and theirs[2].get(k) != v:
            problems.append(f"claim {k}: {v!r} vs {theirs[2].get(k)!r}")
    if problems:
        sys.exit("the peer answers otherwise than identityd: " + "; ".join(problems))


if __name__ == "__main__":
    main()
