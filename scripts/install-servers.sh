#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (real etcd, ZooKeeper, PostgreSQL 15 and
# PgBouncer, Redis 7 and Redis Sentinel, Curator for the interop peer, systemd-analyze for the unit file check,
# promtool from prometheus for the metrics format and the alert rules, chromium for the status page
# test). Idempotent: does nothing when all are present.
set -euo pipefail
need=()
[ -x /usr/bin/etcd ] || need+=(etcd-server)
[ -x /usr/bin/etcdctl ] || need+=(etcd-client)
[ -f /usr/share/java/zookeeper.jar ] || need+=(zookeeper)
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql)
[ -x /usr/sbin/pgbouncer ] || need+=(pgbouncer)
[ -x /usr/bin/redis-server ] || need+=(redis-server)
[ -x /usr/bin/redis-sentinel ] || need+=(redis-sentinel)
[ -f /usr/share/java/curator-recipes.jar ] || need+=(libcurator-recipes-java)
command -v javac >/dev/null || need+=(default-jdk-headless)
command -v systemd-analyze >/dev/null || need+=(systemd)
[ -x /usr/bin/promtool ] || need+=(prometheus)
[ -f /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || need+=(faketime)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "install-servers: installing ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's packages may start system services of their own; the tests start private servers on
# other ports, so stop any that came up to keep the machine quiet.
pkill -f 'etcd --data-dir /var/lib/etcd' 2>/dev/null || true
pkill -x prometheus 2>/dev/null || true
# Debian's postgresql creates and starts a system cluster on port 5432.
if command -v pg_ctlcluster >/dev/null; then pg_ctlcluster 15 main stop 2>/dev/null || true; fi
# Debian's pgbouncer starts a system instance on port 6432.
pkill -f '^/usr/sbin/pgbouncer -d /etc/pgbouncer/pgbouncer.ini' 2>/dev/null || true
# Debian's redis-server starts a system service on port 6379.
if command -v systemctl >/dev/null; then systemctl stop redis-server 2>/dev/null || true; fi
if command -v service >/dev/null; then service redis-server stop >/dev/null 2>&1 || true; fi
echo "install-servers: etcd $(etcd --version | head -1 | awk '{print $3}'), zookeeper $(ls /usr/share/java/zookeeper-3*.jar 2>/dev/null | head -1 | xargs -r basename), postgresql $(/usr/lib/postgresql/15/bin/postgres --version | awk '{print $3}'), redis $(/usr/bin/redis-server --version | awk '{print $3}' | cut -d= -f2)"
