#!/usr/bin/env bash
# Regenerates the audio fixtures in this folder: 8 kHz mono 16-bit PCM WAVs.
# Needs espeak-ng and sox (Debian packages espeak-ng, sox). The output
# depends on their versions, so regenerate only when a prompt changes.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# speak NAME TEXT: a spoken prompt, normalised to -3 dBFS, with 200 ms of
# silence before and after so it does not start or end abruptly.
speak() {
	espeak-ng -v en-us -s 150 -w "$tmp/$1.raw.wav" "$2"
	sox "$tmp/$1.raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$1.wav" \
		norm -3 pad 0.2 0.2
}

speak whisper "You have a callback. Press 1 to accept."
speak customer-unreachable "The customer could not be reached."
speak connecting "Please hold while we connect your call."

# Test tones: 1 s of 1 kHz (level and codec checks) and a 2 s sweep of
# 400, 600, 800 and 1000 Hz, 500 ms each (recognisable in a recording).
sox -n -r 8000 -c 1 -b 16 -e signed-integer tone-1k.wav synth 1 sine 1000 vol 0.5
for f in 400 600 800 1000; do
	sox -n -r 8000 -c 1 -b 16 -e signed-integer "$tmp/s$f.wav" synth 0.5 sine "$f" vol 0.5
done
sox "$tmp/s400.wav" "$tmp/s600.wav" "$tmp/s800.wav" "$tmp/s1000.wav" tone-steps.wav

# The same whisper as G.711 mu-law and A-law WAVs (formats 7 and 6), for
# loaders that take G.711 files.
sox whisper.wav -e u-law -b 8 whisper-ulaw.wav
sox whisper.wav -e a-law -b 8 whisper-alaw.wav

for f in *.wav; do
	printf '%-28s %s\n' "$f" "$(soxi -d "$f")"
done
