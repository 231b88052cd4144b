#!/usr/bin/env bash
# Makes what the TLS tests need in DIR: a CA (ca.pem), a server certificate it signed for
# localhost and 127.0.0.1 (server.pem, server.key), and an unrelated CA (wrong-ca.pem).
# Usage: scripts/tls-certs.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
ossl() { openssl "$@" >/dev/null 2>&1; }
for ca in ca wrong-ca; do
  ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=fastmcp test $ca" \
    -keyout "$ca.key" -out "$ca.pem"
done
ossl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
ossl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
  -extfile server.ext -out server.pem
chmod 600 server.key
