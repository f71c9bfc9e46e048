#!/bin/sh
# meson install script: put the sample configuration in place unless the
# admin already has one (an edited parasol.conf is never overwritten).
#   install-conf.sh SAMPLE DIR
set -eu
dir="${DESTDIR:-}$2"
mkdir -p "$dir"
if [ ! -e "$dir/parasol.conf" ]; then
	install -m 0644 "$1" "$dir/parasol.conf"
	echo "Installing $dir/parasol.conf"
else
	echo "Keeping $dir/parasol.conf"
fi
