#!/usr/bin/env bash
# Usage: tests/bench/snapshot.sh REPO ESTATE OUT
#
# What an estate does to empty services, as files two versions of ispctl can be compared by:
# starts a fresh sandbox with REPO's own CLI (REPO/.venv) in a temp dir, plans ESTATE against
# it (JSON), applies it, and writes to OUT the plan's changes and groups, the directory
# (ldapsearch, entries and values sorted), the zones (AXFR of every zone in the catalog), the
# mail store (find) and the apply output. Only the CLI and stock tools are used, so it runs
# against any version: run it for two checkouts and `diff -r` the outputs (README of
# tests/bench). The mail root is fixed, so that paths compare: run one at a time.
set -euo pipefail
repo=$(realpath "$1"); estate=$(realpath "$2"); out=$(realpath -m "$3")
mkdir -p "$out"
work=$(mktemp -d /tmp/snap.XXXXXX)
ispctl="$repo/.venv/bin/ispctl"
cd "$work"
cp -r "$estate" "$work/estate"
"$ispctl" sandbox up --root "$work/sb" >/dev/null
trap '"$ispctl" sandbox down --root "$work/sb" --purge >/dev/null 2>&1 || true; rm -rf "$work" /var/tmp/ispctl-behaviour-vmail' EXIT
eval "$("$ispctl" sandbox env --root "$work/sb")"
export ISPCTL_MAIL_ROOT=/var/tmp/ispctl-behaviour-vmail; rm -rf "$ISPCTL_MAIL_ROOT"
export ISPCTL_DESIRED_STATE="$work/estate" ISPCTL_AUDIT_LOG="$work/audit.jsonl" NO_COLOR=1
"$ispctl" plan --json > "$work/plan.json"
python3 - "$work/plan.json" > "$out/plan-changes.json" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
print(json.dumps({"changes": plan["changes"], "summary": plan["summary"], "drift": plan["drift"],
                  "groups": plan["meta"].get("groups")}, indent=1, sort_keys=True))
PY
"$ispctl" apply --auto-approve > "$work/apply.log" 2>&1 || { cat "$work/apply.log"; exit 1; }
"$ispctl" plan --detailed-exitcode > /dev/null
pw=$(mktemp); printf %s "$ISPCTL_LDAP_PASSWORD" > "$pw"
ldapsearch -LLL -o ldif-wrap=no -x -H "$ISPCTL_LDAP_URL" -D "$ISPCTL_LDAP_BIND_DN" -y "$pw" -b dc=example,dc=net '(objectClass=*)' \
  | python3 -c '
import sys
recs=[r for r in sys.stdin.read().split("\n\n") if r.strip()]
print("\n\n".join(sorted("\n".join(sorted(r.splitlines()[1:], key=str)).join([r.splitlines()[0]+"\n",""]) for r in recs)))' > "$out/ldap.ldif"
rm -f "$pw"
: > "$out/zones.txt"
if [ -n "${ISPCTL_DNS_SERVER:-}" ]; then
  host=${ISPCTL_DNS_SERVER%:*}; port=${ISPCTL_DNS_SERVER##*:}
  zones=$(dig +noall +answer -p "$port" @"$host" -k "$ISPCTL_DNS_TSIG_FILE" "$ISPCTL_DNS_CATALOG" AXFR | awk '$4=="PTR"{print $5}' | sort)
  for z in $zones; do
    dig +noall +answer +nottlid -p "$port" @"$host" -k "$ISPCTL_DNS_TSIG_FILE" "$z" AXFR | grep -v 'SOA' | sort >> "$out/zones.txt" || true
  done
fi
(cd "$ISPCTL_MAIL_ROOT" && find . -printf '%p %m %U:%G %y\n' | sort) > "$out/mailstore.txt"
sort -k1 "$work/apply.log" | sed 's/[0-9.]* s//' > "$out/apply.log"
echo "snapshot in $out"
