#!/bin/sh
# Make sure the system Chromium the browser tests drive is there (`make test` calls this).
# As root with apt-get: install the Debian `chromium` package when it is missing.
# Otherwise: say how to get it and exit 0 (the browser tests then skip, unless CI=true).
set -eu

if [ -n "${ACTIONTRACE_CHROMIUM:-}" ] && [ -x "${ACTIONTRACE_CHROMIUM}" ]; then
    exit 0
fi
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure_browser: installing the Debian chromium package for the browser tests" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2
    exit 0
fi
echo "ensure_browser: no system Chromium; the browser tests will be skipped." >&2
echo "ensure_browser: to run them: sudo apt-get install chromium (or set ACTIONTRACE_CHROMIUM)" >&2
exit 0
