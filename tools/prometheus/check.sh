#!/usr/bin/env bash
# Checks the Prometheus configuration enlight ships before anyone starts a
# Prometheus with it: both files parse and refer to what exists, and the
# recording rules compute the rates they claim (enlight-rules.test.yml).
# A ctest (prometheus_config_check); also runnable by hand from anywhere.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# A missing promtool must fail, not skip: the shipped files would go unchecked.
if ! command -v promtool >/dev/null 2>&1; then
  echo "check.sh: promtool not found in PATH; install it (Debian: apt-get install prometheus)" >&2
  exit 1
fi

promtool check config "$here/prometheus.yml"
promtool check rules "$here/enlight-rules.yml"
promtool test rules "$here/enlight-rules.test.yml"
echo "check.sh: the Prometheus configuration in $here is valid and its rules pass their test"
