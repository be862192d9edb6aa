#!/usr/bin/env bash
# Prints, in hex, the digest identityd finds an API key by: HMAC-SHA256 under the pepper (the
# pepper file's bytes less trailing whitespace, which the bench's hex pepper has none of)
# over "apikey:" and the key (include/identityd/cred/digest.h). scripts/bench gives it to
# the peer; tests/bench/check_bench.sh checks it against the digest identityctl stored.
#   digest.sh PEPPER_FILE KEY
set -euo pipefail
printf 'apikey:%s' "$2" | openssl dgst -sha256 -mac HMAC -macopt "key:$(cat "$1")" -r | cut -d' ' -f1
