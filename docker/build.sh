#!/bin/sh
# Install the Debian 12 packages Parasol needs and build it into build/.
# The one script behind the README's Quick start, the test suite, CI and
# the container image, so they cannot drift apart.
#
#   docker/build.sh           runtime + build packages, then build
#   docker/build.sh --test    also the packages the test suite uses
#   docker/build.sh --bench   also the packages the benchmark uses
#   docker/build.sh --print-runtime-packages
#                             print what the built programs need to run
#                             (the container's runtime stage installs these)
set -eu
cd "$(dirname "$0")/.."

# The shared libraries of the -dev packages below, the Public Suffix List
# parasol-update reads, and the CA certificates feeds are fetched with.
runtime="libldns3 libuv1 libsodium23 libsqlite3-0 libcurl4 libidn2-0
libjansson4 libpsl5 libmicrohttpd12 publicsuffix ca-certificates"
pkgs="build-essential meson ninja-build pkg-config libldns-dev libuv1-dev
libsodium-dev libsqlite3-dev libcurl4-openssl-dev libidn2-dev libjansson-dev
libpsl-dev publicsuffix libmicrohttpd-dev scdoc adduser"
for arg in "$@"; do
	case "$arg" in
	--print-runtime-packages)
		printf '%s\n' $runtime
		exit 0 ;;
	--test) pkgs="$pkgs libcmocka-dev ldnsutils knot-dnsutils bind9-dnsutils
python3-dnspython python3-pytest nginx-light openssl minisign dnsdist curl
nsd dnsmasq-base isc-dhcp-client iproute2 systemd man-db bash-completion
python3-yaml clang-14 libclang-rt-14-dev" ;;
	--bench) pkgs="$pkgs dnsperf unbound dnsmasq-base nsd python3-dnspython time" ;;
	*) echo "usage: docker/build.sh [--test] [--bench] [--print-runtime-packages]" >&2
	   exit 2 ;;
	esac
done

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	    grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "docker/build.sh: missing packages:$missing (run as root)" >&2
		exit 1
	fi
	echo "docker/build.sh: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# Keep packaged daemons (unbound, nsd) from starting on their own.
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d.parasol
	chmod +x /usr/sbin/policy-rc.d.parasol
	[ -e /usr/sbin/policy-rc.d ] || ln -s policy-rc.d.parasol /usr/sbin/policy-rc.d
	apt-get install -y -q --no-install-recommends $missing
	[ -L /usr/sbin/policy-rc.d ] && rm -f /usr/sbin/policy-rc.d
	rm -f /usr/sbin/policy-rc.d.parasol
fi

if [ -f build/build.ninja ]; then
	meson setup --reconfigure build >/dev/null
else
	meson setup build
fi
ninja -C build
