#!/usr/bin/env bash
# Installs the programs the tests talk to (SIPp, Kamailio, baresip, tcpdump,
# tshark, sox, espeak-ng, ip, iptables) and those the client libraries' and
# the docs' samples run with (python3, node, curl, jq, openssl) from Debian's
# packages, only when one is missing. With --bench it adds rtpengine for the media benchmarks.
# Runs apt-get as root, or through sudo.
set -euo pipefail

declare -A pkg=(
	[sipp]=sip-tester
	[kamailio]=kamailio
	[baresip]=baresip-core
	[tcpdump]=tcpdump
	[tshark]=tshark
	[sox]=sox
	[espeak-ng]=espeak-ng
	[ip]=iproute2
	[iptables]=iptables
	[python3]=python3
	[node]=nodejs
	[curl]=curl
	[jq]=jq
	[openssl]=openssl
)
bins=(sipp kamailio baresip tcpdump tshark sox espeak-ng ip iptables python3 node curl jq openssl)
if [[ "${1:-}" == "--bench" ]]; then
	pkg[rtpengine]=rtpengine-daemon
	bins+=(rtpengine)
fi

have() {
	command -v "$1" >/dev/null 2>&1 || [[ -x "/usr/sbin/$1" || -x "/sbin/$1" ]]
}

missing=()
for b in "${bins[@]}"; do
	have "$b" || missing+=("${pkg[$b]}")
done
if ((${#missing[@]} == 0)); then
	echo "install-peers: all test peers present"
	exit 0
fi
echo "install-peers: installing ${missing[*]}"

sudo=()
if ((EUID != 0)); then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "install-peers: not root and no sudo: install ${missing[*]} yourself" >&2
		exit 1
	fi
	sudo=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer it in advance so
# the install never waits for a terminal.
echo "wireshark-common wireshark-common/install-setuid boolean false" |
	"${sudo[@]}" debconf-set-selections
# A fresh machine starts with empty package lists.
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
	"${missing[@]}" </dev/null

for b in "${bins[@]}"; do
	have "$b" || { echo "install-peers: $b still missing after install" >&2; exit 1; }
done
echo "install-peers: done"
