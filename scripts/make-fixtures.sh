#!/bin/sh
# Regenerates the test fixtures under test/fixtures/. They are committed: run this only to change them
# (the tests compare against the committed files, not against a fresh run of this script).
#
#   test/fixtures/media/sample.ts   a real MPEG-TS file, 3 s of test pattern + tone (needs ffmpeg)
#   test/fixtures/vonage/           an archive in Vonage's format made ONLY with the openssl command
#                                   line, following Vonage's own recipe (docs/ARCHITECTURE.md §2.1):
#     key.pem        encrypted private key (passphrase in test/fixtures/vonage/README.md)
#     cert.pem       the self-signed certificate one would register with Vonage
#     password.txt   base64( RSA-OAEP-SHA-1( 01 01 01 | key[32] | iv[16] ) ), as Vonage returns it
#     archive.mp4    AES-256-CBC (PKCS#7) of media/sample.ts with that key and iv
#     archive.json   a Vonage REST archive object carrying password, size and sha256sum
#
# Usage: sh scripts/make-fixtures.sh [--new-key]   (run from the repository root)
#   --new-key  also replaces key.pem/cert.pem (otherwise the committed key is reused)
set -eu

media=test/fixtures/media
vonage=test/fixtures/vonage
passphrase='fixture-passphrase'   # stated in $vonage/README.md; a test key, never for real archives
mkdir -p "$media" "$vonage"

# 1. The media: a few seconds of H.264 + AAC in MPEG-TS, like a Vonage composed archive, ≤ 300 KB.
ffmpeg -loglevel error -y \
  -f lavfi -i testsrc=size=160x120:rate=15 -f lavfi -i sine=frequency=440 -t 3 \
  -c:v libx264 -preset ultrafast -c:a aac -b:a 32k -f mpegts "$media/sample.ts"

# 2. The key pair, exactly as in Vonage's guide (plus a passphrase given non-interactively and a long
#    validity so the fixture does not expire).
if [ "${1:-}" = "--new-key" ] || [ ! -f "$vonage/key.pem" ]; then
  PASS="$passphrase" openssl req -new -x509 -days 36500 -newkey rsa:2048 \
    -subj "/CN=archive-crypt test fixture" -passout env:PASS \
    -out "$vonage/cert.pem" -keyout "$vonage/key.pem" 2>/dev/null
fi
chmod 600 "$vonage/key.pem"

# 3. What Vonage does per archive: a fresh AES-256 key and IV, the 51-byte blob
#    version=1 | alg=1 (AES-256) | mode=1 (CBC) | key | iv, wrapped with RSA-OAEP (SHA-1, the default).
key=$(openssl rand -hex 32)
iv=$(openssl rand -hex 16)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
openssl x509 -in "$vonage/cert.pem" -pubkey -noout > "$work/pub.pem"
printf '010101%s%s' "$key" "$iv" | xxd -r -p > "$work/blob.bin"
openssl pkeyutl -encrypt -pubin -inkey "$work/pub.pem" -pkeyopt rsa_padding_mode:oaep \
  -in "$work/blob.bin" -out "$work/wrapped.bin"
openssl base64 -A -in "$work/wrapped.bin" > "$vonage/password.txt"

# 4. The archive body: AES-256-CBC with PKCS#7 padding (openssl enc's default).
openssl enc -aes-256-cbc -K "$key" -iv "$iv" -in "$media/sample.ts" -out "$vonage/archive.mp4"

# 5. The REST archive JSON (GET /v2/project/<apiKey>/archive/<id>); sha256sum here covers the
#    encrypted object (what it covers at Vonage is undocumented; decrypt checks both).
size=$(wc -c < "$vonage/archive.mp4" | tr -d ' ')
sha256=$(openssl dgst -sha256 -binary "$vonage/archive.mp4" | openssl base64 -A)
password=$(cat "$vonage/password.txt")
cat > "$vonage/archive.json" <<JSON
{
  "createdAt": 1767225600000,
  "duration": 3,
  "hasAudio": true,
  "hasVideo": true,
  "id": "b40ef09b-3811-4726-b508-e41a0f96c68f",
  "name": "archive-crypt fixture",
  "outputMode": "composed",
  "projectId": 123456,
  "reason": "",
  "resolution": "640x480",
  "sessionId": "2_MX4xMjM0NTZ-fjE3NjcyMjU2MDAwMDB-fixture-fn4",
  "size": $size,
  "status": "uploaded",
  "streamMode": "auto",
  "url": null,
  "password": "$password",
  "sha256sum": "$sha256"
}
JSON
echo "fixtures written: $(wc -c < "$media/sample.ts") bytes of MPEG-TS, archive $size bytes"
