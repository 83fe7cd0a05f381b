#!/usr/bin/env bash
# Runs the OCI runtime-tools validation suite against one or more runtimes,
# one test at a time (several tests share fixed cgroup paths). The suite is
# fetched through the Go module proxy and built outside the repository.
#
#   hack/runtime-tools.sh [RUNTIME ...]     default: tirith-runc (built here) and runc
#
# The suite calls the runtime with runc's grammar, so Tirith is called as
# tirith-runc (a symlink to the binary), as containerd and podman call it.
#
# Results: $WORK/results/<runtime>/<test>.{out,err} and SUMMARY.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-/tmp/tirith-runtime-tools}
VERSION=${VERSION:-v0.9.1-0.20251114084447-edf4cb3d2116}
mkdir -p "$WORK"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

if [ ! -x "$WORK/runtime-tools/validation/create/create.t" ]; then
	dir=$(go mod download -json "github.com/opencontainers/runtime-tools@$VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
	rm -rf "$WORK/runtime-tools"
	cp -r "$dir" "$WORK/runtime-tools"
	chmod -R u+w "$WORK/runtime-tools"
	(cd "$WORK/runtime-tools" && rm -rf vendor && make runtimetest validation-executables tool >/dev/null)
fi
go build -tags netgo,osusergo -o "$WORK/tirith" ./cmd/tirith
ln -sfn tirith "$WORK/tirith-runc"

runtimes=("$@")
[ ${#runtimes[@]} -eq 0 ] && runtimes=("$WORK/tirith-runc" "$(command -v runc)")
for rt in "${runtimes[@]}"; do
	out="$WORK/results/$(basename "$rt")"
	rm -rf "$out" && mkdir -p "$out"
	pass=0 fail=0
	for t in $(cd "$WORK/runtime-tools" && ls validation/*/*.t | xargs -n1 dirname | xargs -n1 basename); do
		rc=0
		(cd "$WORK/runtime-tools" && RUNTIME=$rt timeout -k 5 60 "./validation/$t/$t.t") >"$out/$t.out" 2>"$out/$t.err" || rc=$?
		if [ $rc -eq 0 ] && ! grep -q '^not ok' "$out/$t.out" && { grep -qE '^1\.\.' "$out/$t.out" || [[ $t == *_fail ]]; }; then
			echo "$t pass" >>"$out/SUMMARY"; pass=$((pass + 1))
		else
			echo "$t FAIL rc=$rc" >>"$out/SUMMARY"; fail=$((fail + 1))
		fi
	done
	echo "$(basename "$rt"): $pass passed, $fail failed"
done
