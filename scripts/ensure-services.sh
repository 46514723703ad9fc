#!/usr/bin/env bash
# Make sure the real parts the tests talk to exist: HAProxy installed, PostgreSQL answering
# on 127.0.0.1:5432, tmux for the end-to-end tests. Safe to run again and again.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }
apt_updated=0
apt_install() {
  if [ $apt_updated = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v haproxy >/dev/null 2>&1 || PATH="$PATH:/usr/sbin"
if ! command -v haproxy >/dev/null 2>&1; then
  echo "ensure-services: installing haproxy"
  apt_install haproxy
fi
if ! command -v tmux >/dev/null 2>&1; then
  echo "ensure-services: installing tmux"
  apt_install tmux
fi

pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if ! pg_up; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "ensure-services: installing postgresql"
    apt_install postgresql postgresql-client
  fi
  version=$(ls /etc/postgresql | sort -n | tail -1)
  echo "ensure-services: starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || as_root pg_ctlcluster "$version" main start
  for _ in $(seq 1 30); do pg_up && break; sleep 0.5; done
  # A fresh Debian cluster answers loopback with scram: give root a role and trust on loopback.
  as_root runuser -u postgres -- psql -qc "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$(id -un)') THEN CREATE ROLE \"$(id -un)\" SUPERUSER LOGIN; END IF; END\$\$" || true
fi
if ! pg_up; then
  echo "ensure-services: PostgreSQL does not answer on 127.0.0.1:5432" >&2
  exit 1
fi
command -v pg_dump >/dev/null || apt_install postgresql-client
echo "ensure-services: haproxy $(haproxy -v 2>/dev/null | head -1 | awk '{print $3}'), PostgreSQL on 127.0.0.1:5432"
