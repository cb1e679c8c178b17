#!/usr/bin/env bash
# Makes an RSA 2048 key pair, its JWKS and one RS256 token (issuer "bench", sub "bench-user", valid
# for a day, about 560 bytes, like a typical access token) in DIR with the openssl command line, and
# prints the token:
#   scripts/bench-jwt-token.sh DIR      # DIR/jwks.json, DIR/key.pem
# For BENCH_JWT=1 in scripts/bench-callgrind.sh: wrk sends the same token on every request, so
# the proxy verifies it once per worker and then finds it in its cache.
#
# Fresh verifications (a new token per request) are measured at the unit level instead, under
# callgrind, counting only the verification:
#   valgrind --tool=callgrind --toggle-collect='*verifyToken*' build/unit_tests \
#     --gtest_also_run_disabled_tests --gtest_filter='JwtVerifyCost.DISABLED_*'
# then divide the total by the verifications the test prints (it also prints how many it makes
# per second without callgrind).
set -euo pipefail
dir=${1:?usage: bench-jwt-token.sh DIR}
mkdir -p "$dir"
b64url() { basenc --base64url -w0 | tr -d '='; }
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/key.pem" 2>/dev/null
n=$(openssl rsa -in "$dir/key.pem" -noout -modulus | sed 's/^Modulus=//' |
  perl -ne 'chomp; print pack("H*", $_)' | b64url)
printf '{"keys":[{"kty":"RSA","kid":"bench","use":"sig","n":"%s","e":"AQAB"}]}\n' "$n" \
  >"$dir/jwks.json"
exp=$(($(date +%s) + 86400))
header=$(printf '{"alg":"RS256","kid":"bench","typ":"JWT"}' | b64url)
payload=$(printf '{"iss":"bench","sub":"bench-user","aud":"bench-api","iat":%d,"exp":%d,"scope":"orders:read orders:write profile"}' \
  "$((exp - 86400))" "$exp" | b64url)
printf '%s.%s' "$header" "$payload" >"$dir/input"
sig=$(openssl dgst -sha256 -sign "$dir/key.pem" "$dir/input" | b64url)
printf '%s.%s.%s\n' "$header" "$payload" "$sig"
