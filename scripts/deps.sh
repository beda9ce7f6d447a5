#!/usr/bin/env bash
# Installs the system packages drillbook's tests use when they are missing:
# tmux (the end-to-end screen test), rabbitmq-server (the real-broker
# drill), chromium (the HTML report rendered in a real browser), man-db,
# bash-completion and fish (make install's test reads the man page and
# completes through both shells), and openssh-server and openssh-client
# (the remote-host tests start a private sshd on a loopback port; the
# system service is never started). It installs only when it can (root
# with apt-get) and otherwise says how; the tests then fail with the same
# advice rather than pass silently.
set -u
need=()
command -v tmux >/dev/null 2>&1 || need+=(tmux)
if ! command -v rabbitmq-server >/dev/null 2>&1 && [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
  need+=(rabbitmq-server)
fi
command -v python3 >/dev/null 2>&1 || need+=(python3)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
{ command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1; } || need+=(openssh-client)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || need+=(chromium)
# make install's test renders a man page and completes through bash-completion and fish.
command -v man >/dev/null 2>&1 || need+=(man-db)
[ -f /usr/share/bash-completion/bash_completion ] || need+=(bash-completion)
command -v fish >/dev/null 2>&1 || need+=(fish)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "drillbook tests need: ${need[*]}; install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 0
fi
echo "installing ${need[*]} for the tests" >&2
# Keep the Debian services from starting on install (a broker, an sshd on
# port 22): the tests start private ones on their own ports.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && made_policy=1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 || \
  echo "could not install ${need[*]}: the tests that need them will say so" >&2
[ $made_policy = 1 ] && rm -f "$policy"
# If a service was started anyway, stop it: it would hold epmd's port.
if command -v rabbitmqctl >/dev/null 2>&1; then
  (service rabbitmq-server stop || true) >/dev/null 2>&1
fi
if [[ " ${need[*]} " == *" openssh-server "* ]]; then
  (service ssh stop || true) >/dev/null 2>&1
fi
exit 0
