#!/usr/bin/env sh
# System packages some tests need: espeak-ng (the speech tests) and Debian's chromium (the `genzoo serve`
# browser test). Installed with apt where this runs as root; otherwise say plainly which tests will skip.
missing=""
command -v espeak-ng >/dev/null 2>&1 || missing="$missing espeak-ng"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "make: installing$missing with apt-get"
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null; } \
    || echo "make: could not install$missing with apt-get: their tests will skip (reasons in the summary)"
else
  echo "make: cannot install$missing (needs root and apt-get): the speech and/or browser tests will skip"
fi
exit 0
