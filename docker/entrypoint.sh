#!/bin/sh
# The container's entrypoint: parasold, and parasol-update on a schedule.
#
#   parasol-entrypoint [--KEY=VALUE ...]     (arguments go to parasold)
#
# Environment:
#   PARASOL_CONFIG    config file of both programs, if it exists
#                     (default /etc/parasol/parasol.conf)
#   UPDATE_DELAY      seconds after start before the first feed update (30)
#   UPDATE_INTERVAL   seconds between feed updates (86400; 0: never update)
#   UPDATE_TIMEOUT    seconds one parasol-update run may take (900)
#   PARASOLD, PARASOL_UPDATE  the programs (found on PATH by default)
#
# SIGTERM and SIGINT (docker stop) stop the updater and parasold, which
# answers the queries in flight; SIGHUP is passed on to parasold (reload).
# The container ends with parasold's exit status, so a restart policy sees
# a crash.
set -u

say() { echo "parasol-entrypoint: $*" >&2; }

conf="${PARASOL_CONFIG-/etc/parasol/parasol.conf}"
delay="${UPDATE_DELAY:-30}"
interval="${UPDATE_INTERVAL:-86400}"
limit="${UPDATE_TIMEOUT:-900}"
parasold="${PARASOLD:-parasold}"
updater="${PARASOL_UPDATE:-parasol-update}"
for v in "UPDATE_DELAY=$delay" "UPDATE_INTERVAL=$interval" \
    "UPDATE_TIMEOUT=$limit"; do
	case "${v#*=}" in
	'' | *[!0-9]*) say "${v%%=*} must be a number of seconds, not '${v#*=}'"
		exit 64 ;;
	esac
done
if [ -n "$conf" ] && [ ! -e "$conf" ]; then
	say "$conf does not exist: defaults and the command line only"
	conf=""
fi
export PARASOL_CONFIG="$conf"

# The updater loop: this script again, in a session and process group of
# its own (setsid), so that waiting on it never keeps the entrypoint from
# seeing parasold exit, and one signal to the group ends the loop with its
# sleep or its run, whatever it was doing. Each run is bounded by
# UPDATE_TIMEOUT.
updates() {
	trap 'exit 0' TERM INT
	trap '' HUP
	sleep "$delay"
	while :; do
		# --foreground: stay in this group, where the stop signal goes.
		timeout --foreground "$limit" "$updater" --quiet
		rc=$?
		case $rc in
		0) say "feeds updated" ;;
		1) say "some feeds failed (parasol-update exit 1); the others were applied" ;;
		124) say "parasol-update took longer than ${limit}s; stopped" ;;
		*) say "parasol-update failed with exit status $rc" ;;
		esac
		sleep "$interval"
	done
}
if [ "${PARASOL_ENTRYPOINT_LOOP:-}" = 1 ]; then
	updates
fi

daemon=""
loop=""
stop() {
	say "stopping"
	[ -n "$loop" ] && kill -s TERM -- "-$loop" 2>/dev/null
	[ -n "$daemon" ] && kill -s TERM "$daemon" 2>/dev/null
}
trap stop TERM INT
trap '[ -n "$daemon" ] && kill -HUP "$daemon" 2>/dev/null' HUP

"$parasold" "$@" &
daemon=$!
if [ "$interval" -gt 0 ]; then
	PARASOL_ENTRYPOINT_LOOP=1 setsid sh "$0" &
	loop=$!
else
	say "UPDATE_INTERVAL=0: feeds are not updated"
fi

# wait returns early when a trapped signal arrives; go on waiting while
# parasold runs.
while :; do
	wait "$daemon"
	rc=$?
	kill -0 "$daemon" 2>/dev/null || break
done
if [ -n "$loop" ]; then
	kill -s TERM -- "-$loop" 2>/dev/null
	wait "$loop"
fi
say "parasold exited with status $rc"
exit "$rc"
