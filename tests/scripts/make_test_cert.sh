#!/bin/sh
# Makes a test certificate authority (once per folder) and a server certificate it signs,
# for 127.0.0.1, ::1 and localhost: DIR/ca.pem, DIR/NAME.pem and DIR/NAME.key (mode 0600).
# Usage: make_test_cert.sh DIR NAME [COMMON_NAME]. P-256 keys, so that it runs fast.
set -eu
dir=$1
name=$2
cn=${3:-$name}
umask 077
cd "$dir"
if [ ! -f ca.pem ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
        -out ca.pem -days 2 -subj "/CN=identityd test CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$name.key" \
    -out "$name.csr" -subj "/CN=$cn" 2>/dev/null
printf '%s\n' "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost" \
    "basicConstraints=critical,CA:FALSE" "extendedKeyUsage=serverAuth" >"$name.ext"
openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile "$name.ext" -out "$name.pem" 2>/dev/null
rm -f "$name.csr" "$name.ext"
chmod 0644 ca.pem "$name.pem"
chmod 0600 "$name.key"
